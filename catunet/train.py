"""One training run: data, split, model, fit, saved into a run folder.

The run folder holds ``run.json`` (written first: the run's key, config,
data and code identity, machine and package versions; at the end the
training time summed over every process that worked on it),
``config.json``, ``split.json`` (the manifest used), ``history.csv`` and,
when training finished, the model ``<stage>.keras``.

A run killed at any moment resumes from its last finished epoch when the
same command is run again, and ends with the same weights as a run that was
never interrupted: checkpoints are written atomically every epoch
(``catunet.checkpoint``), and the order and augmentation of every batch
depend only on (seed, epoch, step) (``data.make_training_dataset``).
"""

import csv
import dataclasses
import io
import json
from pathlib import Path

import keras

from catunet import (atomic, data, duplicates, ensemble, machine, provenance,
                     recipes, split as splits)
from catunet.split import (SPLITS_DIR, load_split_for,  # noqa: F401 (API)
                           split_path_for)
from catunet.augment import Augmenter, parse_spec
from catunet.checkpoint import Checkpoints, SaveEveryEpoch
from catunet.config import TrainConfig
from catunet.datasets.cats import resolve_data_dir
from catunet.distribute import get_strategy, strategy_for_fit
from catunet.errors import CatunetError
from catunet.inference import Settings
from catunet.losses import get_loss
from catunet.metrics import dice_coefficient
from catunet.model import PAPER, build_model
from catunet.saving import load_model, restore_weights, save_model
from catunet.transfer import set_encoder_trainable



@dataclasses.dataclass
class Run:
    """What a finished run left behind."""

    config: TrainConfig
    folder: Path
    model_path: Path
    seconds: float
    resumed_from: int
    key: str
    reused: bool = False  # found finished in another folder, not trained


def finished_run(folder, key):
    """The ``Run`` of a finished run folder, as its ``run.json`` records it."""
    record = provenance.load_record(folder)
    config = TrainConfig.from_dict(record["config"])
    path = model_path(dataclasses.replace(config, out=str(folder)))
    return Run(config, Path(folder), path, record["train_seconds"],
               config.epochs, key, reused=True)


def model_path(config):
    return Path(config.out) / f"{config.stage}.keras"


def resolve_paths(config):
    """Checks the settings and fills in the data and run folders.

    Everything that can be wrong with the input fails here, before any work.
    """
    # Every value and combination was checked when the config was made
    # (``TrainConfig.__post_init__``); what is left needs the files.
    if config.init:
        has_encoder = any(layer.name == "encoder"
                          for layer in load_model(config.init).layers)
        if has_encoder != (config.encoder != PAPER):
            raise CatunetError(
                f"--init {config.init} holds "
                f"{'a pretrained-encoder' if has_encoder else 'a paper'} "
                f"U-Net, but --encoder is {config.encoder}: continue it "
                f"with --encoder "
                f"{'efficientnet-lite0' if has_encoder else 'paper'}"
                f"{'' if has_encoder else ' (or --recipe paper)'}")
    if config.negative_photos:
        photos = data.photos_of(config.negative_photos)
        if config.negative_pastes:
            data.pairs_of(photos)
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


def run_key_for(config):
    """The key of the run ``config`` describes, without decoding any image
    (``catunet.provenance.run_key``)."""
    config = resolve_paths(config)
    manifest = None
    if config.stage != "voc":
        manifest = combined_manifest(
            {folder: load_split_for(config, data.find_pairs(folder), folder)[2]
             for folder in data_folders(config.data_dir)})
    return provenance.run_key(config, manifest)


def combined_manifest(manifests):
    """One folder's manifest, or ``{"sources": {folder name: manifest}}``."""
    if len(manifests) == 1:
        return next(iter(manifests.values()))
    return {"sources": {Path(folder).resolve().name: manifest
                        for folder, manifest in manifests.items()}}


