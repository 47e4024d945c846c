"""One training run: data, split, model, fit, saved into a run folder.

The run folder holds ``config.json`` (written first), ``split.json`` (the
manifest used), ``history.csv`` and, when training finished, the model
``<stage>.keras``. An interrupted run resumes from its last finished epoch
when started again with the same folder and config.
"""

import dataclasses
import shutil
import time
from pathlib import Path

import keras

from catunet import atomic, data, split as splits
from catunet.augment import Augmenter, parse_spec
from catunet.config import TrainConfig
from catunet.datasets.cats import resolve_data_dir
from catunet.errors import CatunetError
from catunet.evaluate import load_model
from catunet.losses import get_loss
from catunet.metrics import dice_coefficient
from catunet.model import build_unet
from catunet.transfer import restore_weights

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


def load_split_for(config, pairs, data_dir):
    """Reads the split manifest, making and saving it if it does not exist.

    Returns:
        ``(train_pairs, test_pairs, manifest)``.
    """
    path = Path(config.split) if config.split else \
        SPLITS_DIR / f"{Path(data_dir).resolve().name}.json"
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
    if config.stage not in STAGES:
        raise CatunetError(f"unknown stage {config.stage!r}; choose from "
                           f"{', '.join(STAGES)}")
    get_loss(config.loss)
    parse_spec(config.augment)
    if config.init:
        load_model(config.init)
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


def make_datasets(config, data_dir):
    """The training and validation pipelines of a run; never the test part.

    Returns:
        ``(train_ds, val_ds or None, manifest or None)``.
    """
    (x, y), held_out, manifest = load_arrays(config, data_dir)
    techniques = parse_spec(config.augment)
    augment = Augmenter(techniques, seed=config.seed) if techniques else None
    train_ds = data.make_dataset(x, y, config.batch_size, shuffle=True,
                                 seed=config.seed, augment=augment)
    val_ds = None
    if held_out is not None:
        val_ds = data.make_dataset(*held_out, config.batch_size)
    print(f"Training on {len(x)} images"
          + (f", validating on {len(held_out[0])}" if held_out else "")
          + (f" (test set of {len(manifest['test'])} untouched)" if manifest
             else ""))
    return train_ds, val_ds, manifest


def compile_model(config):
    model = build_unet(
        input_shape=(config.image_size, config.image_size, 3),
        base_filters=config.width,
        depth=config.depth,
        batch_norm=config.batch_norm,
        dropout=config.dropout,
    )
    model.compile(
        optimizer=keras.optimizers.Adam(config.learning_rate),
        loss=get_loss(config.loss),
        metrics=[dice_coefficient],
    )
    return model


class _EpochCounter(keras.callbacks.Callback):
    """Remembers the first epoch this process trained (after a restore)."""

    def __init__(self):
        super().__init__()
        self.first_epoch = None

    def on_epoch_begin(self, epoch, logs=None):
        if self.first_epoch is None:
            self.first_epoch = epoch


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
        return Run(config, folder, model_path(config), 0.0, config.epochs)

    keras.utils.set_random_seed(config.seed)  # weights, dropout, shuffling
    train_ds, val_ds, manifest = make_datasets(config, data_dir)
    atomic.write_json(folder / "config.json", config.to_dict())
    if manifest:
        atomic.write_json(folder / "split.json", manifest)

    model = compile_model(config)
    if config.init:
        restored = restore_weights(model, config.init)
        print(f"Restored {restored} of "
              f"{sum(1 for layer in model.layers if layer.weights)} layers "
              f"from {config.init}")
    counter = _EpochCounter()
    backup = folder / "backup"
    start = time.perf_counter()
    model.fit(
        train_ds,
        validation_data=val_ds,
        epochs=config.epochs,
        verbose=verbose,
        shuffle=False,  # the dataset reshuffles itself every epoch
        callbacks=[
            keras.callbacks.BackupAndRestore(str(backup)),
            keras.callbacks.CSVLogger(str(folder / "history.csv"), append=True),
            counter,
            *callbacks,
        ],
    )
    seconds = time.perf_counter() - start
    atomic.save_model(model, model_path(config))
    shutil.rmtree(backup, ignore_errors=True)
    return Run(config, folder, model_path(config), seconds,
               counter.first_epoch or 0)
