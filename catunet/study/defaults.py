"""Which model ``catunet train`` trains when given no recipe, on validation.

    python -m catunet.study.defaults --frames ../shared/data/davis \\
        --frames-apart '../shared/data/davis/images/hike_*,...'

The candidates (``CANDIDATES``) are the quick-start models a user waits a
few minutes for: the paper's U-Net trained from scratch (``TrainConfig``'s
defaults, the quick start before the pretrained encoder) and the U-Net over
EfficientNet-Lite0 at 128 px (the ``quick`` recipe; the encoder ladder's
``input size`` row, whose runs are found by key). Both are trained on the
same validation folds and scored on the same validation photos and
validation-cat scenes as the encoder ladder, with plain inference; the one
with the higher mean choosing score becomes the default, and the
difference is reported paired by fold. ``--final-seeds N`` then trains the
winner on all 57 training photos with N seeds and scores the test photos
once: the numbers README's quick start states. Everything lands in
``reports/defaults/`` (``defaults.json``, ``defaults.md``).
"""

import argparse
import time
from pathlib import Path

import numpy as np

import catunet
from catunet import atomic
from catunet.flags import HelpFormatter
from catunet.inference.predict import Settings
from catunet.study import stats
from catunet.study.choosing import keeps, ladder_scenes
from catunet.study.encoder_ladder import (add_validation_flags,
                                          command_line, final, fold_runs,
                                          fold_scores)
from catunet.study.encoder_report import KINDS
from catunet.study.runstore import RUNS
from catunet.study.variants import Study
from catunet.training import machine
from catunet.training.recipes import RECIPES

REPORT = Path("reports") / "defaults"
CANDIDATES = ("paper", "quick")


def run(frames, frames_apart=None, data_dir=None, seeds=3, final_seeds=0,
        runs_dir=RUNS / "defaults", report=REPORT, command=""):
    """Trains (or finds) both candidates on the validation folds, keeps the
    better, optionally tests it once, and writes the report."""
    start = time.perf_counter()
    study = Study.load(data_dir, seeds)
    made = ladder_scenes(study, frames, frames_apart)[1]
    runs = {name: fold_runs(study, RECIPES[name], name, made, runs_dir)
            for name in CANDIDATES}
    winner = "quick" if keeps(runs["quick"], runs["paper"], "score") \
        else "paper"
    other = "paper" if winner == "quick" else "quick"
    summary = {
        "command": command, "machine": machine.describe(),
        "code_version": catunet.__version__,
        "split": {"seed": study.manifest["seed"],
                  "train": len(study.train_pairs),
                  "test": len(study.test_pairs)},
        "seeds": seeds, "scenes": {"frames": str(frames),
                                   "apart": frames_apart,
                                   "per_fold": [len(m) for m in made]},
        "candidates": {name: candidate(name, runs[name])
                       for name in CANDIDATES},
        "difference": differences(runs[winner], runs[other]),
        "winner": winner,
        "final": final(study, RECIPES[winner], Settings(), final_seeds,
                       Path(runs_dir) / winner) if final_seeds else None,
        "wall_minutes": (time.perf_counter() - start) / 60}
    atomic.write_json(Path(report) / "defaults.json", summary)
    atomic.write_text(Path(report) / "defaults.md", markdown(summary))
    return summary


def candidate(name, runs):
    return {"recipe": RECIPES[name], **fold_scores(runs)}


def differences(ours, theirs):
    """``ours`` minus ``theirs``, paired by fold, for each measure."""
    measures = {"validation photos": lambda r: r["val_dice"],
                "scenes": lambda r: r["scenes"]["dice"],
                "choosing score": lambda r: r["score"]}
    measures.update({kind: (lambda r, k=kind: r["scenes"]["kinds"][k]["dice"])
                     for kind in KINDS})
    return {name: stats.paired_difference([get(r) for r in ours],
                                          [get(r) for r in theirs])
            for name, get in measures.items()}


def _cell(values):
    return stats.format_mean_sd(values)


