"""REPORT.md, the whole study on one page (``templates/REPORT.md.j2``):
the results table of every step, the time it took, each step's figures
and discussion, the contours, the recipe over the pretrained encoder and
the settings, from the JSON summaries alone."""

import json
from pathlib import Path

import numpy as np

from catunet import atomic
from catunet.study import discussions, encoder_report, render, stats
from catunet.study.reports import REPORTS

REPORT = Path("REPORT.md")
STEPS = ("losses", "augmentation", "transfer")
# The smallest study that still answers every question: two losses,
# augmentation on and off, the transfer variants (``--core``; None: all).
CORE = {"losses": ("bce", "bce+dice"), "augmentation": ("none", "recommended"),
        "transfer": None}


def _experiments(summary, step):
    return f"python -m {render.module(summary, 'experiments')} {step}"


def _row(step, name, runs, command):
    test = [r["test_dice"] for r in runs]
    minutes = np.mean([r["seconds"] for r in runs]) / 60
    return (f"| {step} | {name} | {stats.format_mean_sd(test)} | "
            f"{len(runs)} | {minutes:.1f} min | `{command}` |")


def results_table(steps, default, contours):
    """Step → test Dice mean ± sd, seeds, training time per run, command."""
    lines = ["| step | variant | test Dice (mean ± sd) | seeds | train time "
             "per run | rerun with |", "|---|---|---|---|---|---|"]
    losses = steps["losses"]
    for name, value in losses["baselines"].items():
        lines.append(f"| 0 baseline | {name} (ignores the photo) | {value:.3f} "
                     f"| – | – | `{_experiments(losses, 'losses')}` |")
    names = {"losses": "1 loss", "augmentation": "2 augmentation",
             "transfer": "3 transfer"}
    for key, step in names.items():
        summary = steps[key]
        for name, runs in summary["results"].items():
            mark = " **(winner)**" if name == summary["winner"] else ""
            lines.append(_row(step, name + mark, runs,
                              _experiments(summary, key)))
    train = steps["losses"]["split"]["train"]
    lines.append(
        f"| default model | `python train.py --recipe paper` (all {train} "
        "training photos) | "
        f"{default['test']['mean']['dice']:.3f} | 1 | "
        f"{default['train_seconds'] / 60:.1f} min | "
        f"`{_experiments(default, 'default')}` |")
    lines.append(
        f"| 4 contours | the default model at each photo's full size | "
        f"{contours['mean_dice']:.3f} | 1 | – | `python visualize.py "
        "--model runs/default/cats.keras` |")
    return lines


def unique_runs(steps, default, only=None):
    """Seconds of every distinct training run behind the report (steps share
    runs: augmentation's ``none`` is the loss study's ``bce+dice``).

    Args:
        only: ``{step: variant names or None for all}`` to count (e.g.
            ``CORE``); None: all.
    """
    seconds = {}
    for step, summary in steps.items():
        for name, runs in summary["results"].items():
            if only is None or only[step] is None or name in only[step]:
                for run in runs:
                    seconds[_identity(run)] = run["seconds"]
    pretrain = steps["transfer"]["pretrain"]
    seconds[pretrain.get("key") or pretrain["model"]] = pretrain["seconds"]
    seconds[_identity(default)] = default["train_seconds"]
    return seconds


def _identity(run):
    """What makes two runs the same: their key where the summary records
    one, else their folder."""
    return run.get("key") or run["config"]["out"]


def contours_values(contours):
    samples = contours["samples"]
    worst = next((s for label, s in samples.items() if label.startswith("worst")),
                 None)
    values = {"count": contours["count"], "mean": f"{contours['mean_dice']:.3f}",
              "median": f"{samples['median']['dice']:.2f}" if "median" in samples
              else f"{np.median(list(contours['dice_per_image'].values())):.2f}",
              "has_failure": worst is not None,
              "figures_described":
                  render.code_version(contours) == render.FIGURES_READ}
    if worst:
        values.update(worst_photo=worst["image"], worst=f"{worst['dice']:.2f}",
                      worst_note=render.PHOTO_NOTES.get(worst["image"], ""))
    return values


def default_values(default, steps):
    return {"test": f"{default['test']['mean']['dice']:.3f}",
            "minutes": f"{default['train_seconds'] / 60:.1f}",
            "train_photos": steps["losses"]["split"]["train"],
            "machine": machines_of(steps, default),
            "version": render.provenance(default)}


