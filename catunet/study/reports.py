"""Markdown reports of the experiments (``catunet.study.experiments``), and
the figures that need the experiments' models.

Two kinds of function:

* Renderers — ``write_losses_report``, ``write_augmentation_report`` and
  ``write_transfer_report`` — read nothing but the summary an experiment
  returned (saved beside the report as ``<name>.json``): they save it, draw
  its numeric plots (Dice per variant; learning curves where the runs carry
  their history) and write ``<name>.md`` with ``<name>-discussion.md``
  filled in from it (``catunet.study.render``). ``python -m
  catunet.study.report --render`` reruns them on the committed JSON.
* Figure functions — ``draw_augmentation_figures`` and
  ``draw_transfer_figures`` — load the runs' models and the photos, at
  experiment time, and save the prediction figures. A renderer links such a
  figure when its file is there, so call them first.
"""

import json
from pathlib import Path

import numpy as np

from catunet import atomic
from catunet.study import discussions, render, stats

REPORTS = Path("reports")


# --- tables and numeric plots (from the summary alone) -----------------------

def results_table(summary, label, extra_rows=()):
    """Markdown table: validation and test Dice of every variant, then the
    baselines and ``extra_rows``."""
    lines = [
        f"| {label} | validation Dice (mean ± sd over folds) | "
        "test Dice (mean ± sd over seeds) | train time per run |",
        "|---|---|---|---|",
    ]
    for name, runs in summary["results"].items():
        mark = " **(winner)**" if name == summary["winner"] else ""
        lines.append(
            f"| {name}{mark} | "
            f"{stats.format_mean_sd([r['val_dice'] for r in runs])} | "
            f"{stats.format_mean_sd([r['test_dice'] for r in runs])} | "
            f"{np.mean([r['seconds'] for r in runs]):.0f} s |")
    for name, value in summary["baselines"].items():
        lines.append(f"| *{name} baseline* | | {value:.3f} | |")
    lines += [*extra_rows, "", "Spreads are sample standard deviations (n − 1)."]
    return lines


def paired_table(summary, control=None):
    """Markdown section: paired per-seed differences between variants."""
    lines = [
        "## Paired differences", "",
        "Seed *s* of every variant is validated on fold *s* and tested on the "
        "same photos, so variants are compared seed by seed: the mean of the "
        "per-seed differences A − B, with a 95% t-interval (mean ± t · sd / "
        "√n, sample sd of the n differences). An interval that includes zero "
        "means these seeds cannot tell A and B apart.", "",
        "| A − B | validation Dice | test Dice |", "|---|---|---|"]
    for a, b in render.comparisons(summary, control):
        cells = [stats.format_difference(render.paired(summary, a, b, metric))
                 for metric in ("val_dice", "test_dice")]
        lines.append(f"| {a} − {b} | {cells[0]} | {cells[1]} |")
    return lines + [""]


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
    """Training and validation Dice per epoch of every run that has its
    history (``render.history``); None when none has."""
    import matplotlib.pyplot as plt

    names = list(summary["results"])
    curves = {name: [render.history(run) for run in summary["results"][name]]
              for name in names}
    if not any(c for runs in curves.values() for c in runs):
        return None
    fig, axes = plt.subplots(1, len(names), figsize=(3 * len(names), 3),
                             sharey=True, squeeze=False)
    for ax, name in zip(axes[0], names):
        for k, rows in enumerate(curves[name]):
            if not rows:
                continue
            epochs = range(1, len(rows) + 1)
            ax.plot(epochs, [r[metric] for r in rows], color=f"C{k}",
                    linestyle=":", label=f"seed {k} train")
            ax.plot(epochs, [r[f"val_{metric}"] for r in rows],
                    color=f"C{k}", label=f"seed {k} validation")
        ax.set_title(name)
        ax.set_xlabel("epoch")
    axes[0][0].set_ylabel("Dice")
    axes[0][-1].legend(fontsize=6)
    fig.tight_layout()
    return fig


def save_figures(figures, folder):
    import matplotlib.pyplot as plt

    for name, fig in figures.items():
        if fig is not None:
            atomic.save_figure(fig, Path(folder) / name, dpi=100)
            plt.close(fig)


