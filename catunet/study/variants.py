"""Variants x seeds on one split: the study's unit of comparison.

Seed ``s`` of every variant trains on the training part minus fold ``s``
of a ``seeds``-fold partition and is scored on fold ``s`` (validation:
the variants' mean over folds is a cross-validation score, and it picks
the winner) and on the test part (reported, never used to choose). A run
whose config was already trained and scored anywhere under ``runs/`` is
reused (``catunet.study.runstore``), so an interrupted experiment continues
where it stopped and experiments share identical runs.
"""

import dataclasses
import time
from pathlib import Path

import numpy as np

import catunet
from catunet.data import loading, split as splits
from catunet.data.datasets.cats import resolve_data_dir
from catunet.data.split import load_split_for
from catunet.errors import CatunetError
from catunet.inference.evaluate import score
from catunet.models.metrics import dice_coefficient
from catunet.models.saving import load_model
from catunet.study.runstore import RunStore, describe
from catunet.training import machine
from catunet.training.config import TrainConfig


# Validation Dice as Keras logged it after the last epoch may differ from the
# study's own scoring of the saved model by float rounding only.
SAME_FOLD_TOLERANCE = 1e-3
DEFAULTS = TrainConfig()  # the study varies one thing at a time from these
PER_RUN = ("seed", "val_fold", "out")


class PerSeed:
    """A config value that differs by seed, e.g. each seed's own teacher."""

    def __init__(self, values, description):
        """``values``: one per seed in order, or ``{seed: value}``."""
        self.values = dict(values) if isinstance(values, dict) \
            else dict(enumerate(values))
        self.description = description

    def __call__(self, seed):
        return self.values[seed]

    def __str__(self):
        return self.description


def split_folds(data_dir, seeds, **overrides):
    """The study's split, no photo decoded: ``(base config, manifest,
    train pairs, test pairs, each validation fold's pairs)``; seed *s*
    validates on fold *s* of a ``seeds``-fold partition."""
    if seeds < 2:
        raise CatunetError("--seeds must be at least 2: seed s validates "
                           "on fold s of a --seeds-fold partition")
    data_dir = resolve_data_dir(data_dir)
    base = TrainConfig(data_dir=str(data_dir), folds=seeds, **overrides)
    pairs = loading.find_pairs(data_dir)
    train_pairs, test_pairs, manifest = load_split_for(base, pairs, data_dir)
    folds = [splits.validation_fold(train_pairs, seeds, k, manifest["seed"])[1]
             for k in range(seeds)]
    return base, manifest, train_pairs, test_pairs, folds


@dataclasses.dataclass
class Study:
    """The data every run of an experiment is scored on, loaded once."""

    base: TrainConfig
    manifest: dict
    train_pairs: list
    test_pairs: list
    test: tuple
    val: list

    @classmethod
    def load(cls, data_dir, seeds, **overrides):
        base, manifest, train_pairs, test_pairs, folds = split_folds(
            data_dir, seeds, **overrides)
        size = base.image_size
        return cls(base, manifest, train_pairs, test_pairs,
                   loading.load_pairs(test_pairs, size),
                   [loading.load_pairs(fold, size) for fold in folds])

    def fold_pairs(self, k):
        """Validation fold ``k``'s pairs, in the order of ``val[k]``."""
        return splits.validation_fold(self.train_pairs, len(self.val), k,
                                      self.manifest["seed"])[1]

    def fold_names(self, k):
        """The file names of validation fold ``k``'s photos, in the order
        of ``val[k]``."""
        return [pair.image.name for pair in self.fold_pairs(k)]

    def train_arrays(self):
        """The whole training part, from the folds already decoded (they
        partition it)."""
        return tuple(np.concatenate(parts) for parts in zip(*self.val))

    def baselines(self):
        """Test Dice of two models that ignore the image.

        ``all-cat`` predicts foreground everywhere; ``mean-mask`` predicts
        the pixel-wise mean of the training masks, thresholded at 0.5.
        """
        train_masks = self.train_arrays()[1].astype(np.float32)
        test_masks = self.test[1].astype(np.float32)
        mean_mask = np.broadcast_to(train_masks.mean(axis=0, keepdims=True),
                                    test_masks.shape)
        return {
            "all-cat": float(np.mean(dice_coefficient(
                test_masks, np.ones_like(test_masks)))),
            "mean-mask": float(np.mean(dice_coefficient(test_masks, mean_mask))),
        }


