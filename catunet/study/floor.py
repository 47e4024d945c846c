"""The validation photos a recorded ladder leaves below a floor:
``python -m catunet.study.floor``.

    python -m catunet.study.floor \\
        --ladder reports/ladder-fewer-paste-negatives/quality.json

Issue 11 asks for no test photo below 0.5 Dice. The ladder chooses by mean
scores, which a photo or two barely move; this report reads the per-photo
validation Dice every step's runs recorded (``val_dice_per_image``, fold
*s* for seed *s*, at the plain settings the ladder chooses steps by) and
says, for the same target on validation:

* how many validation photos each step leaves below the floor, and its
  worst photo on each fold;
* every photo below the floor in the kept recipe, with the best Dice any
  step reached on it, and how many steps reached the floor there;
* along the ladder's choice of inference settings (where the ladder
  recorded each option's per-photo Dice), the photos each kept option
  leaves below the floor.

A photo that every recipe measured leaves below the floor is a failure of
the whole family of recipes, not of a seed. It trains nothing and chooses
nothing; it writes ``floor.json`` and ``floor.md``.
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from catunet import __version__, atomic
from catunet.flags import HelpFormatter
from catunet.errors import CatunetError
from catunet.study import experiments, render
from catunet.training import machine

REPORTS = Path("reports")
FLOOR = 0.5


def distinct_steps(ladder):
    """The ladder's steps with a run per fold, each set of runs once, under
    the name of the step that first trained it: a later row that names the
    same runs (``kept recipe, retrained`` is the last kept step's runs,
    found in the same folders with the same scores) adds only whether it
    was kept; a folder trained again, with other scores, is a new row.
    Returns ``[(name, kept, runs), ...]`` in order."""
    found = {}
    for step in ladder["steps"]:
        runs = step["runs"]
        if len(runs) != ladder["seeds"]:
            continue
        keys = tuple((r["folder"], r["val_dice"]) for r in runs)
        name, kept, _ = found.get(keys, (step["name"], False, runs))
        found[keys] = (name, kept or step["kept"], runs)
    return list(found.values())


def below_floor(ladder, names, floor=FLOOR):
    """The floor report's numbers.

    Args:
        ladder: A recorded ladder (its ``quality.json``).
        names: Each fold's validation photo names, in the runs' order.
        floor: The Dice a photo should reach.

    Returns:
        ``{"floor", "steps": [...], "photos": [...]}``: for each distinct
        step its name, whether it was kept, how many validation photos it
        leaves below the floor and its worst Dice per fold; for each photo
        below the floor in the last kept step, its fold, that Dice, the
        best Dice of any step with the step's name, and how many steps
        reach the floor on it.
    """
    steps = distinct_steps(ladder)
    if not steps:
        raise CatunetError("the ladder records no step with a run per fold")
    kept = [i for i, (_, was_kept, _) in enumerate(steps) if was_kept]
    if not kept:
        raise CatunetError("the ladder records no kept step")
    rows, photos = [], []
    dice = []  # per fold: steps x photos
    for fold, fold_names in enumerate(names):
        scores = np.array([runs[fold]["val_dice_per_image"]
                           for _, _, runs in steps])
        if scores.shape[1] != len(fold_names):
            raise CatunetError(
                f"fold {fold}: the ladder scored {scores.shape[1]} photos, "
                f"the split names {len(fold_names)}")
        dice.append(scores)
    for i, (name, was_kept, _) in enumerate(steps):
        rows.append({"name": name, "kept": was_kept,
                     "below": int(sum((d[i] < floor).sum() for d in dice)),
                     "photos": int(sum(d.shape[1] for d in dice)),
                     "worst": [float(d[i].min()) for d in dice]})
    recipe = kept[-1]
    for fold, (scores, fold_names) in enumerate(zip(dice, names)):
        for j, photo in enumerate(fold_names):
            if scores[recipe, j] >= floor:
                continue
            best = int(scores[:, j].argmax())
            photos.append({"name": photo, "fold": fold,
                           "kept_recipe": float(scores[recipe, j]),
                           "best": float(scores[best, j]),
                           "best_step": steps[best][0],
                           "reaching": int((scores[:, j] >= floor).sum()),
                           "steps": len(steps)})
    return {"floor": floor, "kept_recipe": steps[recipe][0], "steps": rows,
            "photos": photos, "inference": inference_floor(ladder, names,
                                                           floor)}


def inference_floor(ladder, names, floor=FLOOR):
    """The same count along the ladder's choice of inference settings, on
    the kept recipe's fold runs: for each option it kept (from the plain
    settings on), the validation photos below the floor with it, and their
    Dice. Options recorded without per-photo Dice (ladders before it was
    recorded) are left out.

    Returns:
        ``[{"group", "settings", "below": [{"name", "fold", "dice"}],
        "photos", "worst"}, ...]``, in the order chosen.
    """
    rows, before = [], None
    for tried in ladder.get("inference", {}).get("tried", []):
        per_fold = tried.get("val_dice_per_image")
        if not tried["kept"] or per_fold is None:
            continue
        if [len(d) for d in per_fold] != [len(n) for n in names]:
            raise CatunetError("the inference rows scored other photos than "
                               "the split's validation folds hold")
        photos = [{"name": name, "fold": fold, "dice": float(d)}
                  for fold, (dice, fold_names) in enumerate(
                      zip(per_fold, names))
                  for name, d in zip(fold_names, dice)]
        rows.append({
            "group": tried["group"], "settings": tried["settings"],
            "below": [p for p in photos if p["dice"] < floor],
            "photos": len(photos),
            "worst": [float(min(d)) for d in per_fold],
            "moved": moved(before, photos)})
        before = photos
    return rows


def moved(before, after, by=0.01):
    """What an inference option changed, against the row above it: how
    many photos moved by ``by`` Dice or more, and its largest rise and
    largest fall (``{"name", "fold", "before", "after"}``), or None for
    the first row."""
    if before is None:
        return None
    pairs = [{"name": a["name"], "fold": a["fold"], "before": b["dice"],
              "after": a["dice"]} for b, a in zip(before, after)]
    change = [p["after"] - p["before"] for p in pairs]
    return {"count": sum(abs(c) >= by for c in change), "by": by,
            "rise": pairs[int(np.argmax(change))],
            "fall": pairs[int(np.argmin(change))]}


def run(ladder_path, data_dir=None, command=""):
    """Reads the ladder and its split's fold names (no photo decoded);
    returns the summary."""
    ladder = json.loads(Path(ladder_path).read_text())
    folds = experiments.split_folds(data_dir, ladder["seeds"])[-1]
    names = [[pair.image.name for pair in fold] for fold in folds]
    return {"command": command, "ladder": str(ladder_path),
            "machine": machine.describe(), "code_version": __version__,
            **below_floor(ladder, names)}


def markdown(summary):
    """``floor.md``: the steps' counts, then the photos below the floor."""
    floor = summary["floor"]
    lines = [
        f"# Validation photos below {floor} Dice", "",
        f"Per-photo validation Dice recorded by `{summary['ladder']}` (fold "
        "*s* for seed *s*, the plain settings the ladder chooses steps by), "
        "each distinct set of runs once. The ladder chooses by mean scores; "
        "this counts the photos the issue's floor is about.", "",
        f"| step | kept | photos below {floor} | worst photo per fold |",
        "|---|---|---|---|"]
    for row in summary["steps"]:
        lines.append(f"| {row['name']} | {'yes' if row['kept'] else 'no'} | "
                     f"{row['below']} of {row['photos']} | "
                     + ", ".join(f"{w:.2f}" for w in row["worst"]) + " |")
    lines += ["", f"Photos below {floor} in the kept recipe "
              f"(`{summary['kept_recipe']}`), with the best any step did:",
              "", "| photo | fold | kept recipe | best (step) | steps "
              f"reaching {floor} |", "|---|---|---|---|---|"]
    for p in summary["photos"]:
        lines.append(f"| {p['name']} | {p['fold']} | {p['kept_recipe']:.2f} "
                     f"| {p['best']:.2f} ({p['best_step']}) | "
                     f"{p['reaching']} of {p['steps']} |")
    if not summary["photos"]:
        lines.append("| none | | | | |")
    if summary.get("inference"):
        lines += ["", "Along the ladder's choice of inference settings, on "
                  "the kept recipe's fold runs (each option the choice "
                  "kept, on top of those above it):", "",
                  f"| option kept | flags so far | photos below {floor} | "
                  "worst photo per fold | against the row above |",
                  "|---|---|---|---|---|"]
        for row in summary["inference"]:
            flags = " ".join(render.inference_flags(row["settings"]))
            below = ", ".join(f"{p['name']} ({p['dice']:.2f})"
                              for p in row["below"])
            lines.append(
                f"| {row['group']} | {flags or 'none'} | "
                f"{len(row['below'])} of {row['photos']}"
                + (f": {below}" if below else "") + " | "
                + ", ".join(f"{w:.2f}" for w in row["worst"]) + " | "
                + _moved_text(row.get("moved")) + " |")
    lines += ["", render.made_by(summary)]
    return "\n".join(lines) + "\n"


