"""One training run: data, split, model, fit, saved into a run folder.

The run folder holds ``run.json`` (written first: the run's key, config,
data and code identity, machine and package versions; at the end the
training time summed over every process that worked on it),
``config.json``, ``split.json`` (the manifest used), ``history.csv`` and,
when training finished, the model ``<stage>.keras``.

A run killed at any moment resumes from its last finished epoch when the
same command is run again, and ends with the same weights as a run that was
never interrupted: checkpoints are written atomically every epoch
(``catunet.training.checkpoint``), and the order and augmentation of every batch
depend only on (seed, epoch, step) (``catunet.data.loading.make_training_dataset``).
"""

import csv
import dataclasses
import io
import json
from pathlib import Path

import keras

from catunet import atomic
from catunet.data import loading
from catunet.data.split import load_split_for
from catunet.errors import CatunetError
from catunet.inference.predict import Settings
from catunet.models.losses import get_loss
from catunet.models.metrics import dice_coefficient
from catunet.models.saving import load_model, restore_weights, save_model
from catunet.models.unet import build_model
from catunet.training import ensemble, machine, provenance, recipes
from catunet.training.checkpoint import Checkpoints, SaveEveryEpoch
from catunet.training.config import TrainConfig
from catunet.training.distribute import get_strategy, strategy_for_fit
from catunet.training.inputs import (combined_manifest, data_folders,
                                     load_arrays, resolve_paths,
                                     training_stream)
from catunet.training.transfer import (freeze_early_layers,
                                       set_encoder_trainable)


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


def run_key_for(config):
    """The key of the run ``config`` describes, without decoding any image
    (``catunet.training.provenance.run_key``)."""
    config = resolve_paths(config)
    manifest = None
    if config.stage != "voc":
        manifest = combined_manifest(
            {folder: load_split_for(config, loading.find_pairs(folder), folder)[2]
             for folder in data_folders(config.data_dir)})
    return provenance.run_key(config, manifest)


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
    if config.freeze_stride:
        freeze_early_layers(model, config.encoder, config.freeze_stride)
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
        val_ds = loading.make_dataset(*arrays.held_out,
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
    """A run with ``--unlabelled``: self-training (``catunet.training.selftrain``)
    in sub-folders, the final student saved as this run's model.

    Its ``train_seconds`` are what the whole recipe took to train: its
    teacher, the teacher's labelling of the unlabelled photos and its
    students, parts reused from other folders included; ``parts`` names
    each part's folder, its seconds and whether it was reused, so a total
    over many runs can count each part once.
    """
    import functools

    from catunet.training.selftrain import self_train

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
                phase.end - phase.start, loading.steps_per_epoch(
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
