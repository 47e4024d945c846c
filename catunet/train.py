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


def make_datasets(config, data_dir):
    """The training and validation pipelines of a run; never the test part.

    Returns:
        ``(train_ds, val_ds or None, manifest)``.
    """
    pairs = data.find_pairs(data_dir)
    train_pairs, _, manifest = load_split_for(config, pairs, data_dir)
    fit_pairs, val_pairs = splits.validation_fold(
        train_pairs, config.folds, config.val_fold, seed=manifest["seed"])
    techniques = parse_spec(config.augment)
    augment = Augmenter(techniques, seed=config.seed) if techniques else None
    x, y = data.load_pairs(fit_pairs, config.image_size)
    train_ds = data.make_dataset(x, y, config.batch_size, shuffle=True,
                                 seed=config.seed, augment=augment)
    val_ds = None
    if val_pairs:
        vx, vy = data.load_pairs(val_pairs, config.image_size)
        val_ds = data.make_dataset(vx, vy, config.batch_size)
    print(f"Training on {len(fit_pairs)} images"
          + (f", validating on {len(val_pairs)}" if val_pairs else "")
          + f" (test set of {len(manifest['test'])} untouched)")
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
    get_loss(config.loss)  # fail on bad input before any work
    parse_spec(config.augment)
    if config.init:
        load_model(config.init)
    data_dir = resolve_data_dir(config.data_dir)
    config = dataclasses.replace(config, data_dir=str(data_dir))
    folder = Path(config.out)
    check_run_folder(config)
    if model_path(config).exists():
        print(f"{model_path(config)} already trained with this config; "
              "delete the folder to train again")
        return Run(config, folder, model_path(config), 0.0, config.epochs)

    keras.utils.set_random_seed(config.seed)  # weights, dropout, shuffling
    train_ds, val_ds, manifest = make_datasets(config, data_dir)
    atomic.write_json(folder / "config.json", config.to_dict())
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
