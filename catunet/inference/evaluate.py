"""Scores a saved model: the test part of its split, or every pair of a folder."""

import dataclasses
from pathlib import Path

import numpy as np

from catunet.data import loading, split as splits
from catunet.data.datasets.cats import resolve_data_dir
from catunet.inference.predict import (BATCH_SIZE, Settings, predict_masks,
                                       predict_photo_masks)
from catunet.inference.runtimes import load_runtime
from catunet.models.metrics import METRICS
from catunet.training.config import TrainConfig


def score(model, images, masks, settings=Settings(), batch_size=BATCH_SIZE):
    """Per-image scores of ``model``: ``{metric name: array (N,)}``.

    Args:
        images: At the model's input size.
        masks: The true masks; where they are smaller than the model's
            input (a 256 px model scored at the study's 128 px), each
            predicted mask is resized to them (``loading.resize_mask``).
        settings: How probabilities become masks (``inference.Settings``).
    """
    predicted = predict_masks(model, images, settings, batch_size)
    size = np.shape(masks)[1]
    if predicted.shape[1] != size:
        predicted = np.stack([loading.resize_mask(m[..., 0], size)[..., None]
                              for m in predicted])
    truth = np.asarray(masks, np.float32)
    return {name: np.asarray(fn(truth, predicted.astype(np.float32)))
            for name, fn in METRICS.items()}


def full_size_dice(model, pairs, settings=Settings()):
    """Dice of each pair at its photo's own size, through the path
    ``catunet predict`` and ``catunet serve`` take
    (``inference.predict_photo_masks``, all photos in one call): what a
    user gets."""
    photos = [loading.read_image(pair.image) for pair in pairs]
    predicted = predict_photo_masks(model, photos, settings)
    dice = []
    for pair, photo, mask in zip(pairs, photos, predicted):
        truth = loading.read_mask(pair.mask)
        if truth.shape != photo.shape[:2]:  # a mask saved smaller
            truth = loading.resize_mask(truth, photo.shape[:2])
        dice.append(float(METRICS["dice"](
            truth[None, ..., None].astype(np.float32),
            mask[None, ..., None].astype(np.float32))[0]))
    return np.asarray(dice)


def summarize(names, scores):
    """Rows per image plus the mean and sample standard deviation (ddof=1)
    of every metric."""
    rows = [{"image": name, **{k: float(v[i]) for k, v in scores.items()}}
            for i, name in enumerate(names)]
    mean = {k: float(np.mean(v)) for k, v in scores.items()}
    std = {k: float(np.std(v, ddof=1)) if len(v) > 1 else 0.0
           for k, v in scores.items()}
    return {"count": len(rows), "mean": mean, "std": std, "images": rows}


def _trained_on(model_path):
    """The data folder in the run's ``config.json``, if it is still there
    (a run's own data beats ``$CATUNET_DATA_DIR``, which may name another
    set); None otherwise."""
    config = model_path.parent / "config.json"
    if not config.is_file():
        return None
    data_dir = TrainConfig.load(config).data_dir
    return data_dir if data_dir and Path(data_dir).is_dir() else None


def model_test_pairs(model_path, data_dir=None, split_path=None):
    """The test pairs of the split a model was trained with.

    Args:
        model_path: The ``.keras`` file.
        data_dir: The data folder; by default the one the model was trained
            on (from its run's ``config.json``), else as ``resolve_data_dir``.
        split_path: The manifest; by default the ``split.json`` saved in the
            model's run folder, so the test set is the one it never saw.

    Returns:
        ``(data_dir, pairs)``.
    """
    model_path = Path(model_path)
    data_dir = resolve_data_dir(data_dir or _trained_on(model_path))
    split_path = Path(split_path) if split_path else \
        model_path.parent / "split.json"
    manifest = splits.load_split(split_path)
    _, pairs = splits.resolve_split(manifest, loading.find_pairs(data_dir),
                                    source=str(split_path))
    return data_dir, pairs


def evaluate(model_path, data_dir=None, split_path=None, all_pairs=False,
             settings=None, runtime="keras"):
    """Scores a model on the test part of a split, or on a whole folder.

    Args:
        model_path: The ``.keras`` file.
        data_dir: The data folder; by default the one the model was trained
            on (from its run's ``config.json``), else as ``resolve_data_dir``.
        split_path: The manifest; by default the ``split.json`` saved in the
            model's run folder, so the test set is the one it never saw.
        all_pairs: Score every pair of ``data_dir`` (no split): for a folder
            the model was not trained on.
        settings: ``inference.Settings``; by default those saved beside the
            model (``inference.json``), else plain thresholding at 0.5.
        runtime: What runs the network (``catunet.inference.runtimes``).

    Returns:
        A dict: model, data folder, subset, count, mean, std and per-image rows.
    """
    model_path = Path(model_path)
    model, runtime = load_runtime(model_path, runtime)
    settings = settings or Settings.beside(model_path)
    if all_pairs:
        data_dir = resolve_data_dir(data_dir or _trained_on(model_path))
        pairs, subset = loading.find_pairs(data_dir), "all"
    else:
        data_dir, pairs = model_test_pairs(model_path, data_dir, split_path)
        subset = "test"
    # Scored at the study's 128 px, however large the model's input; and
    # as predict and serve answer, at each photo's own size.
    size = model.input_shape[1]
    images, masks = loading.load_pairs(pairs, size, min(size, loading.IMAGE_SIZE))
    scores = score(model, images, masks, settings)
    scores["dice_full_size"] = full_size_dice(model, pairs, settings)
    report = summarize([p.image.name for p in pairs], scores)
    return {"model": str(model_path), "data_dir": str(data_dir),
            "subset": subset, "runtime": runtime,
            "inference": dataclasses.asdict(settings),
            **report}


def format_table(report):
    """The report as a plain-text table, one image a row, means last."""
    metrics = list(report["mean"])
    width = max([len("image")] + [len(r["image"]) for r in report["images"]])
    header = f"{'image':<{width}}  " + "  ".join(f"{m:>14}" for m in metrics)
    lines = [header, "-" * len(header)]
    for row in report["images"]:
        lines.append(f"{row['image']:<{width}}  "
                     + "  ".join(f"{row[m]:>14.4f}" for m in metrics))
    lines.append("-" * len(header))
    lines.append(f"{'mean':<{width}}  "
                 + "  ".join(f"{report['mean'][m]:>14.4f}" for m in metrics))
    lines.append(f"{'std':<{width}}  "
                 + "  ".join(f"{report['std'][m]:>14.4f}" for m in metrics))
    lines.append(f"{report['count']} {report['subset']} images of "
                 f"{report['data_dir']}, model {report['model']}, runtime "
                 f"{report.get('runtime', 'keras')}")
    return "\n".join(lines)
