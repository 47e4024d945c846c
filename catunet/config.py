"""The configuration of a training run: one frozen dataclass, saved as JSON.

Every field has a command-line flag of the same name (``--width`` for
``width``); the run folder keeps ``config.json`` so any result can be rerun.
Defaults are the settings that won on validation Dice in
``reports/losses.md``; the test set never chose them.
"""

import dataclasses
import json
from pathlib import Path

from catunet.errors import CatunetError


PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Settings of one training run.

    Attributes:
        stage: What is trained: ``cats`` (the cat set), ``pretrain`` (any
            folder of images and masks, for transfer learning) or ``voc``
            (Pascal VOC 2012 through TFDS). The model is ``<stage>.keras``.
        data_dir: Data folder (``images/`` + ``masks/``); None looks in
            ``$CATUNET_DATA_DIR`` then ``data/cats``. ``pretrain`` needs it.
        split: The split manifest; None means ``data/splits/<folder>.json``,
            made on first use.
        split_seed: Seed of the train/test split when it has to be made.
        loss: Loss name (see ``catunet.losses.LOSSES``).
        epochs: Passes over the training images.
        width: Filters of the first U-Net level (64 in the paper).
        depth: Down-sampling steps of the U-Net.
        batch_norm: Batch normalisation after every convolution.
        dropout: Dropout at the bottleneck.
        batch_size: Images per step.
        learning_rate: Adam's learning rate.
        seed: Seed of weights, shuffling and dropout.
        folds: Split the training part into this many folds and hold one out
            for validation; 0 trains on all of it.
        val_fold: Which fold is held out.
        image_size: Side of the square the images are resized to.
        init: A ``.keras`` model whose same-named layers initialise this one.
        freeze_epochs: With ``init``: train this many epochs with the
            encoder (the ``enc*`` layers) frozen, then unfreeze it.
        fine_tune_learning_rate: Adam's learning rate once the encoder is
            unfrozen; None keeps ``learning_rate``.
        augment: Augmentation spec, e.g. ``"flip,rotate=0.1,elastic"`` or
            ``"recommended"`` (see ``catunet.augment``); empty for none.
            The default won on validation in ``reports/augmentation.md``.
        tfds_dir: TFDS data folder for ``voc`` (None: TFDS's default).
        manual_dir: Folder holding VOC's tar or ``VOCdevkit`` (``voc``).
        voc_classes: Comma-separated VOC classes that count as foreground
            (``voc``); empty: all 20.
        precision: Keras dtype policy: ``float32``, ``mixed_float16``
            (GPUs) or ``mixed_bfloat16`` (CPUs and TPUs with bfloat16); the
            output layer and the loss stay in float32.
        strategy: ``default``, ``mirrored`` or ``multiworker`` (see
            ``catunet.distribute``); ``batch_size`` is then per replica.
        out: The run folder; None means ``runs/<stage>``.
    """

    stage: str = "cats"
    data_dir: str | None = None
    split: str | None = None
    split_seed: int = 0
    loss: str = "bce+dice"
    epochs: int = 80
    width: int = 8
    depth: int = 4
    batch_norm: bool = False
    dropout: float = 0.0
    batch_size: int = 8
    learning_rate: float = 1e-3
    seed: int = 0
    folds: int = 0
    val_fold: int = 0
    image_size: int = 128
    init: str | None = None
    freeze_epochs: int = 0
    fine_tune_learning_rate: float | None = None
    augment: str = "recommended"
    tfds_dir: str | None = None
    manual_dir: str | None = None
    voc_classes: str = ""
    precision: str = "float32"
    strategy: str = "default"
    out: str | None = None

    def to_dict(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values):
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise CatunetError(f"unknown config keys: {', '.join(unknown)}")
        return cls(**values)

    @classmethod
    def load(cls, path):
        try:
            return cls.from_dict(json.loads(Path(path).read_text()))
        except (OSError, json.JSONDecodeError, TypeError) as error:
            raise CatunetError(f"{path}: not a readable config ({error})") \
                from error
