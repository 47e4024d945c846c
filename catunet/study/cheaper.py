"""A cheaper (or a dearer) recipe measured against the encoder ladder's,
on validation.

    python -m catunet.study.cheaper --frames ../shared/data/davis \\
        --frames-apart '...' --change '{"epochs": 20, "pseudo_epochs": 5}' \\
        --report reports/encoder-ladder/shorter-training-measured

Trains the recipe of the report ``--against`` names (default the encoder
ladder's, ``reports/encoder-ladder/ladder.json``'s ``recipe``, what
shipped when the first changes were measured; ``--against
reports/encoder-ladder/lite2-full-measured`` is the recipe that ships now)
with ``--change`` on the encoder ladder's validation folds, chooses its
inference the ladder's way (``choose_inference``) and writes a report
like the ladder's: that report's rows, with the change as a last row,
where each fold's minutes went (``part_minutes``), and the change against
the recipe it changes, each with its own chosen inference, paired by
fold. The ladder's rule keeps only what scores higher; a change is judged
by ``ships`` instead, a rule set before any change ran: one that only saves
time may score a little lower, one that costs time (``--costs-time``, e.g.
a larger encoder) must score that much higher. Only a change that ships
trains ``--final-seeds`` and scores the test photos once; its report is
written first without them (``catunet.study.folds.report_then_final``).

Measured so far (``reports/encoder-ladder/``): half the training
(``shorter-training-measured``) and self-training at 128 px, the
fine-tuning at 256 (``'{"self_training_size": 128}'``,
``small-self-training-measured``); neither ships. Nor does
EfficientNet-Lite2 for Lite0 with self-training at 128 px
(``'{"encoder": "efficientnet-lite2", "self_training_size": 128}'
--costs-time``, ``lite2-measured``). Lite2 in the whole recipe
(``'{"encoder": "efficientnet-lite2"}' --costs-time``,
``lite2-full-measured``) ships on validation, and is the recipe that
ships now (``encoder_report.SHIPPING``). Against it, Lite2 without
self-training (``'{"unlabelled": null, "pseudo_keep": 0.5}'``, the
teacher alone, ``no-self-training-measured``) does not ship, nor does
a third of its pre-training on the pseudo-masks (``'{"pseudo_epochs": 3}'``,
``shorter-pretraining-lite2-measured``), nor a student trained in one
phase on the pseudo-masks and the labelled photos together
(``'{"one_phase_student": true}'``, ``one-phase-student-measured``, a
flag of commit 9a639ff, deleted after it lost: ``'{"pseudo_epochs": 3}'``
costs the same minutes and scores the same). Freezing the encoder's layers
up to stride 8 (``'{"freeze_stride": 8}'``, ``freeze-stride-8-measured``)
ships on validation: about a quarter fewer minutes a fold.
"""

import argparse
import functools
import json
import time
from pathlib import Path

from catunet.flags import HelpFormatter
from catunet.inference.predict import Settings
from catunet.study import encoder_report
from catunet.study.choosing import by_score, ladder_scenes
from catunet.study.encoder_ladder import BASE, REPORT, choose_inference, row
from catunet.study.folds import (add_validation_flags, command_line,
                                 fold_runs, label_of, opening,
                                 report_then_final)
from catunet.study.runstore import RUNS
from catunet.study.variants import Study
from catunet.training import machine

# How far below the shipped recipe's choosing score a change that only
# saves time may land and still ship: the bound the shorter pre-training
# step was kept by at plain inference
# (reports/encoder-ladder/shorter-pretraining-measured/), here applied to
# the score with the inference each recipe chose; set before any change
# was measured by this module. A change that costs time must land that far
# above it (set before the first such change, Lite2, had any result).
CHEAPER = 0.005


def ships(ours, theirs, bound=CHEAPER, costs_time=False):
    """Whether a change ships: its choosing score with its chosen
    inference (``ours``) at most ``bound`` below the shipped recipe's
    (``theirs``), or, for a change that ``costs_time``, at least ``bound``
    above it."""
    return ours >= theirs + (bound if costs_time else -bound)


