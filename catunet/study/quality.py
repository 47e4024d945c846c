"""The quality ladder: steps added one at a time, each kept only if it wins
on the validation folds.

    python -m catunet.study.quality --pretrain-dir ../shared/data/horses \\
        --unlabelled ../shared/data/pet-cats      # reports/quality.md

1. ``transfer``: today's best recipe, pre-trained on ``--pretrain-dir`` and
   fine-tuned with the encoder frozen, then unfrozen (``experiments``).
2. ``self-training``: the same, plus the ``--unlabelled`` photos: each
   seed's step-1 model is the teacher of that seed (it has seen only that
   fold's training photos), and the student learns from its pseudo-masks
   (``catunet.selftrain``).
3. ``inference``: test-time augmentation, the threshold and the clean-ups,
   tried one group at a time on the best model so far, each kept only if it
   raises the mean validation Dice (``catunet.inference.Settings``).

Seed *s* is validated on fold *s*; the test photos are scored and reported,
never used to choose.
"""

import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np

from catunet import atomic, machine
from catunet.cli import HelpFormatter
from catunet.errors import CatunetError
from catunet.evaluate import score
from catunet.inference import Settings
from catunet.saving import load_model
from catunet.study import experiments, stats
from catunet.study.runstore import RUNS

REPORTS = Path("reports")
TRANSFER = "frozen-then-unfrozen"
# Inference options, one group at a time, in this order.
INFERENCE_GROUPS = (
    ("test-time augmentation", [{"tta": True}]),
    ("threshold", [{"threshold": t} for t in (0.3, 0.4, 0.6, 0.7)]),
    ("fill holes", [{"fill_holes": True}]),
    ("drop specks", [{"min_area": a} for a in (0.005, 0.01, 0.02)]),
)


def _mean_val(runs):
    return np.mean([r["val_dice"] for r in runs])


def _dice(model, arrays, settings):
    return score(model, *arrays, settings)["dice"]


def choose_inference(study, runs):
    """Greedy choice of inference settings on validation.

    Args:
        study: The ``experiments.Study`` (validation folds and test set).
        runs: One run per seed (``run_one`` results) of the model to tune.

    Returns:
        A dict: every tried setting with per-seed validation and test Dice,
        and the chosen settings.
    """
    models = [load_model(Path(r["folder"]) / "cats.keras") for r in runs]
    folds = [r["config"]["val_fold"] for r in runs]

    def measure(settings):
        val = [float(_dice(m, study.val[f], settings).mean())
               for m, f in zip(models, folds)]
        test = [_dice(m, study.test, settings) for m in models]
        return {"settings": dataclasses.asdict(settings), "val_dice": val,
                "test_dice": [float(t.mean()) for t in test],
                "test_dice_per_image": np.mean(test, axis=0).tolist()}

    current = Settings()
    best = measure(current)
    tried = [{"group": "plain", **best, "kept": True}]
    for group, options in INFERENCE_GROUPS:
        results = [measure(dataclasses.replace(current, **o)) for o in options]
        top = max(results, key=lambda r: np.mean(r["val_dice"]))
        kept = np.mean(top["val_dice"]) > np.mean(best["val_dice"])
        for result in results:
            tried.append({"group": group, **result,
                          "kept": bool(kept and result is top)})
        if kept:
            current, best = Settings(**top["settings"]), top
    return {"tried": tried, "chosen": dataclasses.asdict(current),
            "best": best}


def run_ladder(pretrain_dir, unlabelled, data_dir=None, seeds=3,
               runs_dir=RUNS / "quality", pretrain_epochs=40, **settings):
    """Runs (or reuses) every step; returns the summary."""
    transfer, study = experiments.compare_transfer(
        pretrain_dir, data_dir, seeds, runs_dir=RUNS / "transfer",
        variants=(TRANSFER,), pretrain_epochs=pretrain_epochs, **settings)
    base = transfer["results"][TRANSFER]
    teachers = experiments.PerSeed(
        [str(Path(r["folder"]) / "cats.keras") for r in base],
        f"the seed's {TRANSFER} model")
    spec = dict(experiments.TRANSFER_VARIANTS[TRANSFER],
                init=transfer["pretrain"]["model"])
    selftrained = experiments.run_variants(
        study, {"self-training": {**spec, "unlabelled": str(unlabelled),
                                  "teacher": teachers}}, runs_dir)
    steps, best_runs = [("transfer", base, True)], base
    for name, runs in [("self-training",
                        selftrained["results"]["self-training"])]:
        kept = _mean_val(runs) > _mean_val(best_runs)
        steps.append((name, runs, kept))
        best_runs = runs if kept else best_runs
    inference = choose_inference(study, best_runs)
    return {
        "command": "python -m catunet.study.quality",
        "pretrain": transfer["pretrain"], "unlabelled": str(unlabelled),
        "settings": transfer["settings"], "seeds": seeds,
        "split": transfer["split"], "baselines": transfer["baselines"],
        "machine": machine.describe(),
        "code_version": transfer["code_version"],
        "steps": [{"name": name, "kept": bool(kept), "runs": runs}
                  for name, runs, kept in steps],
        "inference": inference,
    }


