"""How much of the scenes' own people and animals a ladder's fold models
mark as cat: ``python -m catunet.study.mistaken``.

    python -m catunet.study.mistaken \\
        --ladder reports/ladder-paste-negatives/quality.json \\
        --frames ../shared/data/davis

The ladder's scene Dice leaves out each frame's own foreground (a person,
a dog, a car: ``catunet.data.scenes.dice``), so a model that outlines the
person beside a cat loses nothing there. This report scores the fold
models of every step of a recorded ladder whose runs are still in
``runs/`` on the same validation scenes as that ladder (each fold's own
cats, the same frames and scene seed, the frames of its
``--negative-photos`` sequences left out), at the plain inference
settings as the ladder scores scenes. For each it gives the scene Dice
again (the ladder's number, as a check) and the share of the frames' own
foreground marked as cat (``catunet.data.scenes.marked``), paired by fold
against the kept recipe. Only validation cats take part; it chooses
nothing, and says whether a step aimed at "a person is not a cat" changed
what it aimed at. With ``--with-inference`` it also scores the kept
recipe's fold models with each inference option the ladder kept (e.g.
``--cat-boxes``), each against the row above. It writes
``mistaken.json`` and ``mistaken.md``.
"""

import argparse
import json
import re
import sys
from pathlib import Path

import numpy as np

from catunet import __version__, atomic
from catunet.flags import HelpFormatter
from catunet.data import scenes
from catunet.errors import CatunetError
from catunet.inference.predict import Settings
from catunet.models.saving import load_model
from catunet.study import experiments, render, stats
from catunet.study.quality import ladder_scenes
from catunet.study.scenes import Remembered, score_scenes, summarize_kinds
from catunet.training import machine

REPORTS = Path("reports")
BASELINE = "kept recipe, retrained"


def scored_steps(ladder):
    """The ladder's steps whose fold models are all still on disk:
    ``{name: [(fold, model path), ...]}``, in the ladder's order. A step
    whose models a later row names again (``kept recipe, retrained`` is
    the last kept step's runs, found by key) appears once, by the later
    name."""
    found = {}
    for step in ladder["steps"]:
        paths = [(r["config"]["val_fold"], Path(r["folder"]) / "cats.keras")
                 for r in step["runs"]]
        if paths and all(p.is_file() for _, p in paths):
            found = {name: old for name, old in found.items()
                     if old != paths}
            found[step["name"]] = paths
    return found


def score_fold(model, made, settings=Settings()):
    """Scene Dice (the mean over kinds, as the ladder's) and the mean
    share of the frames' own foreground marked as cat, on one fold's
    scenes, with the inference ``settings`` (default: plain)."""
    predicted, rows = score_scenes(model, made, settings)
    shares = [scenes.marked(s, p) for s, p in zip(made, predicted)]
    shares = [x for x in shares if x is not None]
    return {"dice": summarize_kinds(rows)["dice"],
            "marked": float(np.mean(shares)) if shares else None,
            "scenes": len(made), "with_foreground": len(shares)}


def inference_rows(ladder):
    """``[(row name, settings dict), ...]``: each option the ladder's choice
    of inference settings kept after the plain settings, with those kept
    before it, in the order chosen."""
    return [(f"{BASELINE}, {t['group']}", t["settings"])
            for t in ladder.get("inference", {}).get("tried", [])
            if t["kept"] and t["group"] != "plain"]


def run(ladder_path, frames_dir, steps=None, data_dir=None, command="",
        progress=print, with_inference=False):
    """Scores the steps' fold models; returns the summary.

    Args:
        ladder_path: A ladder's ``quality.json``.
        frames_dir: The ladder's ``--scenes-frames`` folder.
        steps: Step names to score (default: every one on disk).
        with_inference: Also score the kept recipe's fold models with
            each option the ladder's inference choice kept
            (``inference_rows``), each row paired against the one above.
    """
    ladder = json.loads(Path(ladder_path).read_text())
    found = scored_steps(ladder)
    if steps:
        missing = [s for s in steps if s not in found]
        if missing:
            raise CatunetError(f"{ladder_path}: no fold models on disk for "
                               f"{', '.join(missing)}")
        found = {s: found[s] for s in steps}
    if not found:
        raise CatunetError(f"{ladder_path}: none of its steps' fold models "
                           "is in runs/")
    study = experiments.Study.load(data_dir, ladder["seeds"])
    frames, made = ladder_scenes(study, frames_dir,
                                 ladder.get("negative_photos"))
    rows = []
    for name, models in found.items():
        folds = []
        for fold, path in models:
            progress(f"{name}, fold {fold}: {path}")
            folds.append({"fold": fold, "model": str(path),
                          **score_fold(load_model(path), made[fold])})
        rows.append({"name": name, "folds": folds})
    if with_inference:
        if BASELINE not in found:
            raise CatunetError(f"{ladder_path}: the fold models of "
                               f"'{BASELINE}' are not in runs/")
        options = inference_rows(ladder)
        per_option = {name: [] for name, _ in options}
        for fold, path in found[BASELINE]:
            model = Remembered(load_model(path))  # passes shared by rows
            for name, settings in options:
                progress(f"{name}, fold {fold}")
                per_option[name].append(
                    {"fold": fold, "model": str(path), "settings": settings,
                     **score_fold(model, made[fold], Settings(**settings))})
        rows += [{"name": name, "folds": folds, "inference": True}
                 for name, folds in per_option.items()]
    return {"command": command, "ladder": str(ladder_path),
            "frames": str(frames_dir),
            "frame_count": len(frames), "machine": machine.describe(),
            "code_version": __version__, "steps": rows}


