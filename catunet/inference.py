"""The one inference path: photos in, probabilities or masks out.

``evaluate``, ``visualize``, the study and the benchmark all predict through
these functions, so batching, input type, test-time augmentation, threshold
and clean-ups are the same everywhere. The settings that won on validation
are saved beside a model as ``inference.json`` and used by default.
"""

import dataclasses
import json
from pathlib import Path

import numpy as np

from catunet import atomic, contours, data, postprocess

THRESHOLD = 0.5
BATCH_SIZE = 16
SETTINGS_FILE = "inference.json"


@dataclasses.dataclass(frozen=True)
class Settings:
    """How probabilities become a mask.

    Attributes:
        tta: Average each photo's prediction with its mirror image's.
        threshold: Probability above which a pixel is foreground.
        fill_holes: Fill background enclosed by foreground.
        min_area: Drop foreground regions smaller than this fraction of the
            photo, but never the largest (0 keeps all).
    """

    tta: bool = False
    threshold: float = THRESHOLD
    fill_holes: bool = False
    min_area: float = 0.0

    @classmethod
    def beside(cls, model_path):
        """The settings saved beside a model, else the defaults."""
        path = Path(model_path).parent / SETTINGS_FILE
        if not path.is_file():
            return cls()
        return cls(**json.loads(path.read_text()))

    def save_beside(self, model_path):
        return atomic.write_json(Path(model_path).parent / SETTINGS_FILE,
                                 dataclasses.asdict(self))

    def to_mask(self, probabilities):
        """A binary ``uint8`` mask of one probability map (any size)."""
        mask = (np.asarray(probabilities) > self.threshold).astype(np.uint8)
        if self.fill_holes or self.min_area:
            mask = postprocess.clean(mask, self.fill_holes, self.min_area)
        return mask


def _forward(model, images, batch_size):
    batches = [model.predict_on_batch(
        images[start:start + batch_size].astype(np.float32))
        for start in range(0, len(images), batch_size)]
    return np.concatenate([np.asarray(b, np.float32) for b in batches])


def predict_probabilities(model, images, batch_size=BATCH_SIZE, tta=False):
    """Foreground probabilities ``(N, H, W, 1)`` (float32) of images.

    Args:
        model: A Keras model taking ``(N, H, W, 3)`` pixels in [0, 255].
        images: ``(N, H, W, 3)`` array at the model's size (``uint8`` or
            float).
        batch_size: Images per forward pass.
        tta: Test-time augmentation: average the probabilities of each image
            and of its mirror image (flipped back), which cancels part of
            the model's left-right bias; twice the compute.
    """
    images = np.asarray(images)
    probabilities = _forward(model, images, batch_size)
    if tta:
        mirrored = _forward(model, images[:, :, ::-1], batch_size)
        probabilities = (probabilities + mirrored[:, :, ::-1]) / 2
    return probabilities


def predict_masks(model, images, settings=Settings(), batch_size=BATCH_SIZE):
    """Binary ``uint8`` masks ``(N, H, W, 1)`` at the model's size."""
    probabilities = predict_probabilities(model, images, batch_size,
                                          settings.tta)
    return np.stack([settings.to_mask(p) for p in probabilities])


def predict_photo_masks(model, photos, settings=Settings(),
                        batch_size=BATCH_SIZE):
    """Binary masks of the photos' own sizes.

    Each photo is resized to the model's size, predicted, and its
    probability map upsampled bilinearly to the photo's size *before* the
    threshold, so the outline follows the real picture.

    Args:
        photos: RGB ``uint8`` arrays of any sizes.
    """
    size = model.input_shape[1]
    batch = np.stack([data.resize_image(p, size) for p in photos])
    probabilities = predict_probabilities(model, batch, batch_size,
                                          settings.tta)
    return [settings.to_mask(contours.upsample_probabilities(prob, photo.shape))
            for prob, photo in zip(probabilities, photos)]