def _numeric_plots(summary, folder, name, title):
    """Saves ``<name>.png`` and, where runs have a history,
    ``<name>-curves.png``; returns the Markdown that shows them."""
    save_figures({f"{name}.png": dice_plot(summary, title),
           f"{name}-curves.png": learning_curves(summary)}, folder)
    lines = [f"![validation and test Dice per variant]({name}.png)", ""]
    if (Path(folder) / f"{name}-curves.png").exists():
        lines += ["Training (dotted) and validation (solid) Dice per epoch "
                  "of every run:", "", f"![learning curves]({name}-curves.png)",
                  ""]
    return lines


def _figure(folder, name, alt, before=()):
    """The Markdown of a model-drawn figure, or nothing when it is missing."""
    if not (Path(folder) / name).exists():
        return []
    return [*before, f"![{alt}]({name})", ""]


def header(summary, title):
    return [f"# {title}", "", f"Numbers made by {render.provenance(summary)}.",
            ""]


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
        f"Machine: {render.machine_text(summary['machine'])}. Training time of "
        f"all runs: {summary['train_seconds_total'] / 60:.1f} min.",
        "",
    ]


def _finish(lines, summary, folder, name, values):
    """Appends the filled discussion, if there is one (``values``: the
    function that computes its values), and writes ``<name>.md``."""
    lines.append(render.discussion(name, {name: values(summary, folder)}))
    atomic.write_text(Path(folder) / f"{name}.md", "\n".join(lines))


def _command(summary, step, extra=""):
    s = summary["settings"]
    return (f"python -m {render.module(summary, 'experiments')} {step}{extra} "
            f"--width {s['width']} --epochs {s['epochs']} "
            f"--seeds {summary['seeds']}")


# --- the renderers ------------------------------------------------------------

def write_losses_report(summary, folder=REPORTS):
    """Saves ``losses.json`` and renders ``losses.md`` and its plots from it."""
    folder = Path(folder)
    atomic.write_json(folder / "losses.json", summary)
    lines = [*header(summary, "Loss comparison"),
             *results_table(summary, "loss"), "",
             *paired_table(summary),
             *_numeric_plots(summary, folder, "losses",
                             "Loss comparison on the cat set"),
             "Per-seed test Dice:", ""]
    for name, runs in summary["results"].items():
        lines.append(f"- {name}: "
                     + ", ".join(f"{r['test_dice']:.3f}" for r in runs))
    lines += ["", *settings_section(summary, _command(summary, "losses"))]
    _finish(lines, summary, folder, "losses", discussions.losses_values)


def write_augmentation_report(summary, folder=REPORTS):
    """Saves ``augmentation.json`` and renders ``augmentation.md`` and its
    plots from it; links the figures ``draw_augmentation_figures`` saved."""
    folder = Path(folder)
    atomic.write_json(folder / "augmentation.json", summary)
    s, rates, winner = summary["settings"], summary["rates"], summary["winner"]
    command = _command(summary, "augmentation") + "".join(
        f" --variant {name}" for name in summary["variants"])
    lines = [*header(summary, "Data augmentation"),
             f"Loss `{s['loss']}` (the loss comparison's winner), "
             f"{s['epochs']} epochs for every variant: the same number of "
             "training steps with and without augmentation.", "",
             *results_table(summary, "augmentation"), "",
             "| variant | techniques (`--augment`) |", "|---|---|"]
    for name, spec in summary["variants"].items():
        lines.append(f"| {name} | `{spec['augment'] or '(none)'}` |")
    lines += ["", *paired_table(summary, "none"),
              *_numeric_plots(summary, folder, "augmentation",
                              "Augmentation on the cat set")]
    lines += _figure(folder, "augmentation-techniques.png", "techniques", [
        "## What each technique does", "",
        "One training photo and its mask under each technique at its "
        "default strength, and one draw of all of them together:", ""])
    lines += _figure(folder, "augmentation-test-grid.png", "test grid", [
        "## Test images", "",
        f"Every test image with the prediction of `{winner}` (seed 0):", ""])
    if winner != "none":
        lines += _figure(folder, "augmentation-test-large.png", "large", [
            "Its worst, median and best test image, with and without "
            "augmentation (seed 0; each row gives Dice without -> with):", ""])
    headroom = rates["pipeline_images_per_s"] / rates["train_images_per_s"]
    verdict = ("so the pipeline is not what limits training" if headroom > 1
               else "so the pipeline IS what limits training")
    lines += ["## Input pipeline vs training step", "",
              f"With `--augment {rates['augment']}`, batch {rates['batch_size']}: "
              f"the pipeline alone delivers {rates['pipeline_images_per_s']:.0f} "
              f"images/s, a training step consumes "
              f"{rates['train_images_per_s']:.1f} images/s ({headroom:.1f}×), "
              f"{verdict}. Both timed in the same process, one after the "
              f"other (`{render.module(summary, 'experiments')}.pipeline_rates`).", "",
              *settings_section(summary, command)]
    _finish(lines, summary, folder, "augmentation", discussions.augmentation_values)


