"""Markdown reports and figures of the experiments (``catunet.experiments``).

Each writer takes the summary an experiment returned, saves it as JSON beside
the report, draws the figures and writes the Markdown. A hand-written
``<name>-discussion.md`` beside a report, if present, is appended to it.
"""

import json
from pathlib import Path

import numpy as np

from catunet import atomic, data
from catunet.config import TrainConfig
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
    from catunet.figures import prediction_grid, technique_gallery

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
        figures["augmentation-test-large.png"] = before_after(
            study, summary["results"]["none"][0], winner_run,
            ["no augmentation", best])
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
                  "augmentation (seed 0; each row gives Dice without -> "
                  "with):", "",
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




def before_after(study, before, after, labels):
    """Worst, median and best test image of the ``after`` run, with the
    predictions of both runs (run dicts, as in the summaries); each row
    gives its Dice before -> after."""
    from catunet.figures import pairs_grid

    images, masks = study.test
    scores = after["test_dice_per_image"]
    order = np.argsort(scores)
    picks = [order[0], order[len(order) // 2], order[-1]]
    predicted = [predict(_model_of(run), images[picks]) > 0.5
                 for run in (before, after)]
    rows = [[images[i], masks[i], predicted[0][k].astype(np.float32),
             predicted[1][k].astype(np.float32)] for k, i in enumerate(picks)]
    titles = [f"{study.test_pairs[i].image.name}\n"
              f"{before['test_dice_per_image'][i]:.2f} -> {scores[i]:.2f}"
              for i in picks]
    return pairs_grid(rows, size=3.0, row_titles=titles,
                      column_titles=["photo", "ground truth", *labels])


def held_out_figure(pretrain_run, count=4):
    """Predictions of the pre-trained model on its own held-out images."""
    from catunet import split as splits
    from catunet.figures import prediction_grid

    folder = Path(pretrain_run["model"]).parent
    data_dir = pretrain_run["config"]["data_dir"]
    manifest = splits.load_split(folder / "split.json")
    _, test = splits.resolve_split(manifest, data.find_pairs(data_dir))
    picks = test[:: max(1, len(test) // count)][:count]
    images, masks = data.load_pairs(picks, pretrain_run["config"]["image_size"])
    model = load_model(pretrain_run["model"])
    probabilities = predict(model, images)
    from catunet.metrics import dice_coefficient

    dice = dice_coefficient(masks.astype(np.float32), probabilities)
    return prediction_grid(
        images, masks, (probabilities > 0.5).astype(np.float32),
        [f"{p.image.name} Dice {d:.2f}" for p, d in zip(picks, np.asarray(dice))],
        per_row=2, size=2.0)


def _variant_line(name, spec, epochs, base_rate):
    rate = spec.get("learning_rate", base_rate)
    start = "pre-trained" if spec.get("init") else "random"
    if spec.get("freeze_epochs"):
        k = spec["freeze_epochs"]
        return (f"| {name} | {start} | encoder frozen for epochs 1–{k}, "
                f"then all layers to {epochs} | {rate:g}, then "
                f"{spec['fine_tune_learning_rate']:g} |")
    return f"| {name} | {start} | all layers, {epochs} epochs | {rate:g} |"


def _source_name(source):
    config = source["config"]
    if "held_out" in source:
        return Path(config["data_dir"]).name
    return "Pascal VOC 2012" if config and config["stage"] == "voc" \
        else source["model"]


def _pretrain_section(source):
    """What the model was pre-trained on and how well it does there."""
    name, pc = _source_name(source), source["config"]
    if "held_out" not in source:
        return [f"Pre-trained model: `{source['model']}` ({name}), trained "
                "by another command; its own held-out Dice is not measured "
                "here.", ""]
    held = source["held_out"]
    lines = [
        f"Pre-training source: **{name}** (`{pc['data_dir']}`), not Pascal "
        "VOC: VOC cannot be downloaded on the machine that made this report, "
        "so no VOC number is claimed here. With VOC, run `python train.py "
        "--stage voc` and pass its model to this command with `--pretrained "
        "runs/voc/voc.keras`.",
        "",
        "## Pre-training", "",
        f"`--stage pretrain` on {name}: {pc['epochs']} epochs, width "
        f"{pc['width']}, loss `{pc['loss']}`, augmentation `{pc['augment']}`, "
        f"the folder's own 70/30 split (seed {pc['split_seed']}, "
        f"`data/splits/{name}.json`)"
        + (f", {source['seconds'] / 60:.1f} min" if source["seconds"] else "")
        + f". Dice on its own {held['count']} held-out images: "
        f"**{held['mean']['dice']:.3f} ± {held['std']['dice']:.3f}**.",
        "",
        "![pre-trained model on held-out images](transfer-pretrain.png)", ""]
    zero = source.get("zero_shot_cats")
    if zero:
        lines += [f"The same model, as it is, on the {zero['count']} cat test "
                  f"images (no fine-tuning): Dice {zero['mean']['dice']:.3f} "
                  f"± {zero['std']['dice']:.3f}.", ""]
    return lines


def write_transfer_report(summary, study, folder=REPORTS):
    """Writes ``transfer.md``, ``.json`` and its figures."""
    import matplotlib.pyplot as plt

    folder = Path(folder)
    atomic.write_json(folder / "transfer.json", summary)
    results, source = summary["results"], summary["pretrain"]
    transferred = [name for name in results if name != "scratch"]
    val = {name: np.mean([r["val_dice"] for r in results[name]])
           for name in transferred}
    best = max(val, key=val.get) if val else None
    figures = {"transfer.png": dice_plot(summary, "Transfer learning, cat set"),
               "transfer-curves.png": learning_curves(summary)}
    if "held_out" in source:
        figures["transfer-pretrain.png"] = held_out_figure(source)
    if best and "scratch" in results:
        figures["transfer-before-after.png"] = before_after(
            study, results["scratch"][0], results[best][0],
            ["from scratch", best])
    for name, fig in figures.items():
        fig.savefig(folder / name, dpi=100)
        plt.close(fig)

    s = summary["settings"]
    lines = ["# Transfer learning", "", *_pretrain_section(source)]
    zero = source.get("zero_shot_cats")
    name = _source_name(source)
    command = "python -m catunet.experiments transfer " + (
        f"--pretrain-dir {source['config']['data_dir']} --pretrain-epochs "
        f"{source['config']['epochs']}" if "held_out" in source
        else f"--pretrained {source['model']}") + (
        f" --width {s['width']} --epochs {s['epochs']} --seeds "
        f"{summary['seeds']}" + "".join(f" --variant {v}" for v in results))
    lines += ["## Fine-tuning on the cats", "",
              "| variant | start | what trains | Adam learning rate |",
              "|---|---|---|---|"]
    base_rate = s.get("learning_rate", TrainConfig().learning_rate)
    lines += [_variant_line(n, summary["variants"][n], s["epochs"], base_rate)
              for n in results]
    lines += ["", *results_table(summary, "variant")]
    if zero:
        lines.append(f"| *{name} model, no fine-tuning* | | "
                     f"{zero['mean']['dice']:.3f} | |")
    lines += ["", "![validation and test Dice per variant](transfer.png)", "",
              "Training (dotted) and validation (solid) Dice per epoch:", "",
              "![learning curves](transfer-curves.png)", ""]
    if "transfer-before-after.png" in figures:
        lines += ["## Before and after transfer, same test images", "",
                  f"The worst, median and best test image of `{best}` "
                  "(seed 0), with the prediction of the from-scratch model "
                  "(seed 0); each row gives Dice from scratch -> after "
                  "transfer:", "", "![before and after](transfer-before-after.png)",
                  ""]
    lines += settings_section(summary, command)
    _append_discussion(lines, folder / "transfer-discussion.md")
    atomic.write_text(folder / "transfer.md", "\n".join(lines))