def check_run_folder(config, key, manifest):
    """The folder's ``run.json`` when it holds this run (``key``), None
    when it is new; refuses a folder that holds another run, saying what
    differs (from ``manifest``, the run's data)."""
    folder = Path(config.out)
    record = provenance.load_record(folder)
    if record is None:
        if (folder / "config.json").exists():
            raise CatunetError(
                f"{config.out} holds a run made by an older catunet (no "
                "run.json); choose another --out or delete it")
        return None
    if record["key"] == key:
        return record
    recorded = record.get("key_inputs")  # absent from the oldest records
    changed = provenance.key_changes(
        recorded, provenance.key_inputs(config, manifest)) if recorded else []
    why = "; ".join(changed) or "made by another catunet version"
    raise CatunetError(f"{config.out} holds a run with other settings "
                       f"({why}); choose another --out or delete it")


def load_arrays(config, data_dir):
    """Decoded training and held-out arrays of a run; never the test part.

    For ``voc`` they are VOC's official train and validation splits; for the
    other stages the training part of the split manifest and, with
    ``folds``, one fold of it held out.

    Returns:
        ``Arrays``.
    """
    if config.stage == "voc":
        from catunet.datasets.voc import load_voc

        kwargs = dict(size=config.image_size, tfds_dir=config.tfds_dir,
                      manual_dir=config.manual_dir, classes=config.voc_classes)
        return Arrays(load_voc("train", **kwargs),
                      load_voc("validation", **kwargs), None)
    fit_pairs, val_pairs, test_pairs, manifests = [], [], [], {}
    for folder in data_folders(data_dir):
        pairs = data.find_pairs(folder)
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
    fitted = data.load_pairs(fit_pairs, config.image_size)
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
    held_out = data.load_pairs(val_pairs, config.image_size) if val_pairs else None
    return Arrays(fitted, held_out, combined_manifest(manifests), left_out)


def with_copy_paste(config, fitted, protected):
    """The fitted arrays plus ``copy_paste`` composites per photo
    (``catunet.copypaste``), on backgrounds that are not look-alikes of the
    ``protected`` photos."""
    import numpy as np

    from catunet import copypaste

    images, masks = fitted
    count = int(round(config.copy_paste * len(images)))
    backgrounds = images[:0]
    if config.paste_backgrounds:
        photos = [p for folder in config.paste_backgrounds.split(",")
                  for p in data.list_photos(folder.strip())]
        chosen, _ = drawn_photos(photos, count, config.seed, protected)
        backgrounds = np.stack([
            data.resize_image(data.read_image(p), config.image_size)
            for p in chosen])
    made = copypaste.synthesize(images, masks, backgrounds, count, config.seed)
    print(f"Copy-paste: {len(made[0])} composites on "
          + (f"{len(backgrounds)} background photos"
             if len(backgrounds) else "the other training photos"))
    return np.concatenate([images, made[0]]), np.concatenate([masks, made[1]])


def drawn_photos(paths, count, seed, protected):
    """``count`` of ``paths`` (all, if fewer) drawn by ``seed``, in their
    order, less those that look like one of the ``protected`` photos
    (``catunet.duplicates``); returns ``(kept, how many were left out)``."""
    import numpy as np

    rng = np.random.default_rng(seed)
    chosen = [paths[i] for i in sorted(
        rng.choice(len(paths), min(count, len(paths)), replace=False))]
    near = {d.path for d in duplicates.find_duplicates(
        duplicates.hash_files(chosen), duplicates.hash_files(protected))}
    return [p for p in chosen if str(p) not in near], len(near)


def with_mosaics(config, fitted, photos):
    """The fitted arrays plus ``mosaic`` mosaics per photo of the fitted
    ``photos`` (``catunet.mosaic``; never of copy-paste composites)."""
    import numpy as np

    from catunet import mosaic

    count = int(round(config.mosaic * len(photos[0])))
    grids = mosaic.parse_grids(config.mosaic_grids)
    made = mosaic.mosaics(*photos, count, config.seed, grids)
    grids = mosaic.usable_grids(grids, len(photos[0]))
    shapes = " and ".join(f"{g}x{g}" for g in grids)
    print(f"Mosaic: {len(made[0])} mosaics of "
          + ("four fitted photos each" if grids == (2,) else
             f"fitted photos, {shapes} in turn"))
    return np.concatenate([fitted[0], made[0]]), \
        np.concatenate([fitted[1], made[1]])