def _variant_line(name, spec, epochs, base_rate):
    rate = spec.get("learning_rate", base_rate)
    start = "pre-trained" if spec.get("init") else "random"
    if spec.get("freeze_epochs"):
        k = spec["freeze_epochs"]
        return (f"| {name} | {start} | encoder frozen for epochs 1–{k}, "
                f"then all layers to {epochs} | {rate:g}, then "
                f"{spec['fine_tune_learning_rate']:g} |")
    return f"| {name} | {start} | all layers, {epochs} epochs | {rate:g} |"


def _pretrain_section(source, folder=None, summary=None):
    """What the model was pre-trained on and how well it does there; links
    the held-out figure when ``folder`` holds it (or no folder is given).
    ``summary``: the transfer summary, for the version that scored it."""
    name, pc = render.source_name(source), source["config"]
    version = summary or source
    if "held_out" not in source:
        return [f"Pre-trained model: `{source['model']}` ({name}), trained "
                "by another command; its own held-out Dice is not measured "
                "here.", ""]
    held = source["held_out"]
    lines = [
        f"Pre-training source: **{name}** (`{pc['data_dir']}`), not Pascal "
        "VOC: no VOC number is claimed here. To pre-train on VOC, run "
        "`python train.py "
        "--recipe paper --stage voc` and pass its model to this command with `--pretrained "
        "runs/voc/voc.keras`.",
        "",
        "## Pre-training", "",
        f"`--stage pretrain` on {name}: {pc['epochs']} epochs, width "
        f"{pc['width']}, loss `{pc['loss']}`, augmentation `{pc['augment']}`, "
        f"the folder's own 70/30 split (seed {pc['split_seed']}, "
        f"`data/splits/{name}.json`)"
        + (f", {source['seconds'] / 60:.1f} min" if source["seconds"] else "")
        + f". Dice on its own {held['count']} held-out images: "
        f"**{held['mean']['dice']:.3f} ± "
        f"{render.image_sd(held, version):.3f}** (mean ± sd over images).",
        ""]
    if folder is None or (Path(folder) / "transfer-pretrain.png").exists():
        lines += ["![pre-trained model on held-out images]"
                  "(transfer-pretrain.png)", ""]
    zero = source.get("zero_shot_cats")
    if zero:
        lines += [f"The same model, as it is, on the {zero['count']} cat test "
                  f"images (no fine-tuning): Dice {zero['mean']['dice']:.3f} "
                  f"± {render.image_sd(zero, version):.3f} (over images).", ""]
    return lines


