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
