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

import numpy as np

from catunet import atomic
from catunet.errors import CatunetError
from catunet.flags import HelpFormatter, flag
from catunet.study import render, stats
from catunet.study.bench_report import (readme_speed, speed_summary,
                                        write_bench_report)
from catunet.study.model_figures import (draw_augmentation_figures,
                                         draw_transfer_figures)
from catunet.study.report_page import (CORE, REPORT, STEPS, encoder_section,
                                       machines_of, study_values, versions_of,
                                       write_report)
from catunet.study.reports import (REPORTS, write_augmentation_report,
                                   write_losses_report, write_transfer_report)
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
    """README's results section: the table and what it says."""
    values = study_values(steps, default, contours, folder)
    losses, split = steps["losses"], steps["losses"]["split"]
    v = values["losses"]
    lines = [
        f"Sørensen–Dice on the {split['test']} test photos, mean ± sample sd "
        f"over {losses['seeds']} seeds (seed *s* trains on "
        f"{v['train_per_run']} of the {split['train']} training photos and is "
        f"validated on the other {v['fold_photos']}, fold *s*; validation "
        f"picks, test only reports). U-Net width {v['width']}, {v['epochs']} "
        f"epochs, on {machines_of(steps, default)}; numbers made by "
        f"{versions_of(steps, default, contours)}. Every row comes from a "
        "committed command; the reports hold the settings, per-seed numbers, "
        "paired differences, figures and discussion.", "",
        "| step | variant | validation Dice | test Dice | train time per run "
        "| report |", "|---|---|---|---|---|---|"]
    names = {"all-cat": 'predict "all cat"',
             "mean-mask": "predict the mean training mask"}
    for name, value in losses["baselines"].items():
        lines.append(f"| baseline | {names.get(name, name)} | | {value:.3f} | "
                     "| [losses](reports/losses.md) |")
    for step in STEPS:
        summary = steps[step]
        for name, runs in summary["results"].items():
            text = render.label(summary, name)
            if name == summary["winner"]:
                text = f"**{text}** (winner)"
            lines.append(
                f"| {'loss' if step == 'losses' else step} | {text} | "
                f"{stats.format_mean_sd([r['val_dice'] for r in runs])} | "
                f"{stats.format_mean_sd([r['test_dice'] for r in runs])} | "
                f"{np.mean([r['seconds'] for r in runs]) / 60:.1f} min | "
                f"[{step}](reports/{step}.md) |")
    lines += [f"| default run | all {split['train']} training photos, seed "
              f"{default['config']['seed']} | | "
              f"{default['test']['mean']['dice']:.3f} | "
              f"{default['train_seconds'] / 60:.1f} min | "
              "[default.json](reports/default.json) |", ""]
    prose = render.fill(render.template("readme-results.md.j2"), values,
                        "readme-results.md.j2")
    return render.reflow("\n".join(lines) + "\n\n" + prose)


def replace_section(text, name, body):
    """``text`` with what lies between ``name``'s markers replaced by ``body``."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
    if not pattern.search(text):
        raise CatunetError(f"{HOMES.get(name, README)} has no {start} ... "
                           f"{end} markers")
    return pattern.sub(lambda _: f"{start}\n{body.strip()}\n{end}", text)


RECIPE_SOURCES = {
    "quick": "[reports/defaults](reports/defaults/defaults.md)",
    "encoder": "[reports/encoder-ladder](reports/encoder-ladder/ladder.md)",
    "paper": "[REPORT.md](REPORT.md)"}


def paper_flags():
    """The ``paper`` recipe (``TrainConfig``'s defaults) as the flags that
    shape its model and training."""
    defaults = TrainConfig()
    return " ".join(" ".join(flag(k, getattr(defaults, k))) for k in (
        "encoder", "width", "depth", "image_size", "epochs", "learning_rate"))


def recipes_table():
    """README's table of the named recipes, from ``catunet.training.recipes`` (whose
    tests tie each recipe to the report that chose it)."""
    from catunet.training import recipes

    lines = ["| recipe | train flags it stands for | inference saved beside "
             "the model | chosen in |", "|---|---|---|---|"]
    for name in recipes.RECIPES:
        inference = " ".join(flag(k, v)[0] if v is True else " ".join(
            flag(k, v)) for k, v in recipes.INFERENCE[name].items())
        lines.append(
            f"| `{name}`{' (the default)' if name == recipes.DEFAULT else ''}"
            f" | `{recipes.flags(name) or paper_flags()}` | "
            f"{f'`{inference}`' if inference else 'plain'} | "
            f"{RECIPE_SOURCES[name]} |")
    return "\n".join(lines)


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
        from catunet.study import defaults

        sections["defaults"] = defaults.readme_section(
            json.loads(found.read_text()))
    serve = folder / "serve.json"
    if serve.is_file():
        sections["serve"] = readme_serve(json.loads(serve.read_text()))
    return sections


def readme_serve(serve):
    """README's web-page section: the latency measured under load and the
    screenshot."""
    seq, conc = serve["latency"]["sequential"], serve["latency"]["concurrent"]
    info = serve["serving"]
    model = (f"model width {info['width']}"
             if info.get("encoder", "paper") in ("paper", None) else
             f"the U-Net over {info['encoder']} at {info['image_size']} px, "
             "with the inference settings saved beside it")
    return "\n".join([
        f"![the page after dropping a test photo](reports/{serve['screenshot']})",
        "",
        f"Measured by `{serve['command']}` (catunet {serve['code_version']}, "
        f"{render.machine_text(serve['machine'])}; {model}, runtime "
        f"{info['runtime']}), each request a test "
        "photo at its own size, end to end over HTTP on 127.0.0.1:",
        "",
        "| requests | p50 | p95 | max |",
        "|---|---|---|---|",
        f"| {seq['count']} one at a time | {seq['p50_ms']:.0f} ms | "
        f"{seq['p95_ms']:.0f} ms | {seq['max_ms']:.0f} ms |",
        f"| {conc['count']} from {conc['clients']} concurrent clients | "
        f"{conc['p50_ms']:.0f} ms | {conc['p95_ms']:.0f} ms | "
        f"{conc['max_ms']:.0f} ms |",
        "",
        f"Under load the server answered {conc['photos_per_second']:.1f} "
        "photos per second: concurrent requests wait in one queue and the "
        "model predicts what is waiting as one batch.",
    ])


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
        from catunet.study import encoder_report

        atomic.write_text(found.with_suffix(".md"), encoder_report.markdown(
            json.loads(found.read_text())))
    found = Path(folder) / "defaults" / "defaults.json"
    if found.is_file():
        from catunet.study import defaults

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
