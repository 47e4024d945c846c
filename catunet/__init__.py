"""catunet: U-Net segmentation of cats (and any foreground) from small sets.

The library, by stage (ARCHITECTURE.md draws how they connect):

    data/        photos and masks in: decoding, pairs on disk, the split,
                 augmentation, synthetic photos, the data sets' sources
    models/      the paper's U-Net, the U-Net over a pretrained encoder,
                 losses, metrics, saving
    training/    settings and recipes, one resumable run, self-training
    inference/   the one path from a photo to a mask, its runtimes,
                 export, scoring and outlines
    serving/     the page and its API
    cli          the ``catunet`` command; visualize and figures draw

The names below are the public API, imported when first used, so that
``import catunet`` stays instant (TensorFlow loads with the first model).
"""

import importlib

__version__ = "0.2.0"

API = {
    "TrainConfig": "catunet.training.config",
    "RECIPES": "catunet.training.recipes",
    "train": "catunet.training.train",
    "build_model": "catunet.models.unet",
    "load_model": "catunet.models.saving",
    "save_model": "catunet.models.saving",
    "find_pairs": "catunet.data.loading",
    "load_pairs": "catunet.data.loading",
    "decode": "catunet.data.photos",
    "Settings": "catunet.inference.predict",
    "predict_photo_masks": "catunet.inference.predict",
    "evaluate": "catunet.inference.evaluate",
    "load_runtime": "catunet.inference.runtimes",
    "export_model": "catunet.inference.export",
    "find_contours": "catunet.inference.contours",
    "Segmenter": "catunet.serving.segmenter",
    "CatunetError": "catunet.errors",
}
__all__ = sorted(API)


def __getattr__(name):
    if name in API:
        return getattr(importlib.import_module(API[name]), name)
    raise AttributeError(f"module 'catunet' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + __all__)
