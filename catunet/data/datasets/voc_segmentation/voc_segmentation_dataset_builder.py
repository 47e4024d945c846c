"""Pascal VOC 2012 segmentation: photos with per-pixel class masks.

TFDS's own ``voc`` dataset carries boxes and labels only; this builder reads
the segmentation masks of the same release. Splits are the official
``ImageSets/Segmentation/train.txt`` (1,464 photos) and ``val.txt`` (1,449).
A mask holds class indices: 0 background, 1-20 the classes (``CLASSES``),
255 "void" (object boundaries and ambiguous pixels).
"""

import numpy as np
import tensorflow_datasets as tfds
from PIL import Image

ARCHIVE = "VOCtrainval_11-May-2012.tar"
URL = f"http://host.robots.ox.ac.uk/pascal/VOC/voc2012/{ARCHIVE}"
CLASSES = (
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus",
    "car", "cat", "chair", "cow", "diningtable", "dog", "horse", "motorbike",
    "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor",
)
VOID = 255
SPLITS = {"train": "train", "validation": "val"}


class Builder(tfds.core.GeneratorBasedBuilder):
    """Pascal VOC 2012 segmentation (class-index masks)."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Segmentation masks of VOC 2012 trainval."}
    MANUAL_DOWNLOAD_INSTRUCTIONS = f"""
    Offline, put either the archive {ARCHIVE} (from {URL}) or the folder
    VOCdevkit extracted from it into the manual folder, by default
    ~/tensorflow_datasets/downloads/manual/ (so that
    .../manual/{ARCHIVE} or .../manual/VOCdevkit/VOC2012/ImageSets exists).
    Online, the archive is downloaded and its checksum checked.
    """

    def _info(self):
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict({
                "image": tfds.features.Image(shape=(None, None, 3)),
                "segmentation": tfds.features.Image(shape=(None, None, 1),
                                                    encoding_format="png"),
                "file_name": tfds.features.Text(),
            }),
            supervised_keys=("image", "segmentation"),
            homepage="http://host.robots.ox.ac.uk/pascal/VOC/voc2012/",
        )

    def _split_generators(self, dl_manager):
        root = self._voc_root(dl_manager)
        return {name: self._generate_examples(root, list_name)
                for name, list_name in SPLITS.items()}

    def _voc_root(self, dl_manager):
        """``VOCdevkit/VOC2012`` from the manual folder, else downloaded."""
        try:
            manual = dl_manager.manual_dir
        except AssertionError:
            manual = None
        if manual is not None:
            if (manual / "VOCdevkit").exists():
                return manual / "VOCdevkit" / "VOC2012"
            if (manual / ARCHIVE).exists():
                return dl_manager.extract(manual / ARCHIVE) / "VOCdevkit" / "VOC2012"
        try:
            extracted = dl_manager.download_and_extract(URL)
        except Exception as error:  # offline: say what to put where
            raise RuntimeError(
                f"Could not download {URL} ({error}).\n"
                + self.MANUAL_DOWNLOAD_INSTRUCTIONS) from error
        return extracted / "VOCdevkit" / "VOC2012"

    def _generate_examples(self, root, list_name):
        names = (root / "ImageSets" / "Segmentation" / f"{list_name}.txt")
        for name in names.read_text().split():
            with (root / "SegmentationClass" / f"{name}.png").open("rb") as f:
                # Palette PNG: the pixel values are the class indices.
                mask = np.array(Image.open(f))
            yield name, {
                "image": root / "JPEGImages" / f"{name}.jpg",
                "segmentation": mask[..., None].astype(np.uint8),
                "file_name": f"{name}.jpg",
            }
