"""The one inference path: photos in, probabilities or masks out.

``evaluate``, ``visualize``, the study and the benchmark all predict through
these functions, so batching, input type, test-time augmentation, zoom,
threshold and clean-ups are the same everywhere. The settings that won on
validation are saved beside a model as ``inference.json`` and used by
default.
"""

import dataclasses
import json
from pathlib import Path

import cv2
import numpy as np

from catunet import atomic
from catunet.checks import Choice, Flag, Number, Whole, check_fields
from catunet.data import loading
from catunet.errors import CatunetError
from catunet.inference import contours, postprocess

THRESHOLD = 0.5
BATCH_SIZE = 16
ZOOM_MERGES = ("mean", "max")
SETTINGS_FILE = "inference.json"
# Fields that settings saved before their removal may hold, each with the
# value that meant off: the COCO detector gate, measured no better on
# validation and removed (docs/guide.md).
REMOVED = {"cat_boxes": 0.0, "cat_gate": 0.0}


@dataclasses.dataclass(frozen=True)
class Settings:
    """How probabilities become a mask.

    Attributes:
        tta: Average each photo's prediction with its mirror image's.
        threshold: Probability above which a pixel is foreground.
        fill_holes: Fill background enclosed by foreground.
        min_area: Drop foreground regions smaller than this fraction of the
            photo, but never the largest (0 keeps all).
        zoom: 1 predicts the whole photo only. ``zoom`` > 1 also predicts
            it ``zoom`` times closer, in overlapping square tiles
            (``tiles``), and merges the two maps: a small cat fills more
            of a tile than of the whole photo, which a model trained on
            photos of one large cat sees better.
        zoom_merge: How the two maps are put together (``with_zoom``):
            ``mean``, or ``max``, which keeps what either view is sure of.
        zoom_max_area: Zoom only photos whose whole-photo foreground (its
            mean probability) is below this fraction of the photo
            (``zooms``; 1: every photo).
    """

    tta: bool = False
    threshold: float = THRESHOLD
    fill_holes: bool = False
    min_area: float = 0.0
    zoom: int = 1
    zoom_merge: str = "mean"
    zoom_max_area: float = 1.0

    def __post_init__(self):
        check_fields(self, SETTING_RULES)

    @classmethod
    def as_dict(cls, values):
        """A recorded settings dict with every field, the defaults
        filling what ``values`` lacks (settings recorded before a field
        existed), so two records compare equal when their settings are.
        A removed field (``REMOVED``) is left out while off and kept,
        last, while on, so a report still shows what was tried."""
        kept = {k: v for k, v in values.items() if k not in REMOVED}
        on = {k: v for k, v in values.items()
              if k in REMOVED and v != REMOVED[k]}
        return {**dataclasses.asdict(cls(**kept)), **on}

    @classmethod
    def beside(cls, model_path):
        """The settings saved beside a model, else the defaults.

        Raises:
            CatunetError: The file sets a removed field (``REMOVED``) on:
                its masks would differ from the saved choice's.
        """
        path = Path(model_path).parent / SETTINGS_FILE
        if not path.is_file():
            return cls()
        values = json.loads(path.read_text())
        on = [k for k, off in REMOVED.items() if values.get(k, off) != off]
        if on:
            raise CatunetError(
                f"{path}: {', '.join(f'{k} {values[k]}' for k in on)}: the "
                "COCO detector gate was removed from catunet (measured no "
                "better on validation); delete the "
                f"key{'s' if len(on) > 1 else ''} "
                f"{', '.join(repr(k) for k in on)} from the file")
        return cls(**{k: v for k, v in values.items() if k not in REMOVED})

    def save_beside(self, model_path):
        return atomic.write_json(Path(model_path).parent / SETTINGS_FILE,
                                 dataclasses.asdict(self))

    def to_mask(self, probabilities):
        """A binary ``uint8`` mask of one probability map (any size)."""
        mask = (np.asarray(probabilities) > self.threshold).astype(np.uint8)
        if self.fill_holes or self.min_area:
            mask = postprocess.clean(mask, self.fill_holes, self.min_area)
        return mask