def _row(name, val, test, previous, kept):
    diff = " | "
    if previous is not None:
        diff = " | ".join(stats.format_difference(stats.paired_difference(a, b))
                          for a, b in ((val, previous[0]), (test, previous[1])))
    return (f"| {name} | {stats.format_mean_sd(val)} | "
            f"{stats.format_mean_sd(test)} | {diff} | "
            f"{'kept' if kept else 'left out'} |")


def write_quality_report(summary, folder=REPORTS):
    """Writes ``quality.md`` and ``quality.json`` from the summary."""
    folder = Path(folder)
    atomic.write_json(folder / "quality.json", summary)
    lines = ["# The quality ladder", "",
             "Each step is added to the last step that was kept, and kept "
             "only if it raises the mean validation Dice (fold *s* for seed "
             "*s*). Differences are paired per seed against the previous "
             "kept step, with their 95% interval; test Dice is reported, "
             "never used to choose.", "",
             "| step | validation Dice | test Dice | Δ validation vs "
             "previous | Δ test vs previous | |", "|---|---|---|---|---|---|"]
    previous = None
    for step in summary["steps"]:
        val = [r["val_dice"] for r in step["runs"]]
        test = [r["test_dice"] for r in step["runs"]]
        lines.append(_row(step["name"], val, test, previous, step["kept"]))
        if step["kept"]:
            previous = (val, test)
    inference = summary["inference"]
    for tried in inference["tried"][1:]:
        name = f"inference: {tried['group']} " + ", ".join(
            f"{k}={v}" for k, v in tried["settings"].items()
            if v != getattr(Settings(), k))
        lines.append(_row(name, tried["val_dice"], tried["test_dice"],
                          previous, tried["kept"]))
    chosen = {k: v for k, v in inference["chosen"].items()
              if v != getattr(Settings(), k)}
    lines += ["", f"Inference settings chosen on validation: "
              f"{chosen or 'none (plain threshold at 0.5)'}.", "",
              f"Baselines on the test photos: "
              + ", ".join(f"{k} {v:.3f}" for k, v in summary["baselines"].items())
              + ".", "",
              f"Made by catunet {summary['code_version']} on "
              f"{machine.summary(summary['machine'])}; command "
              f"`{summary['command']}`; settings of every run in "
              "`quality.json`.", ""]
    atomic.write_text(folder / "quality.md", "\n".join(lines))


def main(argv=None):
    p = argparse.ArgumentParser(
        prog="python -m catunet.study.quality",
        description="Run or reuse the quality ladder and write "
        "reports/quality.md.", formatter_class=HelpFormatter)
    p.add_argument("--data-dir", default=None,
                   help="the cat set (default: $CATUNET_DATA_DIR, else "
                   "data/cats)")
    p.add_argument("--pretrain-dir", required=True,
                   help="labelled folder(s) to pre-train on, comma-separated")
    p.add_argument("--unlabelled", required=True,
                   help="folder of unlabelled photos for self-training")
    p.add_argument("--seeds", type=int, default=3,
                   help="seeds per step, also the number of validation folds")
    p.add_argument("--pretrain-epochs", type=int, default=40,
                   help="epochs of the pre-training")
    p.add_argument("--report", default=str(REPORTS),
                   help="folder of quality.md and quality.json")
    args = p.parse_args(argv)
    try:
        summary = run_ladder(args.pretrain_dir, args.unlabelled, args.data_dir,
                             args.seeds, pretrain_epochs=args.pretrain_epochs)
    except CatunetError as error:
        sys.exit(f"error: {error}")
    write_quality_report(summary, args.report)
    print(f"Wrote {Path(args.report) / 'quality.md'}")


if __name__ == "__main__":
    main()