def with_negatives(config, fitted, photos, protected):
    """The fitted arrays plus ``negatives`` photos per photo of the fitted
    ``photos`` from ``negative_photos``, each with an empty mask: drawn by
    the run's seed, never look-alikes of the ``protected`` photos."""
    import numpy as np

    paths = data.photos_of(config.negative_photos)
    count = int(round(config.negatives * len(photos[0])))
    chosen, near = drawn_photos(paths, count, config.seed, protected)
    size = config.image_size
    images = np.stack([data.resize_image(data.read_image(p), size)
                       for p in chosen]) if chosen else fitted[0][:0]
    masks = np.zeros((len(images), *fitted[1].shape[1:]), fitted[1].dtype)
    print(f"Negatives: {len(images)} photos without a cat, of {len(paths)}"
          + (f" ({near} left out as look-alikes of held-out photos)"
             if near else ""))
    return np.concatenate([fitted[0], images]), \
        np.concatenate([fitted[1], masks])


def with_negative_pastes(config, fitted, photos, protected):
    """The fitted arrays plus ``negative_pastes`` composites per photo of
    the fitted ``photos``: each a fitted cat photo with the foreground of
    one ``negative_photos`` photo pasted onto it as background
    (``catunet.copypaste.paste_negatives``); the photos are drawn by the
    run's seed, never look-alikes of the ``protected`` photos, and cut
    out at their own size."""
    import numpy as np

    from catunet import copypaste

    paths = data.photos_of(config.negative_photos)
    count = int(round(config.negative_pastes * len(photos[0])))
    chosen, near = drawn_photos(paths, count, config.seed, protected)
    pairs = data.pairs_of(chosen)
    negatives = copypaste.cutouts([data.read_image(p.image) for p in pairs],
                                  [data.read_mask(p.mask) for p in pairs])
    made = copypaste.paste_negatives(*photos, negatives, count, config.seed)
    print(f"Negative pastes: {len(made[0])} cat photos, each with the "
          f"foreground of one of {len(negatives)} photos without a cat "
          "pasted as background"
          + (f" ({near} left out as look-alikes of held-out photos)"
             if near else ""))
    return np.concatenate([fitted[0], made[0]]), \
        np.concatenate([fitted[1], made[1]])


def protected_photos(folder):
    """The test photos of a data folder's split manifest."""
    pairs = data.find_pairs(folder)
    path = SPLITS_DIR / f"{Path(folder).resolve().name}.json"
    _, test = splits.resolve_split(splits.load_split(path), pairs,
                                   source=str(path))
    return [pair.image for pair in test]


def guard_pairs(pairs, config):
    """Leaves out pairs whose photo is a near-duplicate of a protected test
    photo (``catunet.duplicates``); returns ``(kept, left_out)``."""
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
    dataset = data.make_training_dataset(
        x, y, batch_size, seed=config.seed, first_epoch=first_epoch,
        epochs=end_epoch, augment=augment)
    return dataset, data.steps_per_epoch(len(x), batch_size)


def learning_rate_for(config, rate, epochs, steps_per_epoch):
    """Adam's learning rate: ``rate``, or with ``schedule`` cosine a cosine
    decay to zero over ``epochs`` after ``warmup_epochs`` of linear warm-up
    from zero."""
    steps = epochs * steps_per_epoch
    if config.schedule == "constant" or not steps:
        return rate
    warmup = min(steps - 1, config.warmup_epochs * steps_per_epoch)
    return keras.optimizers.schedules.CosineDecay(
        0.0 if warmup else rate, decay_steps=steps - warmup,
        warmup_target=rate if warmup else None, warmup_steps=warmup)


def compile_model(config, learning_rate=None, frozen_encoder=False,
                  epochs=0, steps_per_epoch=0):
    """A new U-Net as ``config`` says, compiled with Adam.

    Args:
        learning_rate: Adam's rate; None means ``config.learning_rate``.
        frozen_encoder: Leave the ``enc*`` layers out of training; such a
            phase keeps no moving average (``config.ema``).
        epochs, steps_per_epoch: How long it will train (for ``schedule``).
    """
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(
        machine.best_precision(config.encoder)
        if config.precision == "auto"
        else config.precision)
    try:
        model = build_model(config)
    finally:
        keras.mixed_precision.set_global_policy(previous)
    set_encoder_trainable(model, not frozen_encoder)
    average = ({"use_ema": True, "ema_momentum": config.ema}
               if config.ema and not frozen_encoder else {})
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate_for(
            config, learning_rate or config.learning_rate, epochs,
            steps_per_epoch), **average),
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


