"""The loss comparison: every loss, several seeds, one split, one report.

    python -m catunet.experiments losses --data-dir DIR

Each seed ``s`` of each loss trains on folds != ``s`` of a ``seeds``-fold
partition of the training part and is scored on fold ``s`` (validation, which
picks the winner: a ``seeds``-fold cross-validation) and on the test part
(reported, never used to choose). Runs already in ``--runs`` with the same
config are reused, so an interrupted comparison continues where it stopped.
"""

import argparse
import dataclasses
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

from catunet import atomic, data, split as splits
from catunet.config import TrainConfig
from catunet.datasets.cats import resolve_data_dir
from catunet.errors import CatunetError
from catunet.evaluate import load_model, score
from catunet.losses import LOSSES
from catunet.metrics import dice_coefficient
from catunet.train import load_split_for, train

REPORTS = Path("reports")


def baselines(train_masks, test_masks):
    """Test Dice of two models that ignore the image.

    ``all-cat`` predicts foreground everywhere; ``mean-mask`` predicts the
    pixel-wise mean of the training masks, thresholded at 0.5.
    """
    all_cat = np.ones_like(test_masks, dtype=np.float32)
    mean_mask = np.broadcast_to(train_masks.mean(axis=0, keepdims=True),
                                test_masks.shape)
    return {
        "all-cat": np.asarray(dice_coefficient(test_masks, all_cat)),
        "mean-mask": np.asarray(dice_coefficient(test_masks, mean_mask)),
    }


def run_one(config, arrays):
    """Trains (or reuses) one run and scores it on validation and test."""
    scores_path = Path(config.out) / "scores.json"
    if scores_path.exists():
        saved = json.loads(scores_path.read_text())
        if saved["config"] == config.to_dict():
            return saved
    run = train(config, verbose=2)
    model = load_model(run.model_path)
    val = score(model, *arrays["val"][config.val_fold])["dice"]
    test = score(model, *arrays["test"])["dice"]
    result = {
        "config": run.config.to_dict(),
        "seconds": run.seconds,
        "val_dice": float(val.mean()),
        "test_dice": float(test.mean()),
        "test_dice_per_image": test.tolist(),
    }
    atomic.write_json(scores_path, result)
    return result


def compare_losses(data_dir=None, width=8, epochs=80, seeds=3,
                   runs_dir="runs/losses", losses=tuple(LOSSES)):
    """Trains every loss for every seed; returns all results as a dict."""
    data_dir = resolve_data_dir(data_dir)
    base = TrainConfig(data_dir=str(data_dir), width=width, epochs=epochs,
                       folds=seeds)
    pairs = data.find_pairs(data_dir)
    train_pairs, test_pairs, manifest = load_split_for(base, pairs, data_dir)
    folds = [splits.validation_fold(train_pairs, seeds, k, manifest["seed"])[1]
             for k in range(seeds)]
    arrays = {"test": data.load_pairs(test_pairs),
              "val": [data.load_pairs(fold) for fold in folds]}
    train_masks = data.load_pairs(train_pairs)[1]

    start = time.perf_counter()
    results = {}
    for loss in losses:
        results[loss] = []
        for seed in range(seeds):
            config = dataclasses.replace(
                base, loss=loss, seed=seed, val_fold=seed,
                out=str(Path(runs_dir) / f"{loss}-s{seed}"))
            print(f"== loss {loss}, seed {seed} (validation fold {seed})",
                  flush=True)
            results[loss].append(run_one(config, arrays))
    trivial = baselines(train_masks.astype(np.float32),
                        arrays["test"][1].astype(np.float32))
    val_means = {k: np.mean([r["val_dice"] for r in v])
                 for k, v in results.items()}
    return {
        "data_dir": str(data_dir),
        "split": {"seed": manifest["seed"], "train": len(train_pairs),
                  "test": len(test_pairs), "fingerprint": manifest["fingerprint"]},
        "settings": {k: v for k, v in base.to_dict().items()
                     if k not in ("loss", "seed", "val_fold", "out", "data_dir")},
        "seeds": seeds,
        "machine": f"{platform.processor() or platform.machine()}, "
                   f"{platform.system()}",
        "wall_seconds_this_call": time.perf_counter() - start,
        "train_seconds_total": sum(r["seconds"] for v in results.values()
                                   for r in v),
        "baselines": {k: float(v.mean()) for k, v in trivial.items()},
        "winner": max(val_means, key=val_means.get),
        "results": results,
    }


def _mean_std(values):
    return f"{np.mean(values):.3f} ± {np.std(values):.3f}"


