"""Outlines of predicted cats on photos at their original resolution.

Two uses (``python visualize.py``):

* the test images of a run: the best, median and worst by Dice (the worst
  is the failure case when its Dice is low) and a contact sheet of all;
* any photos: a mask PNG of the photo's size and an outlined copy of each.
"""

import dataclasses
import sys
from pathlib import Path

import cv2
import numpy as np

from catunet import atomic
from catunet.data import loading
from catunet.errors import CatunetError
from catunet.inference import contours
from catunet.inference.evaluate import model_test_pairs
from catunet.inference.predict import Settings, predict_photo_masks
from catunet.inference.runtimes import load_runtime
from catunet.models.metrics import dice_coefficient

FAILURE_DICE = 0.5  # a worst image below this is called a failure


@dataclasses.dataclass
class Outlined:
    """One photo with its predicted (and true) mask at the photo's size."""

    name: str
    photo: np.ndarray
    predicted: np.ndarray
    truth: np.ndarray | None = None

    @property
    def dice(self):
        if self.truth is None:
            return None
        return float(np.asarray(dice_coefficient(
            self.truth[None, ..., None].astype(np.float32),
            self.predicted[None, ..., None].astype(np.float32)))[0])

    def overlay(self, with_truth=True):
        return contours.overlay(self.photo, self.predicted,
                                self.truth if with_truth else None)


def _mask_like(mask, photo):
    """The mask at the photo's size (some data sets store smaller masks)."""
    if mask.shape[:2] == photo.shape[:2]:
        return mask
    return cv2.resize(mask, photo.shape[1::-1], interpolation=cv2.INTER_NEAREST)


def outline_test_set(model_path, data_dir=None, split_path=None, batch=8,
                     settings=None, runtime="keras"):
    """Predicts every test image of the model's split at full resolution.

    Args:
        settings: ``inference.Settings``; by default those saved beside the
            model.
        runtime: What runs the network (``catunet.inference.runtimes``).

    Returns:
        A list of ``Outlined``, in the manifest's order.
    """
    model, _ = load_runtime(model_path, runtime)
    settings = settings or Settings.beside(model_path)
    _, pairs = model_test_pairs(model_path, data_dir, split_path)
    items = []
    for start in range(0, len(pairs), batch):
        chunk = pairs[start:start + batch]
        photos = [loading.read_image(p.image) for p in chunk]
        for pair, photo, predicted in zip(chunk, photos,
                                          predict_photo_masks(model, photos,
                                                              settings)):
            truth = _mask_like(loading.read_mask(pair.mask), photo)
            items.append(Outlined(pair.image.name, photo, predicted, truth))
    return items


def pick_samples(dice):
    """Indices of the best, median and worst Dice, with their labels.

    The worst is labelled a failure when its Dice is under ``FAILURE_DICE``.
    """
    order = np.argsort(dice, kind="stable")
    worst, median, best = order[0], order[len(order) // 2], order[-1]
    failure = dice[worst] < FAILURE_DICE
    return [("best", int(best)), ("median", int(median)),
            ("worst (failure)" if failure else "worst", int(worst))]


def save_test_figures(items, out, with_truth=True):
    """Writes ``samples.png``, ``contact-sheet.png`` and ``samples.json``.

    Returns:
        The summary saved as ``samples.json``.
    """
    import matplotlib.pyplot as plt

    from catunet.figures import outline_grid

    out = Path(out)
    dice = np.array([item.dice for item in items])
    picks = pick_samples(dice)
    figures = {
        "samples.png": outline_grid(
            [items[i].overlay(with_truth) for _, i in picks],
            [f"{label}: {items[i].name}\nDice {dice[i]:.2f}"
             for label, i in picks],
            per_row=3, size=4.0, legend=with_truth),
        "contact-sheet.png": outline_grid(
            [item.overlay(with_truth) for item in items],
            [f"{item.name}  {d:.2f}" for item, d in zip(items, dice)],
            per_row=6, size=2.0, legend=with_truth),
    }
    for name, fig in figures.items():
        atomic.save_figure(fig, out / name, dpi=100)
        plt.close(fig)
    summary = {
        "count": len(items),
        "mean_dice": float(dice.mean()),
        "dice_resolution": "original photo size",
        "samples": {label: {"image": items[i].name, "dice": float(dice[i])}
                    for label, i in picks},
        "dice_per_image": {item.name: float(d) for item, d in zip(items, dice)},
    }
    atomic.write_json(out / "samples.json", summary)
    return summary


def expand_inputs(inputs):
    """Files as given and the image files of folders (sorted), in order."""
    files = []
    for entry in map(Path, inputs):
        if entry.is_dir():
            files += sorted(p for p in entry.iterdir() if p.is_file()
                            and p.suffix.lower() in loading.IMAGE_EXTENSIONS)
        else:
            files.append(entry)
    return files


def _unique_stem(path, used):
    stem = path.stem
    if stem in used:
        stem = f"{path.stem}-{path.suffix.lstrip('.').lower()}"
    while stem in used:
        stem += "-"
    used.add(stem)
    return stem


def predict_photos(model_path, inputs, out, progress=True, settings=None,
                   runtime="keras"):
    """Saves ``<stem>-mask.png`` (0/255, the photo's size) and
    ``<stem>-outline.jpg`` in ``out`` for every photo.

    A file that cannot be read is reported on stderr and skipped. A photo
    whose stem was already used (``cat.jpg`` after ``cat.bmp``) is saved as
    ``<stem>-<extension>``. ``settings`` default to those saved beside
    the model.

    Returns:
        ``(saved, failed)``: lists of input paths.
    """
    import keras

    model, _ = load_runtime(model_path, runtime)
    settings = settings or Settings.beside(model_path)
    files = expand_inputs(inputs)
    if not files:
        raise CatunetError(f"no image files in {', '.join(map(str, inputs))}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    bar = keras.utils.Progbar(len(files), unit_name="photo") if progress else None
    saved, failed, used = [], [], set()
    for k, path in enumerate(files, 1):
        try:
            photo = loading.read_image(path)
        except CatunetError as error:
            print(f"\nerror: {error}", file=sys.stderr)
            failed.append(path)
        else:
            mask = predict_photo_masks(model, [photo], settings)[0]
            stem = _unique_stem(path, used)
            atomic.write_image(out / f"{stem}-mask.png", mask * 255)
            outlined = contours.overlay(photo, mask)
            atomic.write_image(out / f"{stem}-outline.jpg",
                               cv2.cvtColor(outlined, cv2.COLOR_RGB2BGR))
            saved.append(path)
        if bar:
            bar.update(k)
    return saved, failed