def _write_history(folder, history):
    columns = list(dict.fromkeys(k for row in history for k in row))
    text = io.StringIO()
    writer = csv.DictWriter(text, columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(history)
    atomic.write_text(Path(folder) / "history.csv", text.getvalue())


def _fit_phase(config, phase, model, arrays, state, strategy, verbose,
               callbacks):
    """Fits one phase from where its checkpoint left it; returns the
    callback that holds its seconds and history."""
    folder = Path(config.out)
    checkpoints = Checkpoints(folder / f"checkpoints-{phase.name}")
    saver = SaveEveryEpoch(checkpoints, state,
                           on_history=lambda h: _write_history(folder, h))
    first = state.get("epochs_done", phase.start)  # epochs count from 0
    if first >= phase.end:  # killed after its last checkpoint: as fit ends
        model.optimizer.finalize_variable_values(model.trainable_variables)
        return saver, first
    replicas = strategy.num_replicas_in_sync
    dataset, steps = training_stream(config, arrays, first, phase.end, replicas)
    val_ds = None
    if arrays.held_out is not None:
        val_ds = data.make_dataset(*arrays.held_out,
                                   config.batch_size * replicas)
    with strategy_for_fit(model, strategy):
        model.fit(dataset, validation_data=val_ds, initial_epoch=first,
                  epochs=phase.end, steps_per_epoch=steps, verbose=verbose,
                  shuffle=False,  # the stream orders every epoch itself
                  callbacks=[saver, *callbacks])
    return saver, first


def _describe(arrays):
    x = arrays.train[0]
    held_out = arrays.held_out
    print(f"Training on {len(x)} images"
          + (f", validating on {len(held_out[0])}" if held_out else "")
          + (f" (test set of {len(arrays.manifest['test'])} untouched)"
             if arrays.manifest and "test" in arrays.manifest else "")
          + (f"; {len(arrays.left_out)} photos left out as near-duplicates "
             "of test photos" if arrays.left_out else ""))


def _self_trained(config, record, key, verbose, callbacks, reuse):
    """A run with ``--unlabelled``: self-training (``catunet.selftrain``)
    in sub-folders, the final student saved as this run's model.

    Its ``train_seconds`` are what the whole recipe took to train, parts
    reused from other folders included; ``parts`` names each part's folder,
    its seconds and whether it was reused, so a total over many runs can
    count each part once.
    """
    import functools

    from catunet.selftrain import self_train

    chain, parts = self_train(
        config, functools.partial(train, reuse=reuse), verbose, callbacks)
    seconds = sum(part.seconds for part in parts)
    reused = sum(part.seconds for part in parts if part.reused)
    averaged = chain[-config.round_ensemble:]
    if len(averaged) > 1:
        print("Saving the average of " + ", ".join(map(str, averaged)))
    save_model(ensemble.average([load_model(p) for p in averaged]),
               model_path(config))
    record.update(finished=True, train_seconds=seconds, reused_seconds=reused,
                  parts=[{"folder": str(p.folder), "seconds": p.seconds,
                          "reused": p.reused} for p in parts],
                  sessions=record["sessions"] + [  # what trained here
                      provenance.session(0, seconds - reused)])
    atomic.write_json(Path(config.out) / "run.json", record)
    return Run(config, Path(config.out), model_path(config), seconds, 0, key)


def _phase_files(folder, phase):
    """A finished intermediate phase: its model and its carried state."""
    return folder / f"{phase.name}.keras", folder / f"{phase.name}.state.json"


def train(config, verbose=1, callbacks=(), reuse=None):
    """Trains a U-Net as ``config`` says and saves it in ``config.out``.

    A folder that holds this run (same key) finished is returned as it is;
    unfinished, training resumes from its last checkpoint. A folder that
    holds another run is refused.

    Args:
        config: A ``TrainConfig``.
        verbose: Keras ``fit`` verbosity (1 = progress bar, 2 = a line per
            epoch, 0 = silent).
        callbacks: Extra Keras callbacks.
        reuse: Optional ``key -> folder or None``: where else a finished
            run with this key may be (the study's run store). A run found
            there is returned instead of trained, and so is every part of a
            self-training run (its teacher, each round's students).

    Returns:
        A ``Run``.
    """
    config = resolve_paths(config)
    # Before any other TensorFlow work: a multi-worker strategy sets up the
    # cluster's collective ops when it is made.
    strategy = get_strategy(config.strategy)
    folder = Path(config.out)
    arrays = load_arrays(config, config.data_dir)
    key = provenance.run_key(config, arrays.manifest)
    record = check_run_folder(config, key, arrays.manifest)
    if record and record["finished"] and model_path(config).exists():
        print(f"{model_path(config)} already trained with this config; "
              "delete the folder to train again")
        return Run(config, folder, model_path(config),
                   record["train_seconds"], config.epochs, key)
    found = reuse(key) if reuse else None
    if found is not None and Path(found).resolve() != folder.resolve():
        print(f"{config.out}: the same run is finished in {found}; reusing it")
        return finished_run(found, key)
    if record is None:
        record = provenance.new_record(config, arrays.manifest)
        atomic.write_json(folder / "run.json", record)
    atomic.write_json(folder / "config.json", config.to_dict())
    if arrays.manifest:
        atomic.write_json(folder / "split.json", arrays.manifest)
    if config.unlabelled:
        return _self_trained(config, record, key, verbose, callbacks, reuse)
    if config.protect:
        atomic.write_json(folder / "duplicates.json", {
            "protected": config.protect, "left_out": arrays.left_out})

    keras.utils.set_random_seed(config.seed)  # weights and dropout
    replicas = strategy.num_replicas_in_sync
    if replicas > 1:
        print(f"{config.strategy}: {replicas} replicas, global batch "
              f"{config.batch_size * replicas}")
    _describe(arrays)

    stages = phases(config)
    carried, first_epoch, seconds_here = {}, None, 0.0
    for i, phase in enumerate(stages):
        last = i == len(stages) - 1
        saved, saved_state = (model_path(config), None) if last else \
            _phase_files(folder, phase)
        if saved.exists():  # finished before an interruption
            carried = json.loads(saved_state.read_text())
            continue
        with strategy.scope():  # variables on every replica
            model = compile_model(
                config, phase.learning_rate, phase.frozen_encoder,
                phase.end - phase.start, data.steps_per_epoch(
                    len(arrays.train[0]), config.batch_size * replicas))
        source = config.init if i == 0 else _phase_files(folder, stages[i - 1])[0]
        if source:
            restored = restore_weights(model, source)
            if i == 0:
                print(f"Restored {restored} of "
                      f"{sum(1 for layer in model.layers if layer.weights)} "
                      f"layers from {source}")
        checkpoints = Checkpoints(folder / f"checkpoints-{phase.name}")
        state = checkpoints.restore(model)
        if state:
            print(f"Resuming {config.out} after epoch {state['epochs_done']}")
        if len(stages) > 1:
            print(f"Epochs {phase.start + 1}-{phase.end}: encoder "
                  f"{'frozen' if phase.frozen_encoder else 'trained'}, "
                  f"learning rate {phase.learning_rate:g}")
        saver, first = _fit_phase(config, phase, model, arrays,
                                  state or carried, strategy, verbose,
                                  callbacks)
        first_epoch = first if first_epoch is None else first_epoch
        seconds_here += saver.seconds - saver.seconds_before
        carried = {"seconds": saver.seconds, "history": saver.history}
        if not last:
            atomic.write_json(saved_state, carried)
        save_model(model, saved)
        checkpoints.clear()  # the saved model supersedes them
    for phase in stages[:-1]:
        for path in _phase_files(folder, phase):
            path.unlink()
    record.update(finished=True, train_seconds=carried["seconds"],
                  sessions=record["sessions"] + [
                      provenance.session(first_epoch, seconds_here)])
    atomic.write_json(folder / "run.json", record)
    if config.recipe and recipes.INFERENCE[config.recipe]:
        Settings(**recipes.INFERENCE[config.recipe]).save_beside(
            model_path(config))
    return Run(config, folder, model_path(config), carried["seconds"],
               first_epoch or 0, key)