def write_transfer_report(summary, folder=REPORTS):
    """Saves ``transfer.json`` and renders ``transfer.md`` and its plots from
    it; links the figures ``draw_transfer_figures`` saved."""
    folder = Path(folder)
    atomic.write_json(folder / "transfer.json", summary)
    results, source, s = summary["results"], summary["pretrain"], summary["settings"]
    pretrain = (f" --pretrain-dir {source['config']['data_dir']} "
                f"--pretrain-epochs {source['config']['epochs']}"
                if "held_out" in source else f" --pretrained {source['model']}")
    command = _command(summary, "transfer", pretrain) + "".join(
        f" --variant {v}" for v in results)
    lines = [*header(summary, "Transfer learning"),
             *_pretrain_section(source, folder, summary),
             "## Fine-tuning on the cats", "",
             "| variant | start | what trains | Adam learning rate |",
             "|---|---|---|---|"]
    lines += [_variant_line(n, summary["variants"][n], s["epochs"],
                            s["learning_rate"]) for n in results]
    zero = source.get("zero_shot_cats")
    extra = [f"| *{render.source_name(source)} model, no fine-tuning* | | "
             f"{zero['mean']['dice']:.3f} | |"] if zero else []
    lines += ["", *results_table(summary, "variant", extra)]
    lines += ["", *paired_table(summary, "scratch"),
              *_numeric_plots(summary, folder, "transfer",
                              "Transfer learning, cat set")]
    best = best_transferred(summary)
    lines += _figure(folder, "transfer-before-after.png", "before and after", [
        "## Before and after transfer, same test images", "",
        f"The worst, median and best test image of `{best}` (seed 0), with "
        "the prediction of the from-scratch model (seed 0); each row gives "
        "Dice from scratch -> after transfer:", ""])
    lines += settings_section(summary, command)
    _finish(lines, summary, folder, "transfer", discussions.transfer_values)


def best_transferred(summary):
    """The transferred variant with the best mean validation Dice, or None."""
    return next((n for n in render.ranking(summary) if n != "scratch"), None)




def write_sources_report(summary, folder=REPORTS):
    """Writes ``sources.md`` and ``sources.json``: pre-training sources
    compared at one budget of images, each fine-tuned the same way."""
    folder = Path(folder)
    atomic.write_json(folder / "sources.json", summary)
    names = list(summary["results"])
    first = names[0]
    runs = summary["results"]
    lines = ["# Pre-training sources", "",
             f"Each source pre-trains on about {summary['budget_images']} "
             "images in all (epochs x its training pairs), so none wins by "
             "training longer; then every seed fine-tunes on the cats with "
             "the encoder frozen, then unfrozen, exactly as in the transfer "
             f"study. Differences are paired per seed against `{first}`.", "",
             "| source | pre-training epochs | own held-out Dice | cats, no "
             "fine-tuning | validation Dice | test Dice | Δ validation | "
             "Δ test |", "|---|---|---|---|---|---|---|---|"]
    for name in names:
        source = summary["pretrain"][name]
        val = [r["val_dice"] for r in runs[name]]
        test = [r["test_dice"] for r in runs[name]]
        deltas = ["", ""]
        if name != first:
            deltas = [stats.format_difference(stats.paired_difference(
                mine, [r[key] for r in runs[first]]))
                for mine, key in ((val, "val_dice"), (test, "test_dice"))]
        held = source["held_out"]
        zero = source.get("zero_shot_cats", {}).get("mean", {}).get("dice")
        lines.append(
            f"| {name} | {source['config']['epochs']} | "
            f"{held['mean']['dice']:.3f} ({held['count']} images) | "
            f"{'' if zero is None else f'{zero:.3f}'} | "
            f"{stats.format_mean_sd(val)} | {stats.format_mean_sd(test)} | "
            f"{deltas[0]} | {deltas[1]} |")
    for name in names:
        labels = summary["pretrain"][name].get("pseudo_labels")
        if labels:
            kept = ", ".join(str(part["kept"]) for part in labels)
            lines += ["", f"`{name}` has no masks: for seed *s* its "
                      f"{labels[0]['photos']} photos are pseudo-labelled by "
                      f"the seed's `{first}` model (which has seen only fold "
                      "*s*'s training photos) and the most confident are kept "
                      f"({kept} per seed), so it is pre-trained once per seed; "
                      "its scores before fine-tuning are the seeds' means, and "
                      "its own held-out Dice measures agreement with the "
                      "teacher's pseudo-masks, not with true masks."]
    lines += ["", f"Winner on validation: `{summary['winner']}`. Made by "
              f"catunet {summary['code_version']} on "
              f"{render.machine_text(summary['machine'])}; every run's "
              "config in `sources.json`.", ""]
    atomic.write_text(folder / "sources.md", "\n".join(lines))