def study_values(steps, default, contours, folder=REPORTS):
    """Every namespace a discussion or README section may use."""
    return {"losses": discussions.losses_values(steps["losses"], folder),
            "augmentation": discussions.augmentation_values(steps["augmentation"],
                                                       folder),
            "transfer": discussions.transfer_values(steps["transfer"], folder),
            "contours": contours_values(contours),
            "default": default_values(default, steps)}


def machines_of(steps, default):
    seen = [render.machine_text(s["machine"]) for s in (*steps.values(), default)]
    return "; ".join(dict.fromkeys(seen))


def versions_of(steps, default, contours):
    """Which code made the numbers; per part when the parts differ."""
    parts = {**steps, "default model": default, "contours": contours}
    made = {}
    for name, summary in parts.items():
        made.setdefault(render.provenance(summary), []).append(name)
    if len(made) == 1:
        return next(iter(made))
    return "; ".join(f"{', '.join(names)}: {version}"
                     for version, names in made.items())


def shared_settings(steps):
    """The settings every step's runs share (what the steps vary is not)."""
    first, *rest = (steps[name]["settings"] for name in STEPS)
    return {k: v for k, v in first.items()
            if all(k in s and s[k] == v for s in rest)}


# Each step's figures in REPORT.md, with their captions, where drawn.
FIGURES = {
    "losses": [("losses.png", "Dice per loss"),
               ("losses-curves.png", "curves")],
    "augmentation": [("augmentation-techniques.png", "techniques"),
                     ("augmentation.png", "Dice per variant"),
                     ("augmentation-test-large.png",
                      "with and without augmentation")],
    "transfer": [("transfer-pretrain.png",
                  "pre-trained model, held-out images"),
                 ("transfer.png", "Dice per variant"),
                 ("transfer-before-after.png", "before and after transfer")]}
ARCHIVE = Path("reports") / "from-scratch"
ARCHIVED_AT = "a8a9a25"  # the last commit whose code made the archive


def _discussion(name, values):
    """A step's discussion as REPORT.md shows it: headings a level down,
    links from the repository's root."""
    text = render.discussion(name, values).replace("## ", "### ")
    return text.replace("](", "](reports/").replace("](reports/http", "](http")


def encoder_section(folder=REPORTS):
    """README's text on the recipe over the pretrained encoder, from the
    report of the recipe that ships (``encoder_report.SHIPPING``), or None
    before it ran."""
    found = Path(folder) / encoder_report.SHIPPING.relative_to(REPORTS) \
        / "ladder.json"
    if not found.is_file():
        return None
    previous = Path(folder) / encoder_report.PREVIOUS.relative_to(REPORTS)
    return encoder_report.readme_section(
        json.loads(found.read_text()),
        json.loads(previous.read_text()) if previous.is_file() else None)


def write_report(steps, default, contours, folder=None, path=None):
    """Writes ``REPORT.md`` (``templates/REPORT.md.j2``) from the summaries
    alone.

    Args:
        folder: The reports folder (figures, the encoder ladder); default
            REPORTS.
        path: Where to write; default REPORT.
    """
    folder, path = Path(folder or REPORTS), Path(path or REPORT)
    runs, core = unique_runs(steps, default), unique_runs(steps, default, CORE)
    settings = shared_settings(steps)
    values = study_values(steps, default, contours, folder)
    text = render.ENVIRONMENT.get_template("REPORT.md.j2").render(
        split=steps["losses"]["split"],
        versions=versions_of(steps, default, contours),
        results_table="\n".join(results_table(steps, default, contours)),
        fold_photos=values["losses"]["fold_photos"],
        runs=len(runs), minutes=sum(runs.values()) / 60,
        core=CORE, core_runs=len(core), core_minutes=sum(core.values()) / 60,
        settings=settings, settings_json=json.dumps(settings, indent=2),
        machines=machines_of(steps, default),
        discussions={name: _discussion(name, values) if name in FIGURES
                     else render.discussion(name, values)
                     for name in (*FIGURES, "summary")},
        figures={name: [(file, caption) for file, caption in figures
                        if (folder / file).exists()]
                 for name, figures in FIGURES.items()},
        samples=contours["samples"], encoder=encoder_section(folder),
        archive=ARCHIVE.as_posix(), archived_at=ARCHIVED_AT)
    atomic.write_text(path, text)