def markdown(summary):
    """``mistaken.md``: a row per step, the marked share paired by fold
    against the kept recipe."""
    steps = {row["name"]: row for row in summary["steps"]}
    base = steps.get(BASELINE)
    lines = [
        "# What the fold models mark on the frames' own people and animals",
        "",
        f"Validation scenes of `{summary['ladder']}` (each fold's own cats "
        f"pasted onto {summary['frame_count']} frames of "
        f"`{summary['frames']}`, the same scenes as the ladder's), at the "
        "plain inference settings unless a row names an inference option. "
        "*Marked*: the share of each frame's own "
        "foreground (its people, animals and vehicles, which scene Dice "
        "leaves out) predicted as cat, averaged over the scenes, mean ± sd "
        "over the folds; lower is better. Differences are paired by fold "
        f"against `{BASELINE}`; a row of its fold models with an option "
        "the ladder's choice of inference settings kept (the options kept "
        "before it too) is paired against the row above it.",
        "",
        "| step | scene Dice | marked | Δ marked vs kept recipe |",
        "|---|---|---|---|"]
    above = None
    for name, row in steps.items():
        marked = [f["marked"] for f in row["folds"]]
        versus = ""
        against = above if row.get("inference") else base
        if against is not None and row is not against:
            versus = stats.format_difference(stats.paired_difference(
                marked, [f["marked"] for f in against["folds"]]))
        if name == BASELINE or row.get("inference"):
            above = row
        lines.append(
            f"| {name} | "
            f"{stats.format_mean_sd([f['dice'] for f in row['folds']])} | "
            f"{stats.format_mean_sd(marked)} | {versus} |")
    lines += ["", render.made_by(summary)]
    return "\n".join(lines) + "\n"


def parser():
    p = argparse.ArgumentParser(
        prog="python -m catunet.study.mistaken",
        description="How much of the validation scenes' own people and "
        "animals a recorded ladder's fold models mark as cat.",
        formatter_class=HelpFormatter)
    p.add_argument("--ladder", required=True, metavar="JSON",
                   help="a ladder's quality.json; its steps' fold models "
                   "are read from the folders it records")
    p.add_argument("--frames", required=True,
                   help="the ladder's --scenes-frames folder (images/ and "
                   "masks/: the masks say what is each frame's own "
                   "foreground)")
    p.add_argument("--steps", default=None,
                   help="comma-separated step names to score (a comma "
                   "followed by a space is part of a name, as in 'kept "
                   "recipe, retrained'; default: every step whose fold "
                   "models are on disk)")
    p.add_argument("--data-dir", default=None,
                   help="the labelled photos (default: $CATUNET_DATA_DIR, "
                   "else data/cats)")
    p.add_argument("--with-inference", action="store_true",
                   help=f"also score the fold models of '{BASELINE}' with "
                   "each option the ladder's choice of inference settings "
                   "kept, one row per option, each paired against the row "
                   "above it")
    p.add_argument("--report", default=str(REPORTS),
                   help="folder to write mistaken.json and mistaken.md to")
    return p


def command_line(args):
    """The command that makes these numbers, as a user would type it."""
    command = (f"python -m catunet.study.mistaken --ladder {args.ladder} "
               f"--frames {args.frames}")
    if args.steps:
        command += f" --steps '{args.steps}'"
    if args.data_dir:
        command += f" --data-dir {args.data_dir}"
    if args.with_inference:
        command += " --with-inference"
    if args.report != str(REPORTS):
        command += f" --report {args.report}"
    return command


def step_names(text):
    """``--steps``' names: split at commas, but not at ", ", which is part
    of a name (``kept recipe, retrained``)."""
    return [name.strip() for name in re.split(r",(?! )", text)
            if name.strip()]


def main(argv=None):
    args = parser().parse_args(argv)
    try:
        steps = step_names(args.steps) if args.steps else None
        summary = run(args.ladder, args.frames, steps, args.data_dir,
                      command_line(args), with_inference=args.with_inference)
    except CatunetError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    folder = Path(args.report)
    atomic.write_json(folder / "mistaken.json", summary)
    atomic.write_text(folder / "mistaken.md", markdown(summary))
    print(f"Wrote {folder / 'mistaken.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