def _flags(recipe):
    return " ".join(f"--{k.replace('_', '-')} {v}" for k, v in recipe.items())


def _test_sentence(summary, f):
    low, high = f["photo_interval"]
    return (
        f"Trained on all {summary['split']['train']} training photos with "
        f"{len(f['runs'])} seeds, plain inference, it scores "
        f"**{_cell([r['test_dice'] for r in f['runs']])}** test Dice (per "
        "seed " + ", ".join(f"{r['test_dice']:.3f}" for r in f["runs"])
        + f"; 95% bootstrap interval over the {summary['split']['test']} "
        f"photos {low:.3f} to {high:.3f}; worst photo per seed "
        + ", ".join(f"{w:.2f}" for w in f["worst_photo"])
        + ") and trains in "
        + ", ".join(f"{r['train_minutes']:.1f}" for r in f["runs"])
        + f" min a seed ({machine.summary(summary['machine'])}).")


def markdown(summary):
    """The report, every number from ``summary``."""
    winner = summary["winner"]
    other = next(n for n in CANDIDATES if n != winner)
    lines = [
        "# The default model (validation only, then one test look)", "",
        f"Command: `{summary['command']}`", "",
        f"Machine: {machine.summary(summary['machine'])}; catunet "
        f"{summary['code_version']}. {summary['seeds']} validation folds "
        f"of the {summary['split']['train']} training photos (seed *s* "
        "validates on fold *s*), scenes as in the encoder ladder "
        f"({', '.join(map(str, summary['scenes']['per_fold']))} a fold), "
        "plain inference. Choosing score = mean of validation photo Dice "
        "(masks at 128 px) and scene Dice; mean ± sample sd over the "
        "folds.", "",
        "| recipe | flags | validation Dice | scene Dice | large | medium "
        "| small | several | choosing score | train min / fold |",
        "|---|---|---|---|---|---|---|---|---|---|"]
    for name, c in summary["candidates"].items():
        lines.append(
            f"| {name} | `{_flags(c['recipe']) or '(defaults)'}` | "
            f"{_cell(c['val_dice'])} | {_cell(c['scene_dice'])} | "
            + " | ".join(_cell(c["scene_kinds"][k]) for k in KINDS)
            + f" | {_cell(c['score'])} | "
            f"{np.mean(c['train_minutes']):.1f} |")
    lines += ["", f"{winner} minus {other}, paired by fold:", "",
              "| measure | difference |", "|---|---|"]
    lines += [f"| {name} | {stats.format_difference(d)} |"
              for name, d in summary["difference"].items()]
    lines += ["", f"Default: **{winner}** (the higher mean choosing "
              "score).", ""]
    if summary["final"]:
        lines += ["## The default on the test photos (scored once)", "",
                  _test_sentence(summary, summary["final"]), ""]
    return "\n".join(lines)


def readme_section(summary):
    """README's quick-start lines, from ``summary``."""
    winner, d = summary["winner"], summary["difference"]
    other = next(n for n in CANDIDATES if n != winner)
    flags = _flags(summary["candidates"][winner]["recipe"])
    lines = [
        f"trains the `{winner}` recipe" + (f" (`{flags}`)" if flags else "")
        + ", the default ([reports/defaults](reports/defaults/defaults.md)):"
        f" on the validation folds and scenes it beats `{other}` by "
        f"{stats.format_difference(d['choosing score'])} in choosing score, "
        f"paired by fold (scenes {stats.format_difference(d['scenes'])}; "
        f"several cats {stats.format_difference(d['several'])}).", ""]
    if summary["final"]:
        lines += [_test_sentence(summary, summary["final"]), ""]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=HelpFormatter)
    add_validation_flags(parser, REPORT, "the default")
    args = parser.parse_args(argv)
    if not args.frames:
        parser.error("--frames is needed to make the scenes")
    command = command_line("catunet.study.defaults", argv)
    summary = run(args.frames, args.frames_apart, args.data_dir, args.seeds,
                  args.final_seeds, report=args.report, command=command)
    print(markdown(summary))


if __name__ == "__main__":
    main()