def part_minutes(runs):
    """Minutes each part of each fold run took (its ``run.json``'s
    ``parts``: a self-training run's teacher, labelling, pre-training and
    fine-tuning), as ``{part: [minutes a fold]}``; empty for runs without
    parts."""
    parts = {}
    for run_ in runs:
        record = json.loads((Path(run_["folder"]) / "run.json").read_text())
        for part in record.get("parts", []):
            parts.setdefault(Path(part["folder"]).name, []).append(
                part["seconds"] / 60)
    return parts


def row_machines(against):
    """The machines the rows of ``against`` (a ``ladder.json``) were
    trained on: those of the rows it took from the report it changed, then
    its own."""
    return encoder_report.earlier_machines(against) + [against["machine"]]


def run(change, frames, frames_apart=None, data_dir=None, seeds=3,
        final_seeds=0, report=REPORT / "cheaper-measured", command="",
        against=REPORT, costs_time=False):
    """Measures ``change`` against the recipe of the report folder
    ``against`` and writes the report (module docs)."""
    start = time.perf_counter()
    shipped = json.loads((Path(against) / "ladder.json").read_text())
    study = Study.load(data_dir, seeds)
    made = ladder_scenes(study, frames, frames_apart)[1]
    recipe = {**shipped["recipe"], **change}
    kept = [s["change"] for s in shipped["steps"][1:] if s["kept"]]
    runs = fold_runs(study, recipe, label_of(kept + [change]), made,
                     RUNS / "encoder")
    inference = choose_inference(study, runs, made, recipe["image_size"])
    ours, theirs = by_score(inference["best"]), \
        by_score(shipped["inference"]["best"])
    shipping = ships(ours, theirs, costs_time=costs_time)
    print(f"choosing score with chosen inference {ours:.3f} against "
          f"{Path(against).as_posix()}'s {theirs:.3f}: "
          f"{'ships' if shipping else 'does not ship'}", flush=True)
    summary = {
        **opening(study, made, frames, frames_apart, command),
        "precision": machine.best_precision(BASE["encoder"]),
        "base": shipped["base"], "rows_machine": row_machines(shipped),
        "against": Path(against).as_posix(),
        "steps": shipped["steps"] + [row("cheaper", change, runs, shipping)],
        "recipe": recipe, "inference": inference,
        "shipped_inference": shipped["inference"]["best"],
        "cheaper_bound": CHEAPER, "costs_time": costs_time,
        "ships": bool(shipping),
        "part_minutes": part_minutes(runs)}
    return report_then_final(
        summary, functools.partial(encoder_report.write, report=report),
        start, final_seeds if shipping else 0, study, recipe,
        Settings(**inference["chosen"]), RUNS / "encoder", BASE)


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=HelpFormatter)
    parser.add_argument("--change", type=json.loads, required=True,
                        help="the settings that change, as JSON of "
                        "TrainConfig fields, e.g. '{\"epochs\": 20}'")
    parser.add_argument("--costs-time", action="store_true",
                        help="the change costs training time (a larger "
                        "encoder): it ships only when it scores the bound "
                        "above the shipped recipe, not within it below")
    parser.add_argument("--against", default=str(REPORT),
                        help="the report folder whose recipe the change "
                        "changes and is measured against (its ladder.json); "
                        f"{encoder_report.SHIPPING.as_posix()} is the recipe "
                        "that ships")
    add_validation_flags(parser, REPORT / "cheaper-measured", "the change")
    args = parser.parse_args(argv)
    if not args.frames:
        parser.error("--frames is needed: the change is chosen on scenes")
    run(args.change, args.frames, args.frames_apart, args.data_dir,
        args.seeds, args.final_seeds, args.report,
        command_line("catunet.study.cheaper", argv), args.against,
        args.costs_time)


if __name__ == "__main__":
    main()
