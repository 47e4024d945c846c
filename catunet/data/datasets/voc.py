"""Pascal VOC 2012 as foreground/background arrays, through TFDS.

The U-Net has one output, so VOC's 20 classes become one foreground (any
class, or only those named in ``classes``) against background. Void pixels
(255: the ~5 px band VOC draws around every object, and ambiguous regions)
are called foreground: after resizing a 500 px photo to 128 px the band is
about one pixel wide and straddles the true outline, and our cat masks are
hand-drawn the same generous way; the binary pipeline and losses then need no
per-pixel weights.
"""

import numpy as np
import tensorflow_datasets as tfds

from catunet.data.datasets.voc_segmentation.voc_segmentation_dataset_builder import (
                                                                                     CLASSES, VOID, Builder)
from catunet.data.loading import resize_image, resize_mask
from catunet.errors import CatunetError


def class_ids(names):
    """VOC class indices of comma-separated names; all 20 when empty."""
    if not names:
        return list(range(1, len(CLASSES)))
    wanted = [n.strip() for n in names.split(",")]
    unknown = [n for n in wanted if n not in CLASSES[1:]]
    if unknown:
        raise CatunetError(f"unknown VOC classes {', '.join(unknown)}; choose "
                           f"from {', '.join(CLASSES[1:])}")
    return [CLASSES.index(n) for n in wanted]


def foreground(segmentation, ids):
    """Binary mask: the chosen classes and void are 1, everything else 0."""
    return np.isin(segmentation, [*ids, VOID]).astype(np.uint8)


def load_voc(split, size=128, tfds_dir=None, manual_dir=None, classes=""):
    """Decodes one VOC split into ``uint8`` arrays ``(N, size, size, C)``.

    Photos without any pixel of the chosen classes are dropped.

    Args:
        split: ``"train"`` or ``"validation"``.
        size: Side of the square images.
        tfds_dir: TFDS data folder (default ``~/tensorflow_datasets``).
        manual_dir: Where ``VOCtrainval_11-May-2012.tar`` or ``VOCdevkit`` is.
        classes: Comma-separated VOC class names to keep; empty keeps all.
    """
    ids = class_ids(classes)
    builder = Builder(data_dir=tfds_dir)
    try:
        builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
            manual_dir=manual_dir))
    except (RuntimeError, AssertionError) as error:
        raise CatunetError(f"Pascal VOC 2012 is not available: {error}") from error
    images, masks = [], []
    for example in tfds.as_numpy(builder.as_dataset(split=split)):
        if not np.isin(example["segmentation"], ids).any():
            continue
        images.append(resize_image(example["image"], size))
        mask = foreground(example["segmentation"][..., 0], ids)
        masks.append(resize_mask(mask, size)[..., None])
    if not images:
        raise CatunetError(f"VOC {split} holds no photo of {classes or 'any class'}")
    return np.stack(images), np.stack(masks)