def _moved_text(found):
    if not found:
        return ""

    def one(p):
        return f"{p['name']} {p['before']:.2f} → {p['after']:.2f}"
    return (f"{found['count']} photos moved by {found['by']:g} or more; "
            f"largest rise {one(found['rise'])}, largest fall "
            f"{one(found['fall'])}")


def parser():
    p = argparse.ArgumentParser(
        prog="python -m catunet.study.floor",
        description="The validation photos a recorded ladder's steps leave "
        f"below {FLOOR} Dice, and the best any step did on them.",
        formatter_class=HelpFormatter)
    p.add_argument("--ladder", required=True, metavar="JSON",
                   help="a ladder's quality.json (its per-photo validation "
                   "Dice is read from it; no model is loaded)")
    p.add_argument("--data-dir", default=None,
                   help="the labelled photos, for the names of each fold's "
                   "photos (default: $CATUNET_DATA_DIR, else data/cats)")
    p.add_argument("--report", default=None,
                   help="folder to write floor.json and floor.md to "
                   "(default: the ladder's own folder)")
    return p


def command_line(args):
    """The command that makes these numbers, as a user would type it."""
    command = f"python -m catunet.study.floor --ladder {args.ladder}"
    if args.data_dir:
        command += f" --data-dir {args.data_dir}"
    if args.report:
        command += f" --report {args.report}"
    return command


def main(argv=None):
    args = parser().parse_args(argv)
    try:
        path = Path(args.ladder)
        if not path.is_file():
            raise CatunetError(f"{path}: no such ladder file")
        summary = run(path, args.data_dir, command_line(args))
    except CatunetError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    folder = Path(args.report) if args.report else path.parent
    atomic.write_json(folder / "floor.json", summary)
    atomic.write_text(folder / "floor.md", markdown(summary))
    print(f"Wrote {folder / 'floor.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