def write_losses_report(summary, folder=REPORTS):
    """Writes ``losses.md``, ``losses.json`` and ``losses.png``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder = Path(folder)
    atomic.write_json(folder / "losses.json", summary)
    results = summary["results"]

    fig, ax = plt.subplots(figsize=(6, 4))
    for i, (loss, runs) in enumerate(results.items()):
        test = [r["test_dice"] for r in runs]
        val = [r["val_dice"] for r in runs]
        ax.scatter([i - 0.1] * len(val), val, marker="o", color="tab:blue",
                   label="validation (per seed)" if i == 0 else None)
        ax.scatter([i + 0.1] * len(test), test, marker="s", color="tab:red",
                   label="test (per seed)" if i == 0 else None)
    for (name, value), style in zip(summary["baselines"].items(), (":", "--")):
        ax.axhline(value, color="grey", linestyle=style,
                   label=f"{name} baseline (test)")
    ax.set_xticks(range(len(results)), list(results))
    ax.set_ylabel("mean Dice")
    ax.set_title("Loss comparison on the cat set")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(folder / "losses.png", dpi=120)
    plt.close(fig)

    s = summary["settings"]
    lines = [
        "# Loss comparison",
        "",
        "Made by `python -m catunet.experiments losses "
        f"--width {s['width']} --epochs {s['epochs']} --seeds {summary['seeds']}`"
        " (raw numbers in `losses.json`, every run's config in its run folder).",
        "",
        f"Split: seed {summary['split']['seed']}, {summary['split']['train']} "
        f"train / {summary['split']['test']} test pairs "
        "(`data/splits/cats.json`). Seed *s* trains on the training part minus "
        f"fold *s* of a {summary['seeds']}-fold partition and is validated on "
        "fold *s*; validation Dice picks the winner, test Dice is only reported.",
        "",
        "| loss | validation Dice (mean ± std over folds) | test Dice (mean ± std over seeds) | train time per run |",
        "|---|---|---|---|",
    ]
    for loss, runs in results.items():
        mark = " **(winner)**" if loss == summary["winner"] else ""
        lines.append(
            f"| {loss}{mark} | {_mean_std([r['val_dice'] for r in runs])} | "
            f"{_mean_std([r['test_dice'] for r in runs])} | "
            f"{np.mean([r['seconds'] for r in runs]):.0f} s |")
    for name, value in summary["baselines"].items():
        lines.append(f"| *{name} baseline* | | {value:.3f} | |")
    lines += [
        "",
        "![validation and test Dice per loss](losses.png)",
        "",
        "Per-seed test Dice:",
        "",
    ]
    for loss, runs in results.items():
        lines.append(f"- {loss}: "
                     + ", ".join(f"{r['test_dice']:.3f}" for r in runs))
    lines += [
        "",
        "## Settings",
        "",
        "```json",
        json.dumps(s, indent=2),
        "```",
        "",
        f"Machine: {summary['machine']}. Training time of all runs: "
        f"{summary['train_seconds_total'] / 60:.1f} min.",
        "",
    ]
    discussion = folder / "losses-discussion.md"
    if discussion.exists():
        lines += [discussion.read_text()]
    atomic.write_text(folder / "losses.md", "\n".join(lines))


def main(argv=None):
    p = argparse.ArgumentParser(
        prog="python -m catunet.experiments",
        description="Rerun the experiments behind the reports.")
    sub = p.add_subparsers(dest="experiment", required=True)
    losses = sub.add_parser(
        "losses", help="compare the losses; writes reports/losses.*",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    losses.add_argument("--data-dir", default=None,
                        help="the cat set (default: $CATUNET_DATA_DIR, else "
                        "data/cats)")
    losses.add_argument("--width", type=int, default=8,
                        help="U-Net base width of every run")
    losses.add_argument("--epochs", type=int, default=80,
                        help="epochs of every run")
    losses.add_argument("--seeds", type=int, default=3,
                        help="seeds per loss, also the number of validation folds")
    losses.add_argument("--loss", action="append", choices=list(LOSSES),
                        help="compare only these losses (repeatable)")
    losses.add_argument("--runs", default="runs/losses",
                        help="folder of the run folders (reused when rerun)")
    losses.add_argument("--report", default=str(REPORTS),
                        help="folder of losses.md, losses.json, losses.png")
    args = p.parse_args(argv)
    try:
        summary = compare_losses(args.data_dir, args.width, args.epochs,
                                 args.seeds, args.runs,
                                 tuple(args.loss or LOSSES))
    except CatunetError as error:
        sys.exit(f"error: {error}")
    write_losses_report(summary, args.report)
    print(f"Wrote {Path(args.report) / 'losses.md'}; winner on validation: "
          f"{summary['winner']}")


if __name__ == "__main__":
    main()
