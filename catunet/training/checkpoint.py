"""Epoch checkpoints that survive a crash at any moment.

Each checkpoint is a folder ``epoch-NNNN/`` holding the model's weights and
optimizer state (``model.weights.h5``) and ``state.json`` (epochs done,
training seconds so far, the history of every epoch). It is written in full under a temporary name and
then renamed into place — one atomic step — so a process killed at any
moment, even in the middle of writing, leaves the previous checkpoint as it
was. Only then is the previous one removed.
"""

import json
import os
import re
import shutil
import time
from pathlib import Path

import keras

from catunet.errors import CatunetError

WEIGHTS = "model.weights.h5"
STATE = "state.json"
_NAME = re.compile(r"^epoch-(\d{4,})$")


def _fsync(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Checkpoints:
    """The checkpoints of one training phase, in ``folder``."""

    def __init__(self, folder):
        self.folder = Path(folder)

    def _finished(self):
        if not self.folder.is_dir():
            return []
        found = [(int(m.group(1)), p) for p in self.folder.iterdir()
                 if (m := _NAME.match(p.name)) and p.is_dir()]
        return sorted(found)

    def save(self, model, epochs_done, seconds, history):
        """Writes the checkpoint after ``epochs_done`` epochs of the run
        (counted from the run's first epoch, not the phase's), atomically.

        Args:
            history: One dict of metrics per epoch done.
        """
        self.folder.mkdir(parents=True, exist_ok=True)
        final = self.folder / f"epoch-{epochs_done:04d}"
        partial = self.folder / f".{final.name}.partial-{os.getpid()}"
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir()
        model.save_weights(partial / WEIGHTS)
        (partial / STATE).write_text(json.dumps(
            {"epochs_done": epochs_done, "seconds": seconds,
             "history": history}))
        for name in (WEIGHTS, STATE):
            _fsync(partial / name)
        if final.exists():  # left by a run that crashed right after it
            shutil.rmtree(final)
        os.rename(partial, final)
        _fsync(self.folder)
        for epoch, path in self._finished():
            if epoch != epochs_done:
                shutil.rmtree(path, ignore_errors=True)

    def restore(self, model):
        """Loads the newest checkpoint into a compiled ``model``.

        Leftovers of a write that a crash interrupted are removed first.

        Returns:
            ``{"epochs_done": int, "seconds": float, "history": list}``,
            or None when there is
            no checkpoint.

        Raises:
            CatunetError: The newest checkpoint cannot be read; the message
                says what to delete to go on.
        """
        if self.folder.is_dir():
            for leftover in self.folder.glob(".epoch-*.partial-*"):
                shutil.rmtree(leftover, ignore_errors=True)
        found = self._finished()
        if not found:
            return None
        epoch, path = found[-1]
        try:
            state = json.loads((path / STATE).read_text())
            model.optimizer.build(model.trainable_variables)
            model.load_weights(path / WEIGHTS)
        except Exception as error:  # h5py, OSError, JSON, shapes: all fatal
            raise CatunetError(
                f"{path}: checkpoint after epoch {epoch} is damaged "
                f"({type(error).__name__}: {error}); delete {path} to train "
                f"this phase again from its start, or delete {self.folder.parent} "
                "to start the run over") from error
        return state

    def clear(self):
        shutil.rmtree(self.folder, ignore_errors=True)


class SaveEveryEpoch(keras.callbacks.Callback):
    """Writes a checkpoint, and the history so far, after every epoch.

    The history lives in the checkpoint, so after a crash it never holds an
    epoch the restored weights have not seen.

    Args:
        checkpoints: A ``Checkpoints``.
        state: What was restored (seconds and history of earlier processes
            and phases); None for a fresh start.
        on_history: Called with the history after every epoch (e.g. to
            write ``history.csv``).
    """

    def __init__(self, checkpoints, state=None, on_history=None):
        super().__init__()
        self.checkpoints = checkpoints
        state = state or {}
        self.seconds_before = state.get("seconds", 0.0)
        self.history = list(state.get("history", []))
        self.on_history = on_history
        self._start = None

        self._start = time.perf_counter()

    def on_train_begin(self, logs=None):
        self._start = time.perf_counter()

    @property
    def seconds(self):
        """Training seconds so far, across every process."""
        return self.seconds_before + time.perf_counter() - self._start

    def on_epoch_end(self, epoch, logs=None):
        row = {"epoch": epoch, **{k: float(v) for k, v in (logs or {}).items()}}
        self.history.append(row)
        self.checkpoints.save(self.model, epoch + 1, self.seconds, self.history)
        if self.on_history:
            self.on_history(self.history)
