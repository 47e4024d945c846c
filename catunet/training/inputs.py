"""A run's inputs, checked before any work: its folders and settings
(``resolve_paths``), its decoded training and held-out arrays, never the
test part (``load_arrays``), and the batches of its epochs
(``training_stream``)."""

import dataclasses
from pathlib import Path

from catunet.data import duplicates, loading, split as splits
from catunet.data.augment import Augmenter, parse_spec
from catunet.data.datasets.cats import resolve_data_dir
from catunet.data.split import SPLITS_DIR, load_split_for
from catunet.errors import CatunetError
from catunet.models.encoders.efficientnet_lite import variant_of
from catunet.models.saving import load_model
from catunet.models.unet import PAPER
from catunet.training import machine
from catunet.training.synthetic import (with_copy_paste, with_mosaics,
                                        with_negative_pastes, with_negatives)


def resolve_paths(config):
    """Checks the settings and fills in the data and run folders.

    Everything that can be wrong with the input fails here, before any work.
    """
    # Every value and combination was checked when the config was made
    # (``TrainConfig.__post_init__``); what is left needs the files.
    if config.init:
        init = load_model(config.init)
        held = PAPER
        if any(layer.name == "encoder" for layer in init.layers):
            held = variant_of(init.get_layer("encoder"))
        if held != config.encoder:
            raise CatunetError(
                f"--init {config.init} holds a {held} U-Net, but --encoder "
                f"is {config.encoder}: continue it with --encoder {held}"
                f"{' (or --recipe paper)' if held == PAPER else ''}")
    if config.negative_photos:
        photos = loading.photos_of(config.negative_photos)
        if config.negative_pastes:
            loading.pairs_of(photos)
    if config.teacher:
        load_model(config.teacher)
    if config.precision == "auto":
        config = dataclasses.replace(
            config, precision=machine.best_precision(config.encoder))
        print(f"Precision: {config.precision} (auto, from this machine's "
              f"{'GPU' if machine.has_gpu() else 'CPU flags'})")
    if config.stage == "pretrain" and not config.data_dir:
        raise CatunetError("--stage pretrain needs --data-dir: the folder of "
                           "images and masks to pre-train on")
    folders = data_folders(config.data_dir)
    if len(folders) > 1 and config.split:
        raise CatunetError("--split names one manifest; with several "
                           "--data-dir folders each uses its own "
                           "data/splits/<folder>.json")
    data_dir = None if config.stage == "voc" else ",".join(
        str(resolve_data_dir(folder)) for folder in folders)
    protect = config.protect
    if config.stage == "pretrain" and protect is None:
        protect = default_protected()
    if protect:  # one folder, one key, however its path is written
        protect = str(Path(protect).resolve())
    return dataclasses.replace(config, data_dir=data_dir, protect=protect,
                               out=config.out or f"runs/{config.stage}")


def data_folders(data_dir):
    """The folders of ``--data-dir`` (several, comma-separated, for
    pre-training on more than one source); ``[None]`` when not given."""
    if not data_dir:
        return [None]
    return [folder.strip() for folder in str(data_dir).split(",")
            if folder.strip()]


def default_protected():
    """The cat set whose test photos pre-training must not see, when it is
    here ($CATUNET_DATA_DIR or data/cats, with its split manifest)."""
    import os

    folder = Path(os.environ.get("CATUNET_DATA_DIR") or "data/cats")
    manifest = SPLITS_DIR / f"{folder.resolve().name}.json"
    return str(folder) if folder.is_dir() and manifest.is_file() else ""


def combined_manifest(manifests):
    """One folder's manifest, or ``{"sources": {folder name: manifest}}``."""
    if len(manifests) == 1:
        return next(iter(manifests.values()))
    return {"sources": {Path(folder).resolve().name: manifest
                        for folder, manifest in manifests.items()}}


def load_arrays(config, data_dir):
    """Decoded training and held-out arrays of a run; never the test part.

    For ``voc`` they are VOC's official train and validation splits; for the
    other stages the training part of the split manifest and, with
    ``folds``, one fold of it held out.

    Returns:
        ``Arrays``.
    """
    if config.stage == "voc":
        from catunet.data.datasets.voc import load_voc

        kwargs = dict(size=config.image_size, tfds_dir=config.tfds_dir,
                      manual_dir=config.manual_dir, classes=config.voc_classes)
        return Arrays(load_voc("train", **kwargs),
                      load_voc("validation", **kwargs), None)
    fit_pairs, val_pairs, test_pairs, manifests = [], [], [], {}
    for folder in data_folders(data_dir):
        pairs = loading.find_pairs(folder)
        train_pairs, test, manifest = load_split_for(config, pairs, folder)
        test_pairs += test
        fit, val = splits.validation_fold(
            train_pairs, config.folds, config.val_fold, seed=manifest["seed"])
        fit_pairs += fit
        val_pairs += val
        manifests[folder] = manifest
    left_out = []
    if config.protect:
        fit_pairs, left_out = guard_pairs(fit_pairs, config)
    fitted = loading.load_pairs(fit_pairs, config.image_size)
    photos = fitted
    if config.copy_paste:
        fitted = with_copy_paste(config, fitted, [
            p.image for p in test_pairs + val_pairs])
    if config.mosaic:
        fitted = with_mosaics(config, fitted, photos)
    if config.negatives:
        fitted = with_negatives(config, fitted, photos, [
            p.image for p in test_pairs + val_pairs])
    if config.negative_pastes:
        fitted = with_negative_pastes(config, fitted, photos, [
            p.image for p in test_pairs + val_pairs])
    held_out = loading.load_pairs(val_pairs, config.image_size) if val_pairs else None
    return Arrays(fitted, held_out, combined_manifest(manifests), left_out)


def protected_photos(folder):
    """The test photos of a data folder's split manifest."""
    pairs = loading.find_pairs(folder)
    path = SPLITS_DIR / f"{Path(folder).resolve().name}.json"
    _, test = splits.resolve_split(splits.load_split(path), pairs,
                                   source=str(path))
    return [pair.image for pair in test]


def guard_pairs(pairs, config):
    """Leaves out pairs whose photo is a near-duplicate of a protected test
    photo (``catunet.data.duplicates``); returns ``(kept, left_out)``."""
    protected = duplicates.hash_files(protected_photos(config.protect))
    found = duplicates.find_duplicates(
        duplicates.hash_files([p.image for p in pairs]), protected)
    if found:
        print(f"Left out {len(found)} photos that look like test photos of "
              f"{config.protect}: "
              + ", ".join(f"{Path(d.path).name} ~ {Path(d.test_photo).name}"
                          for d in found))
    dropped = {d.path for d in found}
    return [p for p in pairs if str(p.image) not in dropped], \
        [dataclasses.asdict(d) for d in found]


@dataclasses.dataclass
class Arrays:
    """The decoded images of a run: never the test part."""

    train: tuple
    held_out: tuple | None
    manifest: dict | None
    left_out: list = dataclasses.field(default_factory=list)


def training_stream(config, arrays, first_epoch, end_epoch, replicas=1):
    """The training batches of epochs ``[first_epoch, end_epoch)``
    (``config.batch_size`` images per replica) and the steps per epoch."""
    x, y = arrays.train
    techniques = parse_spec(config.augment)
    augment = Augmenter(techniques, seed=config.seed) if techniques else None
    batch_size = config.batch_size * replicas
    dataset = loading.make_training_dataset(
        x, y, batch_size, seed=config.seed, first_epoch=first_epoch,
        epochs=end_epoch, augment=augment)
    return dataset, loading.steps_per_epoch(len(x), batch_size)
