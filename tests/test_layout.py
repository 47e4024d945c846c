"""The package's shape: the library never imports the study, and the
``catunet`` command installs and answers."""

import ast
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

LIBRARY = [p for p in (ROOT / "catunet").rglob("*.py")
           if "study" not in p.relative_to(ROOT / "catunet").parts]


def imported_modules(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


@pytest.mark.parametrize("path", LIBRARY,
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_library_never_imports_the_study(path):
    assert not [m for m in imported_modules(path)
                if m.startswith("catunet.study")]


def test_catunet_help_lists_every_command():
    result = subprocess.run([sys.executable, "-m", "catunet.cli", "--help"],
                            cwd=ROOT, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    for command in ("train", "evaluate", "predict", "export", "serve",
                    "report", "bench"):
        assert command in result.stdout


ENV = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}


def test_startup_logs_are_hidden_unless_verbose():
    def stderr(*flags):
        return subprocess.run(
            [sys.executable, "-m", "catunet.cli", "evaluate", "--model",
             "missing.keras", *flags], cwd=ROOT, capture_output=True,
            text=True, timeout=120, env=ENV).stderr

    quiet = stderr()
    assert quiet.strip() == "error: missing.keras: model file not found"
    assert len(stderr("--verbose")) >= len(quiet)


CONSOLE_SCRIPT = os.path.join(os.path.dirname(sys.executable), "catunet")


@pytest.mark.skipif(not os.path.exists(CONSOLE_SCRIPT),
                    reason="catunet is not pip-installed in this environment "
                    "(.ci/run installs it)")
def test_installed_console_script_runs():
    result = subprocess.run([CONSOLE_SCRIPT, "train", "--help"], cwd="/",
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "--image-size" in result.stdout


def module_name(path):
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph():
    """``{module: modules of the package it imports}``, every import
    counted, those inside functions too (a lazy import still ties two
    modules together)."""
    paths = {module_name(p): p for p in (ROOT / "catunet").rglob("*.py")}
    graph = {}
    for name, path in paths.items():
        package = name if path.name == "__init__.py" else \
            name.rpartition(".")[0]
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = ".".join(package.split(".")[:len(package.split("."))
                                                   - node.level + 1])
                module = f"{base}.{node.module}" if node.module else base
                targets = [module] + [f"{module}.{a.name}"
                                      for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                targets = [node.module] + [f"{node.module}.{a.name}"
                                           for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            for target in targets:
                while target and target not in paths:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    found.add(target)
        graph[name] = found
    return graph


def test_no_import_circles():
    graph = import_graph()
    assert "catunet.data.split" in graph["catunet.training.train"]  # the graph is read
    done, path = set(), []

    def visit(module):
        if module in path:
            return path[path.index(module):] + [module]
        if module in done:
            return None
        path.append(module)
        for target in sorted(graph[module]):
            circle = visit(target)
            if circle:
                return circle
        path.pop()
        done.add(module)
        return None

    for module in sorted(graph):
        circle = visit(module)
        assert circle is None, "import circle: " + " -> ".join(circle)


# --- the house: stages, module sizes ------------------------------------------

STAGES = ("data", "models", "training", "inference", "serving", "study")
# What stays at the top: the package's API, the command and its flags, and
# the few helpers every stage uses.
TOP_LEVEL = {"__init__", "cli", "flags", "errors", "atomic", "checks",
             "visualize", "figures"}
MAX_LINES = 400


def lines_of(path):
    return len(path.read_text().splitlines())


def test_every_module_lives_in_its_stage():
    top = {p.stem for p in (ROOT / "catunet").glob("*.py")}
    assert top == TOP_LEVEL, "modules outside a stage: " + ", ".join(
        sorted(top - TOP_LEVEL))
    packages = {p.parent.name for p in (ROOT / "catunet").glob("*/__init__.py")}
    assert set(STAGES) <= packages


@pytest.mark.parametrize("path", sorted((ROOT / "catunet").rglob("*.py")),
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_is_over_400_lines(path):
    assert lines_of(path) <= MAX_LINES, \
        f"{path.relative_to(ROOT)}: {lines_of(path)} lines; split it by job"


def test_the_study_is_smaller_than_the_library():
    study = sum(lines_of(p) for p in (ROOT / "catunet" / "study").rglob("*.py"))
    library = sum(lines_of(p) for p in LIBRARY)
    assert 0 < study < library, (study, library)


def test_import_catunet_is_light_and_every_public_name_resolves():
    code = ("import sys, catunet\n"
            "assert 'tensorflow' not in sys.modules\n"
            "print([n for n in catunet.__all__ if not callable(getattr(catunet, n)) "
            "and not isinstance(getattr(catunet, n), dict)])")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"
