"""One report for the whole study: ``python -m catunet.study.report``.

Runs (or reuses, keyed by each run's saved config) every experiment — loss
comparison, augmentation, transfer learning, the default model and its
contours — then renders, from the JSON summaries under ``reports/`` alone,
each step's report, ``REPORT.md`` at the top level (one results table, the
figures, the discussions, the settings and the command behind every row)
and README's generated sections.

``python -m catunet.study.report --render`` only renders: no training, no
data. Generated sections sit between ``<!-- NAME:start -->`` and
``<!-- NAME:end -->`` markers in README and the pages ``HOMES`` names;
nothing else in them is touched.
"""

import argparse
import json
import re
import sys
from pathlib import Path

from catunet import atomic
from catunet.errors import CatunetError
from catunet.flags import HelpFormatter, flag
from catunet.study import defaults, encoder_report, render
from catunet.study.bench_report import (readme_speed, speed_summary,
                                        write_bench_report)
from catunet.study.model_figures import (draw_augmentation_figures,
                                         draw_transfer_figures)
from catunet.study.report_page import (CORE, REPORT, STEPS, encoder_section,
                                       machines_of, study_values, versions_of,
                                       write_report)
from catunet.study.reports import (REPORTS, write_augmentation_report,
                                   write_losses_report, write_transfer_report)
from catunet.training import recipes
from catunet.training.config import TrainConfig

README = Path("README.md")
# Where each generated section lives (paths from the repository's root):
# README holds what a user reads first; the guide the manual's measured
# parts.
HOMES = {"recipes": README, "defaults": README, "encoder": README,
         "results": README, "speed-summary": README,
         "speed": Path("docs") / "guide.md", "serve": Path("docs") / "guide.md"}


# --- README's generated sections ----------------------------------------------


def readme_results(steps, default, contours, folder=REPORTS):
    """README's results section: the table and what it says
    (``templates/readme-results.md.j2``)."""
    rows = [{"step": step, "label": render.label(steps[step], name),
             "winner": name == steps[step]["winner"], "runs": runs}
            for step in STEPS for name, runs in steps[step]["results"].items()]
    values = {**study_values(steps, default, contours, folder),
              "summaries": steps, "default_run": default, "rows": rows,
              "machines": machines_of(steps, default),
              "versions": versions_of(steps, default, contours)}
    return render.fill(render.template("readme-results.md.j2"), values,
                       "readme-results.md.j2")


def replace_section(text, name, body):
    """``text`` with what lies between ``name``'s markers replaced by ``body``."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
    if not pattern.search(text):
        raise CatunetError(f"{HOMES.get(name, README)} has no {start} ... "
                           f"{end} markers")
    return pattern.sub(lambda _: f"{start}\n{body.strip()}\n{end}", text)


def paper_flags():
    """The ``paper`` recipe (``TrainConfig``'s defaults) as the flags that
    shape its model and training."""
    defaults = TrainConfig()
    return " ".join(" ".join(flag(k, getattr(defaults, k))) for k in (
        "encoder", "width", "depth", "image_size", "epochs", "learning_rate"))


def recipes_table():
    """README's table of the named recipes (``templates/readme-recipes.md.j2``),
    from ``catunet.training.recipes`` (whose tests tie each recipe to the
    report that chose it)."""
    rows = [{"name": name, "default": name == recipes.DEFAULT,
             "flags": recipes.flags(name) or paper_flags(),
             "inference": " ".join(
                 flag(k, v)[0] if v is True else " ".join(flag(k, v))
                 for k, v in recipes.INFERENCE[name].items())}
            for name in recipes.RECIPES]
    return render.ENVIRONMENT.get_template("readme-recipes.md.j2").render(
        recipes=rows, shipping=encoder_report.SHIPPING.as_posix())


def relink(text, home):
    """``text``'s relative links (written from the repository's root) as
    seen from the file ``home``."""
    up = "../" * len(Path(home).parent.parts)
    return re.sub(r"\]\((?!https?:|#|/)([^)]+)\)",
                  lambda m: f"]({up}{m.group(1)})", text) if up else text


def generated_sections(folder=REPORTS):
    """``{marker name: generated text}`` from the JSON in ``folder``, links
    written from the repository's root (``HOMES`` says where each goes)."""
    steps, default, contours, bench = load_summaries(folder)
    sections = {"results": readme_results(steps, default, contours, folder)}
    if bench:
        sections["speed"] = readme_speed(bench)
        sections["speed-summary"] = speed_summary(bench)
    encoder = encoder_section(folder)
    if encoder:
        sections["encoder"] = encoder
    sections["recipes"] = recipes_table()
    found = folder / "defaults" / "defaults.json"
    if found.is_file():
        sections["defaults"] = defaults.readme_section(
            json.loads(found.read_text()))
    serve = folder / "serve.json"
    if serve.is_file():
        sections["serve"] = readme_serve(json.loads(serve.read_text()))
    return sections


def readme_serve(serve):
    """The guide's section on the web page (``templates/readme-serve.md.j2``):
    the latency measured under load and the screenshot."""
    return render.ENVIRONMENT.get_template("readme-serve.md.j2").render(
        serve=serve, machine=render.machine_text(serve["machine"]))


