"""One training run: data, split, model, fit, saved into a run folder.

The run folder holds ``config.json`` (written first), ``split.json`` (the
manifest used), ``history.csv`` and, when training finished, the model
``<stage>.keras`` and ``timing.json`` (training seconds of the process that
finished it). An interrupted run resumes from its last finished epoch
when started again with the same folder and config.
"""

import dataclasses
import json
import shutil
import time
from pathlib import Path

import keras

from catunet import atomic, data, split as splits
from catunet.augment import Augmenter, parse_spec
from catunet.config import PRECISIONS, TrainConfig
from catunet.datasets.cats import resolve_data_dir
from catunet.distribute import STRATEGIES, get_strategy
from catunet.errors import CatunetError
from catunet.evaluate import load_model
from catunet.losses import get_loss
from catunet.metrics import dice_coefficient
from catunet.model import build_unet
from catunet.transfer import restore_weights, set_encoder_trainable

SPLITS_DIR = Path("data") / "splits"


@dataclasses.dataclass
class Run:
    """What a finished run left behind."""

    config: TrainConfig
    folder: Path
    model_path: Path
    seconds: float
    resumed_from: int


def model_path(config):
    return Path(config.out) / f"{config.stage}.keras"


def split_path_for(config, data_dir):
    """The split manifest of a run: ``--split``, else one per data folder."""
    return Path(config.split) if config.split else \
        SPLITS_DIR / f"{Path(data_dir).resolve().name}.json"


def load_split_for(config, pairs, data_dir):
    """Reads the split manifest, making and saving it if it does not exist.

    Returns:
        ``(train_pairs, test_pairs, manifest)``.
    """
    path = split_path_for(config, data_dir)
    if path.exists():
        manifest = splits.load_split(path)
    else:
        manifest = splits.make_split(pairs, seed=config.split_seed)
        splits.save_split(manifest, path)
        print(f"Made a new {len(manifest['train'])}/{len(manifest['test'])} "
              f"train/test split (seed {config.split_seed}) in {path}")
    train, test = splits.resolve_split(manifest, pairs, source=str(path))
    return train, test, manifest


def resolve_paths(config):
    """Checks the settings and fills in the data and run folders.

    Everything that can be wrong with the input fails here, before any work.
    """
    if config.strategy not in STRATEGIES:
        raise CatunetError(f"unknown strategy {config.strategy!r}; choose "
                           f"from {', '.join(STRATEGIES)}")
    if config.precision not in PRECISIONS:
        raise CatunetError(f"unknown precision {config.precision!r}; choose "
                           f"from {', '.join(PRECISIONS)}")
    if config.stage not in STAGES:
        raise CatunetError(f"unknown stage {config.stage!r}; choose from "
                           f"{', '.join(STAGES)}")
    get_loss(config.loss)
    parse_spec(config.augment)
    if config.init:
        load_model(config.init)
    if config.freeze_epochs and not config.init:
        raise CatunetError("--freeze-epochs needs --init: only pre-trained "
                           "layers are worth freezing")
    if config.freeze_epochs < 0 or \
            (config.freeze_epochs and config.freeze_epochs >= config.epochs):
        raise CatunetError(f"--freeze-epochs must be in [0, --epochs), got "
                           f"{config.freeze_epochs} of {config.epochs}")
    if config.fine_tune_learning_rate and not config.freeze_epochs:
        raise CatunetError("--fine-tune-learning-rate applies after "
                           "--freeze-epochs; give both, or use --learning-rate")
    if config.stage == "pretrain" and not config.data_dir:
        raise CatunetError("--stage pretrain needs --data-dir: the folder of "
                           "images and masks to pre-train on")
    data_dir = None if config.stage == "voc" else str(
        resolve_data_dir(config.data_dir))
    return dataclasses.replace(config, data_dir=data_dir,
                               out=config.out or f"runs/{config.stage}")


