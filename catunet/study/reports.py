"""Markdown reports of the experiments (``catunet.study.experiments``), and
the figures that need the experiments' models.

Two kinds of function:

* Renderers — ``write_losses_report``, ``write_augmentation_report`` and
  ``write_transfer_report`` — read nothing but the summary an experiment
  returned (saved beside the report as ``<name>.json``): they save it, draw
  its numeric plots (Dice per variant; learning curves where the runs carry
  their history) and write ``<name>.md`` from the template
  ``templates/<name>.md.j2`` (which extends ``step.md.j2``), with
  ``<name>-discussion.md.j2`` filled in from it (``catunet.study.render``).
  ``python -m catunet.study.report --render`` reruns them on the committed
  JSON. ``write_sources_report`` fills ``sources.md.j2`` the same way.
* Figure functions — ``draw_augmentation_figures`` and
  ``draw_transfer_figures`` — load the runs' models and the photos, at
  experiment time, and save the prediction figures. A renderer links such a
  figure when its file is there, so call them first.
"""

import json
from pathlib import Path

from catunet import atomic
from catunet.study import discussions, render, stats

REPORTS = Path("reports")


# --- numeric plots and what the pages compare (from the summary alone) ------

def paired_rows(summary, control=None):
    """The pairs a step's page compares (``render.comparisons``), each with
    its paired differences: ``{"a", "b", "val", "test"}``."""
    return [{"a": a, "b": b, "val": render.paired(summary, a, b),
             "test": render.paired(summary, a, b, "test_dice")}
            for a, b in render.comparisons(summary, control)]


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
    ``<name>-curves.png`` (the page links what is there)."""
    save_figures({f"{name}.png": dice_plot(summary, title),
                  f"{name}-curves.png": learning_curves(summary)}, folder)


def write_step(summary, folder, name, command, values, **view):
    """Writes ``<name>.md`` from ``templates/<name>.md.j2`` (which extends
    ``step.md.j2``), filled from ``summary``, the figures in ``folder``,
    the filled discussion (``values``: the function that computes its
    values) and ``view``, what the page alone needs. Draw the figures
    first: the page links those that are there."""
    folder = Path(folder)
    text = render.ENVIRONMENT.get_template(f"{name}.md.j2").render(
        s=summary, command=command, provenance=render.provenance(summary),
        machine=render.machine_text(summary["machine"]),
        settings_json=json.dumps(summary["settings"], indent=2),
        figures={path.name for path in folder.glob("*.png")},
        discussion=render.discussion(name, {name: values(summary, folder)}),
        **view)
    atomic.write_text(folder / f"{name}.md", text)


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
    _numeric_plots(summary, folder, "losses", "Loss comparison on the cat set")
    write_step(summary, folder, "losses", _command(summary, "losses"),
               discussions.losses_values, pairs=paired_rows(summary))


def write_augmentation_report(summary, folder=REPORTS):
    """Saves ``augmentation.json`` and renders ``augmentation.md`` and its
    plots from it; links the figures ``draw_augmentation_figures`` saved."""
    folder = Path(folder)
    atomic.write_json(folder / "augmentation.json", summary)
    rates = summary["rates"]
    command = _command(summary, "augmentation") + "".join(
        f" --variant {name}" for name in summary["variants"])
    _numeric_plots(summary, folder, "augmentation",
                   "Augmentation on the cat set")
    write_step(summary, folder, "augmentation", command,
               discussions.augmentation_values,
               pairs=paired_rows(summary, "none"),
               headroom=rates["pipeline_images_per_s"]
               / rates["train_images_per_s"],
               experiments=render.module(summary, "experiments"))


def pretrain_view(source, folder=None, summary=None):
    """What ``templates/transfer-pretrain.md.j2`` is filled from: ``source``
    (a transfer summary's ``pretrain``), its name, the sample sds of its
    scores over images (``summary``: the transfer summary, for the version
    that scored them) and whether ``folder`` holds the held-out figure (or
    no folder is given)."""
    version = summary or source
    held, zero = source.get("held_out"), source.get("zero_shot_cats")
    return {"source": source, "source_name": render.source_name(source),
            "held_sd": render.image_sd(held, version) if held else None,
            "zero": zero,
            "zero_sd": render.image_sd(zero, version) if zero else None,
            "held_out_figure": folder is None
            or (Path(folder) / "transfer-pretrain.png").exists()}


def _pretrain_section(source, folder=None, summary=None):
    """What the model was pre-trained on and how well it does there, as
    lines (``pretrain_view`` says what fills them)."""
    return render.ENVIRONMENT.get_template("transfer-pretrain.md.j2").render(
        **pretrain_view(source, folder, summary)).split("\n")


def write_transfer_report(summary, folder=REPORTS):
    """Saves ``transfer.json`` and renders ``transfer.md`` and its plots from
    it; links the figures ``draw_transfer_figures`` saved."""
    folder = Path(folder)
    atomic.write_json(folder / "transfer.json", summary)
    source = summary["pretrain"]
    pretrain = (f" --pretrain-dir {source['config']['data_dir']} "
                f"--pretrain-epochs {source['config']['epochs']}"
                if "held_out" in source else f" --pretrained {source['model']}")
    command = _command(summary, "transfer", pretrain) + "".join(
        f" --variant {v}" for v in summary["results"])
    _numeric_plots(summary, folder, "transfer", "Transfer learning, cat set")
    write_step(summary, folder, "transfer", command,
               discussions.transfer_values,
               pairs=paired_rows(summary, "scratch"),
               best=best_transferred(summary),
               **pretrain_view(source, folder, summary))


def best_transferred(summary):
    """The transferred variant with the best mean validation Dice, or None."""
    return next((n for n in render.ranking(summary) if n != "scratch"), None)




def write_sources_report(summary, folder=REPORTS):
    """Writes ``sources.md`` (``templates/sources.md.j2``) and
    ``sources.json``: pre-training sources compared at one budget of
    images, each fine-tuned the same way, paired per seed against the
    first."""
    folder = Path(folder)
    atomic.write_json(folder / "sources.json", summary)
    runs = summary["results"]
    first = next(iter(runs))
    deltas = {name: {key: stats.paired_difference(
        [r[metric] for r in runs[name]], [r[metric] for r in runs[first]])
        for key, metric in (("val", "val_dice"), ("test", "test_dice"))}
        for name in runs if name != first}
    zero = {name: source.get("zero_shot_cats", {}).get("mean", {}).get("dice")
            for name, source in summary["pretrain"].items()}
    atomic.write_text(folder / "sources.md", render.ENVIRONMENT.get_template(
        "sources.md.j2").render(
        s=summary, first=first, deltas=deltas, zero=zero,
        machine=render.machine_text(summary["machine"])))
