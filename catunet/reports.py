"""Markdown reports and figures of the experiments (``catunet.experiments``).

Each writer takes the summary an experiment returned, saves it as JSON beside
the report, draws the figures and writes the Markdown. A hand-written
``<name>-discussion.md`` beside a report, if present, is appended to it.
"""

import json
from pathlib import Path

import numpy as np

from catunet import atomic, data
from catunet.evaluate import load_model, predict

REPORTS = Path("reports")


def _mean_std(values):
    return f"{np.mean(values):.3f} ± {np.std(values):.3f}"


def results_table(summary, label):
    """Markdown table: validation and test Dice of every variant."""
    lines = [
        f"| {label} | validation Dice (mean ± std over folds) | "
        "test Dice (mean ± std over seeds) | train time per run |",
        "|---|---|---|---|",
    ]
    for name, runs in summary["results"].items():
        mark = " **(winner)**" if name == summary["winner"] else ""
        lines.append(
            f"| {name}{mark} | {_mean_std([r['val_dice'] for r in runs])} | "
            f"{_mean_std([r['test_dice'] for r in runs])} | "
            f"{np.mean([r['seconds'] for r in runs]):.0f} s |")
    for name, value in summary["baselines"].items():
        lines.append(f"| *{name} baseline* | | {value:.3f} | |")
    return lines


