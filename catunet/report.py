"""One report for the whole study: ``python -m catunet.report``.

Runs (or reuses, keyed by each run's saved config) every experiment — loss
comparison, augmentation, transfer learning, the default model and its
contours — rewrites each step's report under ``reports/`` and writes
``REPORT.md`` at the top level: one results table, the figures, the written
discussions, the settings and the command behind every row.
"""

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

from catunet import atomic, experiments
from catunet.cli import HelpFormatter
from catunet.errors import CatunetError
from catunet.reports import (REPORTS, write_augmentation_report,
                             write_losses_report, write_transfer_report)

REPORT = Path("REPORT.md")
# The smallest study that still answers every question: two losses,
# augmentation on and off, the transfer variants (``--core``).
CORE = {"losses": ("bce", "bce+dice"), "augmentation": ("none", "recommended"),
        "transfer": experiments.DEFAULT_TRANSFER}


def _row(step, name, runs, command):
    test = [r["test_dice"] for r in runs]
    minutes = np.mean([r["seconds"] for r in runs]) / 60
    return (f"| {step} | {name} | {np.mean(test):.3f} ± {np.std(test):.3f} | "
            f"{len(runs)} | {minutes:.1f} min | `{command}` |")


def results_table(steps, default, contours):
    """Step → test Dice mean ± std, seeds, training time per run, command."""
    lines = ["| step | variant | test Dice (mean ± std) | seeds | train time "
             "per run | rerun with |", "|---|---|---|---|---|---|"]
    losses = steps["losses"]
    for name, value in losses["baselines"].items():
        lines.append(f"| 0 baseline | {name} (ignores the photo) | {value:.3f} "
                     f"| – | – | `python -m catunet.experiments losses` |")
    names = {"losses": "1 loss", "augmentation": "2 augmentation",
             "transfer": "3 transfer"}
    for key, step in names.items():
        summary = steps[key]
        for name, runs in summary["results"].items():
            mark = " **(winner)**" if name == summary["winner"] else ""
            lines.append(_row(step, name + mark, runs,
                              f"python -m catunet.experiments {key}"))
    lines.append(
        f"| default model | `python train.py` (all 57 training photos) | "
        f"{default['test']['mean']['dice']:.3f} | 1 | "
        f"{default['train_seconds'] / 60:.1f} min | "
        "`python -m catunet.experiments default` |")
    lines.append(
        f"| 4 contours | the default model at each photo's full size | "
        f"{contours['mean_dice']:.3f} | 1 | – | `python visualize.py "
        "--model runs/default/cats.keras` |")
    return lines


def unique_runs(steps, default, only=None):
    """Seconds of every distinct training run behind the report (steps share
    runs: augmentation's ``none`` is the loss study's ``bce+dice``).

    Args:
        only: ``{step: variant names}`` to count (e.g. ``CORE``); None: all.
    """
    seconds = {}
    for step, summary in steps.items():
        for name, runs in summary["results"].items():
            if only is None or name in only[step]:
                for run in runs:
                    seconds[run["config"]["out"]] = run["seconds"]
    pretrain = steps["transfer"]["pretrain"]
    seconds[pretrain["model"]] = pretrain["seconds"]
    seconds[default["config"]["out"]] = default["train_seconds"]
    return seconds


def _section(title, name, figures):
    """A step's section: its figures and its hand-written discussion."""
    lines = [f"## {title}", "", f"Full report: [reports/{name}.md]"
             f"(reports/{name}.md).", ""]
    lines += [f"![{caption}](reports/{file})" for file, caption in figures]
    lines.append("")
    discussion = REPORTS / f"{name}-discussion.md"
    if discussion.exists():
        text = discussion.read_text().replace("## ", "### ")
        lines += [text.replace("](", "](reports/").replace(
            "](reports/http", "](http"), ""]
    return lines