# One rule a field (``catunet.checks``), checked whenever settings are made.
SETTING_RULES = {
    "tta": Flag(), "threshold": Number(0, 1, open="both"),
    "fill_holes": Flag(), "min_area": Number(0, 1, open="high"),
    "zoom": Whole(1, 4), "zoom_merge": Choice(ZOOM_MERGES),
    "zoom_max_area": Number(0, 1, open="low")}


def _forward(model, images, batch_size):
    batches = [model.predict_on_batch(
        images[start:start + batch_size].astype(np.float32))
        for start in range(0, len(images), batch_size)]
    return np.concatenate([np.asarray(b, np.float32) for b in batches])


def predict_probabilities(model, images, batch_size=BATCH_SIZE, tta=False,
                          zoom=1, zoom_merge="mean", zoom_max_area=1.0):
    """Foreground probabilities ``(N, H, W, 1)`` (float32) of images.

    Args:
        model: A Keras model taking ``(N, H, W, 3)`` pixels in [0, 255].
        images: ``(N, H, W, 3)`` array at the model's size (``uint8`` or
            float).
        batch_size: Images per forward pass.
        tta: Test-time augmentation: average the probabilities of each image
            and of its mirror image (flipped back), which cancels part of
            the model's left-right bias; twice the compute.
        zoom: Also predict each image ``zoom`` times closer, in tiles
            (``zoomed_probabilities``), and merge the two (1: off).
        zoom_merge, zoom_max_area: How (``with_zoom``), and for which
            images (``zooms``).
    """
    images = np.asarray(images)
    probabilities = _forward(model, images, batch_size)
    if tta:
        mirrored = _forward(model, images[:, :, ::-1], batch_size)
        probabilities = (probabilities + mirrored[:, :, ::-1]) / 2
    if zoom > 1:
        probabilities = np.stack(_zoomed_where_needed(
            model, list(probabilities), images, zoom, zoom_merge,
            zoom_max_area, batch_size, tta))
    return probabilities


def _zoomed_where_needed(model, maps, photos, zoom, merge, max_area,
                         batch_size, tta):
    """Each whole-photo map merged with its photo seen in tiles
    (``with_zoom``), for the photos that ``zooms`` says need it; only
    those are cut into tiles and predicted."""
    wanted = [i for i, whole in enumerate(maps) if zooms(whole, max_area)]
    near = {}
    if wanted:
        near = dict(zip(wanted, zoomed_probabilities(
            model, [photos[i] for i in wanted], zoom, batch_size, tta)))
    return [with_zoom(whole, near[i].reshape(whole.shape), merge)
            if i in near else whole for i, whole in enumerate(maps)]


def zooms(whole, max_area=1.0):
    """Whether a photo is also seen in tiles: always with ``max_area``
    1, else only when its whole-photo foreground (the mean of its
    probability map ``whole``) is below ``max_area`` of it. A cat
    already seen large needs no closer look, and tiles see only parts
    of it."""
    return max_area >= 1 or float(np.mean(whole)) < max_area


def with_zoom(whole, zoomed, merge="mean"):
    """How one photo's whole-photo probabilities and its tiles' are put
    together, the one place that says so, at any size.

    ``mean`` lets each view vote. ``max`` keeps what either view is sure
    of: the middle of a close-up cat, which a tile showing only fur
    doubts, stays as the whole photo saw it, and a small cat that the
    whole photo missed comes from the tiles; the false alarms of both
    views stay too, which the threshold chosen after it has to weigh.
    """
    if merge == "max":
        return np.maximum(whole, zoomed)
    return (whole + zoomed) / 2


