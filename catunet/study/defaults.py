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
difference is reported paired by fold. The default's inference options
are then chosen on the same folds and scenes, as the encoder ladder
chooses its own (``GROUPS``), and saved beside every model it trains
(``catunet.training.recipes.INFERENCE``). ``--final-seeds N`` then trains
the winner on all 57 training photos with N seeds and scores the test
photos once, with the chosen inference: the numbers README's quick start
states. Everything lands in ``reports/defaults/`` (``defaults.json``,
``defaults.md``), written before the final seeds train and again with
their test scores (``catunet.study.folds.report_then_final``).
"""

import argparse
import functools
import time
from pathlib import Path

from catunet import atomic
from catunet.flags import HelpFormatter
from catunet.inference.predict import Settings
from catunet.study import render, stats
from catunet.study.choosing import by_score, keeps, ladder_scenes
from catunet.study.encoder_ladder import BASE, choose_inference
from catunet.study.folds import (add_validation_flags, command_line,
                                 fold_runs, fold_scores, opening,
                                 report_then_final)
from catunet.study.encoder_report import KINDS, inference_rows
from catunet.study.runstore import RUNS
from catunet.study.variants import Study
from catunet.training import machine
from catunet.training.recipes import RECIPES, as_flags

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
    size = RECIPES[winner].get("image_size", study.base.image_size)
    inference = choose_inference(study, runs[winner], made, size)
    summary = {
        **opening(study, made, frames, frames_apart, command),
        "candidates": {name: candidate(name, runs[name])
                       for name in CANDIDATES},
        "difference": differences(runs[winner], runs[other]),
        "winner": winner,
        "inference": inference}
    # Final folders named by the recipe's changes to the encoder ladder's
    # base, like the ladder's own.
    return report_then_final(
        summary, functools.partial(write, report=report), start,
        final_seeds, study, RECIPES[winner], Settings(**inference["chosen"]),
        Path(runs_dir) / winner, BASE)


def write(summary, report):
    """``defaults.json`` and its ``defaults.md`` in the folder ``report``."""
    atomic.write_json(Path(report) / "defaults.json", summary)
    atomic.write_text(Path(report) / "defaults.md", markdown(summary))


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


def _fill(template, summary):
    """``template`` filled from ``summary`` (and what it names)."""
    winner = summary["winner"]
    return render.ENVIRONMENT.get_template(template).render(
        s=summary, f=summary["final"], kinds=KINDS, winner=winner,
        tried=inference_rows(summary["inference"]),
        plain_score=by_score(summary["inference"]["tried"][0]),
        chosen_score=by_score(summary["inference"]["best"]),
        inference_flags=" ".join(
            render.inference_flags(summary["inference"]["chosen"])),
        other=next(n for n in CANDIDATES if n != winner),
        flags={n: as_flags(c["recipe"])
               for n, c in summary["candidates"].items()},
        machine=machine.summary(summary["machine"]))


def markdown(summary):
    """The report (``templates/defaults.md.j2``), every number from
    ``summary``."""
    return _fill("defaults.md.j2", summary)


def readme_section(summary):
    """README's quick-start lines (``templates/readme-defaults.md.j2``),
    from ``summary``."""
    return _fill("readme-defaults.md.j2", summary)


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