def check_held_out_fold(run, val_dice):
    """Fails unless the fold the study scores a run on is the fold the run
    validated on during training (its last logged validation Dice)."""
    logged = [row["val_dice_coefficient"] for row in run["history"]
              if "val_dice_coefficient" in row]
    if logged and abs(logged[-1] - val_dice) > SAME_FOLD_TOLERANCE:
        raise CatunetError(
            f"{run['folder']}: validation Dice {logged[-1]:.4f} during "
            f"training but {val_dice:.4f} on the study's fold "
            f"{run['config']['val_fold']}: not the same images")


def run_one(config, study, store=None):
    """Trains (or reuses) one run and scores it on validation and test."""
    run = (store or RunStore()).run(config)

    def scores():
        model = load_model(run.model_path)
        return {"val_dice_per_image": score(
                    model, *study.val[config.val_fold])["dice"].tolist(),
                "test_dice_per_image": score(model, *study.test)["dice"]
                .tolist()}

    scored = RunStore.cached(run, "photo-scores", scores)
    result = {**describe(run),
              "val_dice": float(np.mean(scored["val_dice_per_image"])),
              "val_dice_per_image": scored["val_dice_per_image"],
              "test_dice": float(np.mean(scored["test_dice_per_image"])),
              "test_dice_per_image": scored["test_dice_per_image"]}
    check_held_out_fold(result, result["val_dice"])
    return result


def run_variants(study, variants, runs_dir, seeds=None):
    """Runs every variant (``{name: config overrides}``) for every seed; an
    override may be ``PerSeed``.

    Args:
        seeds: The seeds to run (default all, ``range(folds)``); each
            variant's results list holds those seeds' runs, in that order.
    """
    start = time.perf_counter()
    seeds = range(study.base.folds) if seeds is None else list(seeds)
    results = {}
    for name, overrides in variants.items():
        results[name] = []
        for seed in seeds:
            chosen = {k: v(seed) if isinstance(v, PerSeed) else v
                      for k, v in overrides.items()}
            config = dataclasses.replace(
                study.base, **chosen, seed=seed, val_fold=seed,
                out=str(Path(runs_dir) / f"{name}-s{seed}"))
            print(f"== {name}, seed {seed} (validation fold {seed})", flush=True)
            results[name].append(run_one(config, study))
    val_means = {k: np.mean([r["val_dice"] for r in v])
                 for k, v in results.items()}
    varying = set(PER_RUN) | {k for o in variants.values() for k in o}
    return {
        "data_dir": study.base.data_dir,
        "split": {"seed": study.manifest["seed"],
                  "train": len(study.train_pairs), "test": len(study.test_pairs),
                  "fingerprint": study.manifest["fingerprint"]},
        "settings": {k: v for k, v in study.base.to_dict().items()
                     if k not in varying | {"data_dir"}},
        "variants": {name: {k: str(v) if isinstance(v, PerSeed) else v
                            for k, v in overrides.items()}
                     for name, overrides in variants.items()},
        "seeds": study.base.folds,
        "machine": machine.describe(),
        "code_version": catunet.__version__,
        "wall_seconds_this_call": time.perf_counter() - start,
        "train_seconds_total": sum(r["seconds"] for v in results.values()
                                   for r in v),
        "baselines": study.baselines(),
        "winner": max(val_means, key=val_means.get),
        "results": results,
    }