def tile_starts(length, side):
    """Where tiles of ``side`` pixels start along ``length``: half a tile
    apart, the last one flush with the end, so every pixel is covered."""
    if side >= length:
        return [0]
    starts = list(range(0, length - side + 1, max(side // 2, 1)))
    if starts[-1] != length - side:
        starts.append(length - side)
    return starts


def tiles(shape, zoom):
    """Square windows ``(top, left, side)`` that show a photo of ``shape``
    ``zoom`` times closer than the whole photo at the model's size: each
    side is the photo's shorter side over ``zoom``, and neighbours overlap
    by half, so no cat is seen only cut in two."""
    height, width = shape[:2]
    side = max(1, round(min(height, width) / zoom))
    return [(top, left, side) for top in tile_starts(height, side)
            for left in tile_starts(width, side)]


def _resize(image, size):
    # As photos are resized when shrinking; bilinear when enlarging (area
    # averaging would repeat pixels).
    if image.shape[0] >= size:
        return loading.resize_image(image, size)
    return cv2.resize(image, (size, size), interpolation=cv2.INTER_LINEAR)


def zoomed_probabilities(model, photos, zoom, batch_size=BATCH_SIZE,
                         tta=False):
    """Each photo's probabilities, ``(H, W)`` at its own size, from
    ``tiles(photo.shape, zoom)``: every tile is resized to the model's
    size and predicted (all photos' tiles batched together), and each
    pixel averages the tiles that cover it, weighted by ``tile_weights``.

    Args:
        photos: ``(H, W, 3)`` arrays, of any sizes.
    """
    size = model.input_shape[1]
    # OpenCV resizes uint8 and float32, not every integer type.
    photos = [p if p.dtype == np.uint8 else np.asarray(p, np.float32)
              for p in map(np.asarray, photos)]
    windows = [tiles(photo.shape, zoom) for photo in photos]
    crops = np.stack([
        _resize(np.ascontiguousarray(photo[top:top + side, left:left + side]),
                size)
        for photo, own in zip(photos, windows) for top, left, side in own])
    predicted = iter(predict_probabilities(model, crops, batch_size, tta))
    maps = []
    for photo, own in zip(photos, windows):
        total = np.zeros(photo.shape[:2], np.float32)
        weights = np.zeros(photo.shape[:2], np.float32)
        weight = tile_weights(own[0][2])  # one side for all of a photo's
        for top, left, side in own:
            total[top:top + side, left:left + side] += weight * \
                contours.upsample_probabilities(next(predicted), (side, side))
            weights[top:top + side, left:left + side] += weight
        maps.append(total / weights)
    return maps


def tile_weights(side):
    """How much each pixel of a tile counts where tiles overlap: a Gaussian
    peaked at its centre (sigma an eighth of the side, never below a
    thousandth), as nnU-Net's sliding window weighs its patches. A tile
    sees least around a pixel near its edge, where a cat may be cut off,
    so a neighbour that shows the pixel nearer its centre decides; the
    blocky seams of a plain average go."""
    centre = (np.arange(side, dtype=np.float32) - (side - 1) / 2) / (side / 8)
    profile = np.exp(-centre ** 2 / 2)
    return np.maximum(np.outer(profile, profile), 1e-3)


def predict_masks(model, images, settings=Settings(), batch_size=BATCH_SIZE):
    """Binary ``uint8`` masks ``(N, H, W, 1)`` at the model's size."""
    probabilities = predict_probabilities(model, images, batch_size,
                                          settings.tta, settings.zoom,
                                          settings.zoom_merge,
                                          settings.zoom_max_area)
    return np.stack([settings.to_mask(p) for p in probabilities])


def photo_probabilities(model, photos, settings=Settings(),
                        batch_size=BATCH_SIZE):
    """Probability maps ``(H, W)`` of the photos' own sizes.

    Each photo is resized to the model's size, predicted, and its
    probability map upsampled bilinearly to the photo's size; with
    ``settings.zoom`` > 1 it is merged with the map of the photo's own
    pixels seen in tiles (``with_zoom``).

    Args:
        photos: RGB ``uint8`` arrays of any sizes.
    """
    size = model.input_shape[1]
    batch = np.stack([loading.resize_image(p, size) for p in photos])
    probabilities = predict_probabilities(model, batch, batch_size,
                                          settings.tta)
    maps = [contours.upsample_probabilities(prob, photo.shape)
            for prob, photo in zip(probabilities, photos)]
    if settings.zoom > 1:
        maps = _zoomed_where_needed(
            model, maps, photos, settings.zoom, settings.zoom_merge,
            settings.zoom_max_area, batch_size, settings.tta)
    return maps


def predict_photo_masks(model, photos, settings=Settings(),
                        batch_size=BATCH_SIZE):
    """Binary masks of the photos' own sizes, thresholded *after* the
    probabilities are upsampled (``photo_probabilities``), so the outline
    follows the real picture.

    Args:
        photos: RGB ``uint8`` arrays of any sizes.
    """
    return [settings.to_mask(p)
            for p in photo_probabilities(model, photos, settings, batch_size)]