def dice_plot(summary, title):
    """Validation and test Dice of every seed of every variant."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for i, runs in enumerate(summary["results"].values()):
        ax.scatter([i - 0.1] * len(runs), [r["val_dice"] for r in runs],
                   marker="o", color="tab:blue",
                   label="validation (per seed)" if i == 0 else None)
        ax.scatter([i + 0.1] * len(runs), [r["test_dice"] for r in runs],
                   marker="s", color="tab:red",
                   label="test (per seed)" if i == 0 else None)
    for (name, value), style in zip(summary["baselines"].items(), (":", "--")):
        ax.axhline(value, color="grey", linestyle=style,
                   label=f"{name} baseline (test)")
    ax.set_xticks(range(len(summary["results"])), list(summary["results"]))
    ax.set_ylabel("mean Dice")
    ax.set_title(title)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def learning_curves(summary, metric="dice_coefficient"):
    """Training and validation Dice per epoch of every run (from history.csv)."""
    import csv

    import matplotlib.pyplot as plt

    names = list(summary["results"])
    fig, axes = plt.subplots(1, len(names), figsize=(3 * len(names), 3),
                             sharey=True, squeeze=False)
    for ax, name in zip(axes[0], names):
        for k, run in enumerate(summary["results"][name]):
            path = Path(run["config"]["out"]) / "history.csv"
            if not path.exists():
                continue
            with open(path) as f:
                rows = list(csv.DictReader(f))
            epochs = [int(r["epoch"]) + 1 for r in rows]
            ax.plot(epochs, [float(r[metric]) for r in rows], color=f"C{k}",
                    linestyle=":", label=f"seed {k} train")
            ax.plot(epochs, [float(r[f"val_{metric}"]) for r in rows],
                    color=f"C{k}", label=f"seed {k} validation")
        ax.set_title(name)
        ax.set_xlabel("epoch")
    axes[0][0].set_ylabel("Dice")
    axes[0][-1].legend(fontsize=6)
    fig.tight_layout()
    return fig


def settings_section(summary, command):
    s = summary["settings"]
    return [
        "## Settings",
        "",
        f"Command: `{command}`. Raw numbers and every run's config: the "
        "JSON file beside this report; each run folder also keeps its "
        "`config.json`, `history.csv` and `split.json`.",
        "",
        "```json",
        json.dumps(s, indent=2),
        "```",
        "",
        f"Split: seed {summary['split']['seed']}, {summary['split']['train']} "
        f"train / {summary['split']['test']} test pairs "
        "(`data/splits/cats.json`). Seed *s* trains on the training part minus "
        f"fold *s* of a {summary['seeds']}-fold partition and is validated on "
        "fold *s*; validation Dice picks the winner, test Dice is only reported.",
        "",
        f"Machine: {summary['machine']}, 2 CPU cores. Training time of all "
        f"runs: {summary['train_seconds_total'] / 60:.1f} min.",
        "",
    ]


def _append_discussion(lines, path):
    if path.exists():
        lines.append(path.read_text())


def write_losses_report(summary, folder=REPORTS):
    """Writes ``losses.md``, ``losses.json`` and ``losses.png``."""
    import matplotlib.pyplot as plt

    folder = Path(folder)
    atomic.write_json(folder / "losses.json", summary)
    figures = {"losses.png": dice_plot(summary, "Loss comparison on the cat set"),
               "losses-curves.png": learning_curves(summary)}
    for name, fig in figures.items():
        fig.savefig(folder / name, dpi=100)
        plt.close(fig)
    s = summary["settings"]
    command = (f"python -m catunet.experiments losses --width {s['width']} "
               f"--epochs {s['epochs']} --seeds {summary['seeds']}")
    lines = ["# Loss comparison", "", *results_table(summary, "loss"), "",
             "![validation and test Dice per loss](losses.png)", "",
             "Training (dotted) and validation (solid) Dice per epoch of "
             "every run:", "", "![learning curves](losses-curves.png)", "",
             "Per-seed test Dice:", ""]
    for name, runs in summary["results"].items():
        lines.append(f"- {name}: "
                     + ", ".join(f"{r['test_dice']:.3f}" for r in runs))
    lines += ["", *settings_section(summary, command)]
    _append_discussion(lines, folder / "losses-discussion.md")
    atomic.write_text(folder / "losses.md", "\n".join(lines))


def _model_of(run):
    return load_model(Path(run["config"]["out"]) / f"{run['config']['stage']}.keras")


def augmentation_figures(summary, study):
    """The technique gallery and the test-image figures."""
    from catunet.augment import Augmenter, TECHNIQUES, parse_spec
    from catunet.figures import pairs_grid, prediction_grid, technique_gallery

    image, mask = data.load_pair(study.train_pairs[0], study.base.image_size)
    augmenters = {name: Augmenter(parse_spec(name), seed=1) for name in TECHNIQUES}
    augmenters["all (one random draw)"] = Augmenter(parse_spec("recommended"),
                                                    seed=2)
    figures = {"augmentation-techniques.png":
               technique_gallery(image, mask, augmenters)}

    images, masks = study.test
    best = summary["winner"]
    winner_run = summary["results"][best][0]
    predicted = predict(_model_of(winner_run), images) > 0.5
    scores = winner_run["test_dice_per_image"]
    titles = [f"{p.image.name} Dice {d:.2f}"
              for p, d in zip(study.test_pairs, scores)]
    figures["augmentation-test-grid.png"] = prediction_grid(
        images, masks, predicted.astype(np.float32), titles, per_row=3)

    if "none" in summary["results"] and best != "none":
        plain = predict(_model_of(summary["results"]["none"][0]), images) > 0.5
        order = np.argsort(scores)
        picks = [order[0], order[len(order) // 2], order[-1]]
        rows = [[images[i], masks[i], plain[i].astype(np.float32),
                 predicted[i].astype(np.float32)] for i in picks]
        figures["augmentation-test-large.png"] = pairs_grid(
            rows, size=3.0,
            row_titles=[study.test_pairs[i].image.name for i in picks],
            column_titles=["photo", "ground truth", "no augmentation",
                           f"{best}"])
    return figures


def write_augmentation_report(summary, study, folder=REPORTS):
    """Writes ``augmentation.md``, ``.json`` and its figures."""
    import matplotlib.pyplot as plt

    folder = Path(folder)
    atomic.write_json(folder / "augmentation.json", summary)
    figures = {"augmentation.png": dice_plot(summary, "Augmentation on the cat set"),
               "augmentation-curves.png": learning_curves(summary),
               **augmentation_figures(summary, study)}
    for name, fig in figures.items():
        fig.savefig(folder / name, dpi=100)
        plt.close(fig)
    s, rates = summary["settings"], summary["rates"]
    command = (f"python -m catunet.experiments augmentation --width "
               f"{s['width']} --epochs {s['epochs']} --seeds {summary['seeds']}"
               + "".join(f" --variant {name}" for name in summary["variants"]))
    lines = ["# Data augmentation", "",
             f"Loss `{s['loss']}` (the loss comparison's winner), "
             f"{s['epochs']} epochs for every variant: the same number of "
             "training steps with and without augmentation.", "",
             *results_table(summary, "augmentation"), "",
             "| variant | techniques (`--augment`) |", "|---|---|"]
    for name, spec in summary["variants"].items():
        lines.append(f"| {name} | `{spec['augment'] or '(none)'}` |")
    lines += ["", "![validation and test Dice per variant](augmentation.png)", "",
              "Training (dotted) and validation (solid) Dice per epoch:", "",
              "![learning curves](augmentation-curves.png)", "",
              "## What each technique does", "",
              "One training photo and its mask under each technique at its "
              "default strength, and one draw of all of them together:", "",
              "![techniques](augmentation-techniques.png)", "",
              "## Test images", "",
              f"Every test image with the prediction of `{summary['winner']}` "
              "(seed 0):", "", "![test grid](augmentation-test-grid.png)", ""]
    if (folder / "augmentation-test-large.png").exists() and \
            summary["winner"] != "none":
        lines += ["Its worst, median and best test image, with and without "
                  "augmentation (seed 0):", "",
                  "![large](augmentation-test-large.png)", ""]
    headroom = rates["pipeline_images_per_s"] / rates["train_images_per_s"]
    verdict = ("so the pipeline is not what limits training" if headroom > 1
               else "so the pipeline IS what limits training")
    lines += ["## Input pipeline vs training step", "",
              f"With `--augment {rates['augment']}`, batch {rates['batch_size']}: "
              f"the pipeline alone delivers {rates['pipeline_images_per_s']:.0f} "
              f"images/s, a training step consumes "
              f"{rates['train_images_per_s']:.1f} images/s ({headroom:.1f}×), "
              f"{verdict}. Both timed in the same process, one after the "
              "other (`catunet.experiments.pipeline_rates`).", "",
              *settings_section(summary, command)]
    _append_discussion(lines, folder / "augmentation-discussion.md")
    atomic.write_text(folder / "augmentation.md", "\n".join(lines))