def check_run_folder(config):
    """Refuses a run folder that holds a run with other settings."""
    saved = Path(config.out) / "config.json"
    if saved.exists():
        previous = TrainConfig.load(saved)
        if previous != config:
            changed = [f"{k}: {v!r} -> {config.to_dict()[k]!r}"
                       for k, v in previous.to_dict().items()
                       if config.to_dict()[k] != v]
            raise CatunetError(
                f"{config.out} holds a run with other settings "
                f"({'; '.join(changed)}); choose another --out or delete it")


STAGES = ("cats", "pretrain", "voc")


def load_arrays(config, data_dir):
    """Decoded training and held-out arrays of a run; never the test part.

    For ``voc`` they are VOC's official train and validation splits; for the
    other stages the training part of the split manifest and, with
    ``folds``, one fold of it held out.

    Returns:
        ``((x, y), (vx, vy) or None, manifest or None)``.
    """
    if config.stage == "voc":
        from catunet.datasets.voc import load_voc

        kwargs = dict(size=config.image_size, tfds_dir=config.tfds_dir,
                      manual_dir=config.manual_dir, classes=config.voc_classes)
        return load_voc("train", **kwargs), load_voc("validation", **kwargs), None
    pairs = data.find_pairs(data_dir)
    train_pairs, _, manifest = load_split_for(config, pairs, data_dir)
    fit_pairs, val_pairs = splits.validation_fold(
        train_pairs, config.folds, config.val_fold, seed=manifest["seed"])
    fitted = data.load_pairs(fit_pairs, config.image_size)
    held_out = data.load_pairs(val_pairs, config.image_size) if val_pairs else None
    return fitted, held_out, manifest


def make_datasets(config, data_dir, replicas=1):
    """The training and validation pipelines of a run; never the test part.

    Batches hold ``config.batch_size`` images per replica.

    Returns:
        ``(train_ds, val_ds or None, manifest or None)``.
    """
    (x, y), held_out, manifest = load_arrays(config, data_dir)
    techniques = parse_spec(config.augment)
    augment = Augmenter(techniques, seed=config.seed) if techniques else None
    batch_size = config.batch_size * replicas
    train_ds = data.make_dataset(x, y, batch_size, shuffle=True,
                                 seed=config.seed, augment=augment)
    val_ds = None
    if held_out is not None:
        val_ds = data.make_dataset(*held_out, batch_size)
    print(f"Training on {len(x)} images"
          + (f", validating on {len(held_out[0])}" if held_out else "")
          + (f" (test set of {len(manifest['test'])} untouched)" if manifest
             else ""))
    return train_ds, val_ds, manifest


def compile_model(config, learning_rate=None, frozen_encoder=False):
    """A new U-Net as ``config`` says, compiled with Adam.

    Args:
        learning_rate: Adam's rate; None means ``config.learning_rate``.
        frozen_encoder: Leave the ``enc*`` layers out of training.
    """
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(config.precision)
    try:
        model = build_unet(
            input_shape=(config.image_size, config.image_size, 3),
            base_filters=config.width,
            depth=config.depth,
            batch_norm=config.batch_norm,
            dropout=config.dropout,
        )
    finally:
        keras.mixed_precision.set_global_policy(previous)
    set_encoder_trainable(model, not frozen_encoder)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate or config.learning_rate),
        loss=get_loss(config.loss),
        metrics=[dice_coefficient],
    )
    return model


@dataclasses.dataclass(frozen=True)
class Phase:
    """Epochs ``[start, end)`` of a run trained with one setting."""

    name: str
    start: int
    end: int
    frozen_encoder: bool
    learning_rate: float


def phases(config):
    """The phases of a run: one, or encoder frozen then unfrozen.

    With ``freeze_epochs`` the pre-trained encoder is kept fixed while the
    decoder adapts to the new task, so the first, large gradients of a
    randomly matched decoder cannot wash out what the encoder learnt; then
    every layer trains at ``fine_tune_learning_rate``.
    """
    if not config.freeze_epochs:
        return [Phase("all", 0, config.epochs, False, config.learning_rate)]
    return [
        Phase("frozen", 0, config.freeze_epochs, True, config.learning_rate),
        Phase("unfrozen", config.freeze_epochs, config.epochs, False,
              config.fine_tune_learning_rate or config.learning_rate),
    ]