def section(text, name):
    """What lies between ``name``'s markers in ``text`` (None if no markers)."""
    match = re.search(rf"<!-- {name}:start -->\n(.*?)\n<!-- {name}:end -->",
                      text, re.S)
    return match.group(1) if match else None


# --- rendering everything -------------------------------------------------------

def load_summaries(folder=REPORTS):
    """The step summaries, ``default.json``, ``contours/samples.json`` and
    ``bench.json`` (None when missing) from ``folder``."""
    folder = Path(folder)

    def read(name):
        path = folder / name
        if not path.is_file():
            raise CatunetError(f"{path} is missing: run the experiment that "
                               "writes it first")
        return json.loads(path.read_text())
    bench = folder / "bench.json"
    return ({step: read(f"{step}.json") for step in STEPS},
            read("default.json"), read("contours/samples.json"),
            json.loads(bench.read_text()) if bench.is_file() else None)


def render_all(folder=REPORTS, root=Path("."), report=REPORT):
    """Rewrites every report, ``REPORT.md`` and the generated sections of
    README and the pages beside it (``HOMES``, under ``root``) from the
    JSON summaries in ``folder`` alone."""
    steps, default, contours, bench = load_summaries(folder)
    write_losses_report(steps["losses"], folder)
    write_augmentation_report(steps["augmentation"], folder)
    write_transfer_report(steps["transfer"], folder)
    if bench:
        write_bench_report(bench, folder)
    found = Path(folder) / "encoder-ladder" / "ladder.json"
    if found.is_file():
        atomic.write_text(found.with_suffix(".md"), encoder_report.markdown(
            json.loads(found.read_text())))
    found = Path(folder) / "defaults" / "defaults.json"
    if found.is_file():
        atomic.write_text(found.with_suffix(".md"), defaults.markdown(
            json.loads(found.read_text())))
    write_report(steps, default, contours, folder, report)
    sections = generated_sections(folder)
    for home in sorted(set(HOMES.values())):
        path = Path(root) / home
        text = path.read_text()
        for name, body in sections.items():
            if HOMES[name] == home:
                text = replace_section(text, name, relink(body, home))
        atomic.write_text(path, text)


def run_all(pretrain_dir=None, pretrained=None, data_dir=None, core=False):
    """Runs or reuses every step, saving each summary and its report.

    Args:
        core: Run only the ``CORE`` variants of each step.
    """
    from catunet.study import experiments, pretraining
    from catunet.visualize import outline_test_set, save_test_figures

    print("== 1. losses", flush=True)
    losses = experiments.compare_losses(
        data_dir, **({"losses": CORE["losses"]} if core else {}))
    write_losses_report(losses)
    print("== 2. augmentation", flush=True)
    summary, study = experiments.compare_augmentation(
        data_dir, variants=CORE["augmentation"] if core
        else experiments.DEFAULT_VARIANTS)
    draw_augmentation_figures(summary, study)
    write_augmentation_report(summary)
    print("== 3. transfer", flush=True)
    summary, study = pretraining.compare_transfer(
        pretrain_dir, data_dir, pretrained=pretrained)
    draw_transfer_figures(summary, study)
    write_transfer_report(summary)
    print("== default model and contours", flush=True)
    default = experiments.default_run(data_dir)
    items = outline_test_set(Path(default["config"]["out"]) / "cats.keras")
    save_test_figures(items, REPORTS / "contours")


def main(argv=None):
    p = argparse.ArgumentParser(
        prog="python -m catunet.study.report",
        description="Run or reuse every experiment of the study, then render "
        "REPORT.md, each step's report under reports/ and README's generated "
        "sections from the JSON summaries.",
        formatter_class=HelpFormatter)
    p.add_argument("--render", action="store_true",
                   help="only render, from the JSON under reports/: no "
                   "training, no data")
    p.add_argument("--data-dir", default=None,
                   help="the cat set (default: $CATUNET_DATA_DIR, else "
                   "data/cats)")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--pretrain-dir",
                        help="folder of images and masks to pre-train on, "
                        "e.g. the Weizmann horses")
    source.add_argument("--pretrained",
                        help="a model pre-trained elsewhere, e.g. "
                        "runs/voc/voc.keras")
    p.add_argument("--core", action="store_true",
                   help="only the smallest study that answers every question "
                   f"(losses {' and '.join(CORE['losses'])}, augmentation "
                   f"{' vs '.join(CORE['augmentation'])}, transfer): fewer "
                   "runs (REPORT.md gives the measured time)")
    args = p.parse_args(argv)
    if not args.render and not (args.pretrain_dir or args.pretrained):
        p.error("give --pretrain-dir or --pretrained (or --render to only "
                "render the committed results)")
    try:
        if not args.render:
            run_all(args.pretrain_dir, args.pretrained, args.data_dir,
                    args.core)
        render_all()
    except CatunetError as error:
        sys.exit(f"error: {error}")
    print(f"Wrote {REPORT}, {REPORTS}/*.md and {README}'s generated sections")


if __name__ == "__main__":
    main()