def write_report(steps, default, contours, wall_seconds, settings):
    runs, core = unique_runs(steps, default), unique_runs(steps, default, CORE)
    total, core_total = sum(runs.values()) / 60, sum(core.values()) / 60
    lines = [
        "# catunet: the whole study",
        "",
        "A U-Net (Ronneberger et al., 2015) segmenting cats from "
        f"{steps['losses']['split']['train']} labelled training photos, "
        "tested on the same "
        f"{steps['losses']['split']['test']} photos at every step "
        "(`data/splits/cats.json`, made once with seed "
        f"{steps['losses']['split']['seed']}). Every number below comes from "
        "`python -m catunet.report`, which reruns or reuses every run "
        "(keyed by its saved config).",
        "",
        "## Results",
        "",
        *results_table(steps, default, contours),
        "",
        "Seeds are cross-validation folds: seed *s* trains on the 57 training "
        "photos minus fold *s* (19 photos) and picks winners by its Dice on "
        "fold *s*; the test set never chooses anything. The default model "
        "trains on all 57.",
        "",
        f"**Time.** {len(runs)} distinct training runs at width "
        f"{settings['width']}, {settings['epochs']} epochs, on "
        f"{platform.machine()} with 2 CPU cores: {total:.0f} min of training "
        "from scratch, as recorded by each run. `python -m catunet.report "
        "--core` runs the smallest study that answers every question — "
        f"{', '.join(CORE['losses'])} for the losses, augmentation "
        f"{' vs '.join(CORE['augmentation'])}, the transfer variants — in "
        f"{len(core)} runs, {core_total:.0f} min. This call took "
        f"{wall_seconds / 60:.1f} min (runs already done are reused).",
        "",
    ]
    summary = REPORTS / "summary-discussion.md"
    if summary.exists():
        lines += [summary.read_text(), ""]
    lines += _section("1. Loss functions", "losses", [
        ("losses.png", "Dice per loss"), ("losses-curves.png", "curves")])
    lines += _section("2. Data augmentation", "augmentation", [
        ("augmentation-techniques.png", "techniques"),
        ("augmentation.png", "Dice per variant"),
        ("augmentation-test-large.png", "with and without augmentation")])
    lines += _section("3. Transfer learning", "transfer", [
        ("transfer-pretrain.png", "pre-trained model, held-out images"),
        ("transfer.png", "Dice per variant"),
        ("transfer-before-after.png", "before and after transfer")])
    samples = contours["samples"]
    lines += [
        "## 4. Contours", "",
        "The default model's predicted outline (red) and the hand-drawn one "
        "(green) on the best, median and worst test photo by Dice, drawn at "
        "the photo's own size (the 128 px prediction is upsampled smoothly, "
        "then thresholded):", "",
        "![samples](reports/contours/samples.png)", "",
        *[f"- {label}: {s['image']}, Dice {s['dice']:.3f}"
          for label, s in samples.items()], "",
        "All test photos:", "", "![contact sheet](reports/contours/"
        "contact-sheet.png)", "",
        "## Settings", "",
        "```json", json.dumps(settings, indent=2), "```", "",
        "Each step's report lists its exact command and every run's config; "
        "each run folder keeps `config.json`, `split.json`, `history.csv` "
        "and `timing.json`.", ""]
    atomic.write_text(REPORT, "\n".join(lines))


def run_all(pretrain_dir=None, pretrained=None, data_dir=None, core=False):
    """Runs or reuses every step; returns what ``write_report`` needs.

    Args:
        core: Run only the ``CORE`` variants of each step.
    """
    from catunet.visualize import outline_test_set, save_test_figures

    steps, losses = {}, {}
    if core:
        losses = {"losses": CORE["losses"]}
    print("== 1. losses", flush=True)
    steps["losses"] = experiments.compare_losses(data_dir, **losses)
    write_losses_report(steps["losses"])
    print("== 2. augmentation", flush=True)
    steps["augmentation"], study = experiments.compare_augmentation(
        data_dir, variants=CORE["augmentation"] if core
        else experiments.DEFAULT_VARIANTS)
    write_augmentation_report(steps["augmentation"], study)
    print("== 3. transfer", flush=True)
    steps["transfer"], study = experiments.compare_transfer(
        pretrain_dir, data_dir, pretrained=pretrained)
    write_transfer_report(steps["transfer"], study)
    print("== default model and contours", flush=True)
    default = experiments.default_run(data_dir)
    items = outline_test_set(Path(default["config"]["out"]) / "cats.keras")
    contours = save_test_figures(items, REPORTS / "contours")
    return steps, default, contours, study.base


def main(argv=None):
    p = argparse.ArgumentParser(
        prog="python -m catunet.report",
        description="Run or reuse every experiment of the study and write "
        "REPORT.md (and each step's report under reports/).",
        formatter_class=HelpFormatter)
    p.add_argument("--data-dir", default=None,
                   help="the cat set (default: $CATUNET_DATA_DIR, else "
                   "data/cats)")
    source = p.add_mutually_exclusive_group(required=True)
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
                   "runs, about 90 minutes from scratch on 2 cores (REPORT.md "
                   "gives the measured time)")
    args = p.parse_args(argv)
    start = time.perf_counter()
    try:
        steps, default, contours, base = run_all(
            args.pretrain_dir, args.pretrained, args.data_dir, args.core)
    except CatunetError as error:
        sys.exit(f"error: {error}")
    settings = {k: v for k, v in base.to_dict().items()
                if k not in ("seed", "val_fold", "out", "split", "data_dir")}
    write_report(steps, default, contours, time.perf_counter() - start,
                 settings)
    print(f"Wrote {REPORT}")


if __name__ == "__main__":
    main()