class _EpochCounter(keras.callbacks.Callback):
    """Remembers the first epoch this process trained (after a restore)."""

    def __init__(self):
        super().__init__()
        self.first_epoch = None

    def on_epoch_begin(self, epoch, logs=None):
        if self.first_epoch is None:
            self.first_epoch = epoch


def _backup(folder, phase):
    return folder / f"backup-{phase.name}"


def _fit_phase(model, phase, folder, train_ds, val_ds, verbose, callbacks):
    """Fits one phase, resumable from its own backup; returns its seconds."""
    backup = _backup(folder, phase)
    start = time.perf_counter()
    model.fit(
        train_ds,
        validation_data=val_ds,
        initial_epoch=phase.start,
        epochs=phase.end,
        verbose=verbose,
        shuffle=False,  # the dataset reshuffles itself every epoch
        callbacks=[
            keras.callbacks.BackupAndRestore(str(backup)),
            keras.callbacks.CSVLogger(str(folder / "history.csv"), append=True),
            *callbacks,
        ],
    )
    return time.perf_counter() - start


def train(config, verbose=1, callbacks=()):
    """Trains a U-Net as ``config`` says and saves it in ``config.out``.

    A folder whose model already exists with the same config is returned
    as it is, without training again.

    Args:
        config: A ``TrainConfig``.
        verbose: Keras ``fit`` verbosity (1 = progress bar, 2 = a line per
            epoch, 0 = silent).
        callbacks: Extra Keras callbacks.

    Returns:
        A ``Run``.
    """
    config = resolve_paths(config)
    data_dir = config.data_dir
    folder = Path(config.out)
    check_run_folder(config)
    if model_path(config).exists():
        print(f"{model_path(config)} already trained with this config; "
              "delete the folder to train again")
        timing = folder / "timing.json"
        seconds = json.loads(timing.read_text())["seconds"] \
            if timing.is_file() else 0.0
        return Run(config, folder, model_path(config), seconds, config.epochs)

    keras.utils.set_random_seed(config.seed)  # weights, dropout, shuffling
    strategy = get_strategy(config.strategy)
    replicas = strategy.num_replicas_in_sync
    if replicas > 1:
        print(f"{config.strategy}: {replicas} replicas, global batch "
              f"{config.batch_size * replicas}")
    train_ds, val_ds, manifest = make_datasets(config, data_dir, replicas)
    atomic.write_json(folder / "config.json", config.to_dict())
    if manifest:
        atomic.write_json(folder / "split.json", manifest)

    counter = _EpochCounter()
    seconds = 0.0
    stages = phases(config)
    for i, phase in enumerate(stages):
        last = i == len(stages) - 1
        saved = model_path(config) if last else folder / f"{phase.name}.keras"
        if saved.exists():  # finished before an interruption
            continue
        with strategy.scope():  # variables on every replica
            model = compile_model(config, phase.learning_rate,
                                  phase.frozen_encoder)
        source = config.init if i == 0 else folder / f"{stages[i - 1].name}.keras"
        if source:
            restored = restore_weights(model, source)
            if i == 0:
                print(f"Restored {restored} of "
                      f"{sum(1 for layer in model.layers if layer.weights)} "
                      f"layers from {source}")
        if len(stages) > 1:
            print(f"Epochs {phase.start + 1}-{phase.end}: encoder "
                  f"{'frozen' if phase.frozen_encoder else 'trained'}, "
                  f"learning rate {phase.learning_rate:g}")
        seconds += _fit_phase(model, phase, folder, train_ds, val_ds, verbose,
                              [counter, *callbacks])
        atomic.save_model(model, saved)
        shutil.rmtree(_backup(folder, phase), ignore_errors=True)  # once saved
    for phase in stages[:-1]:
        (folder / f"{phase.name}.keras").unlink()
    atomic.write_json(folder / "timing.json",
                      {"seconds": seconds, "resumed_from": counter.first_epoch})
    return Run(config, folder, model_path(config), seconds,
               counter.first_epoch or 0)
