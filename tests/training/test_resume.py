"""A run killed at any moment resumes, and ends exactly where an
uninterrupted run ends.

Each crash is a child process that ends itself with ``os._exit`` — no
cleanup, no ``finally``, as ``kill -9`` would — at one point of training:
between epochs, in the middle of a step, in the middle of writing a
checkpoint, and between making the new checkpoint and removing the old.
"""

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from catunet.errors import CatunetError
from catunet.models.saving import load_model
from catunet.training.config import TrainConfig
from catunet.training.train import train
from tests.conftest import ROOT

pytestmark = pytest.mark.slow

EPOCHS = 4


def tiny(folder, data_dir, **overrides):
    values = dict(data_dir=str(data_dir), split=str(folder / "split.json"),
                  width=2, depth=2, epochs=EPOCHS, batch_size=4,
                  image_size=32, folds=3, val_fold=0, out=str(folder / "run"))
    return TrainConfig(**{**values, **overrides})


def weights(run_dir):
    return load_model(run_dir / "cats.keras").get_weights()


def assert_same_weights(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


# What the child does just before it dies, at epoch 2 (0-based) of 4.
CRASHES = {
    "between epochs": """
        class Crash(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                if epoch == 2:
                    os._exit(137)
        callbacks.append(Crash())
    """,
    "in the middle of a step": """
        class Crash(keras.callbacks.Callback):
            def on_train_batch_begin(self, batch, logs=None):
                if self.model.optimizer.iterations.numpy() == 5:
                    os._exit(137)
        callbacks.append(Crash())
    """,
    "while writing the checkpoint": """
        from catunet.training import checkpoint
        real = keras.Model.save_weights
        def half_written(self, path, *args, **kwargs):
            real(self, path, *args, **kwargs)
            if "epoch-0002" in str(path):
                size = os.path.getsize(path)
                with open(path, "r+b") as f:
                    f.truncate(size // 2)
                os._exit(137)
        keras.Model.save_weights = half_written
    """,
    "after the new checkpoint, before removing the old": """
        from catunet.training import checkpoint
        real = checkpoint.shutil.rmtree
        def crash_when_pruning(path, *args, **kwargs):
            if str(path).endswith("epoch-0001") and \
                    os.path.isdir(str(path)[:-1] + "2"):
                os._exit(137)
            return real(path, *args, **kwargs)
        checkpoint.shutil.rmtree = crash_when_pruning
    """,
}


def crash_child(config, crash):
    script = textwrap.dedent("""
        import os, sys, keras
        from catunet.training.config import TrainConfig
        from catunet.training.train import train
        callbacks = []
    """) + textwrap.dedent(crash) + textwrap.dedent(f"""
        train(TrainConfig(**{config.to_dict()!r}), verbose=0,
              callbacks=callbacks)
        sys.exit("the crash did not happen")
    """)
    return subprocess.run([sys.executable, "-c", script], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted run, and the data it used."""
    from tests.conftest import write_folder

    folder = tmp_path_factory.mktemp("reference")
    data_dir = write_folder(folder / "shapes")
    config = tiny(folder, data_dir)
    train(config, verbose=0)
    return config, weights(folder / "run")


@pytest.mark.parametrize("where", list(CRASHES))
def test_killed_run_resumes_to_the_same_weights(tmp_path, reference, where):
    config, expected = reference
    config = TrainConfig(**{**config.to_dict(), "out": str(tmp_path / "run")})
    died = crash_child(config, CRASHES[where])
    assert died.returncode == 137, died.stderr[-2000:]
    assert not (tmp_path / "run" / "cats.keras").exists()

    run = train(config, verbose=0)
    assert run.resumed_from in (1, 2)
    assert_same_weights(weights(tmp_path / "run"), expected)
    history = (tmp_path / "run" / "history.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in history[1:]] == \
        [str(e) for e in range(EPOCHS)]
    assert not list((tmp_path / "run").glob("checkpoints-*"))


def test_killed_run_with_a_frozen_phase_resumes_exactly(tmp_path, shapes_dir):
    """Killed in the second phase of encoder-frozen-then-unfrozen."""
    first = train(tiny(tmp_path, shapes_dir, out=str(tmp_path / "init"),
                       epochs=1), verbose=0)
    phased = dict(init=str(first.model_path), freeze_epochs=2,
                  fine_tune_learning_rate=1e-4)
    train(tiny(tmp_path, shapes_dir, out=str(tmp_path / "whole"), **phased),
          verbose=0)
    config = tiny(tmp_path, shapes_dir, **phased)
    crash = CRASHES["between epochs"].replace("epoch == 2", "epoch == 3")
    assert crash_child(config, crash).returncode == 137
    assert (tmp_path / "run" / "frozen.keras").exists()
    train(config, verbose=0)
    assert_same_weights(weights(tmp_path / "run"), weights(tmp_path / "whole"))


def test_training_time_adds_up_across_resumes(tmp_path, shapes_dir):
    config = tiny(tmp_path, shapes_dir)
    assert crash_child(config, CRASHES["between epochs"]).returncode == 137
    run = train(config, verbose=0)
    import json

    record = json.loads((tmp_path / "run" / "run.json").read_text())
    assert record["finished"] and len(record["sessions"]) == 1
    assert record["sessions"][0]["started_at_epoch"] == 2
    assert record["train_seconds"] == pytest.approx(run.seconds)
    assert record["train_seconds"] > record["sessions"][0]["seconds"] > 0
    assert record["machine"]["cores"] >= 1 and record["packages"]["keras"]


def test_damaged_checkpoint_is_reported_with_what_to_do(tmp_path, shapes_dir):
    config = tiny(tmp_path, shapes_dir)
    assert crash_child(config, CRASHES["between epochs"]).returncode == 137
    saved = tmp_path / "run" / "checkpoints-all" / "epoch-0002"
    weights_file = saved / "model.weights.h5"
    weights_file.write_bytes(weights_file.read_bytes()[:1000])
    with pytest.raises(CatunetError, match=f"{saved}.*damaged.*delete {saved}"):
        train(config, verbose=0)

    result = subprocess.run(
        [sys.executable, "train.py", *config_flags(config)], cwd=ROOT,
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    assert "damaged" in result.stderr and "Traceback" not in result.stderr


def config_flags(config):
    flags = []
    for key, value in config.to_dict().items():
        if value is None or value == TrainConfig().to_dict()[key]:
            continue
        flag = "--" + key.replace("_", "-")
        if isinstance(value, bool):
            flags.append(flag if value else "--no-" + flag[2:])
        else:
            flags += [flag, str(value)]
    return flags



def test_killed_run_with_a_weight_average_resumes_exactly(tmp_path, reference):
    """The moving average lives in the checkpoint (killed between epochs),
    and a run killed after its last checkpoint, before the averaged model
    is saved, still ends with the average as its weights."""
    config, plain = reference
    averaged = dict(ema=0.9, out=str(tmp_path / "whole"))
    whole = TrainConfig(**{**config.to_dict(), **averaged})
    train(whole, verbose=0)
    expected = weights(tmp_path / "whole")
    assert any(not np.array_equal(a, b) for a, b in zip(expected, plain))

    config = TrainConfig(**{**whole.to_dict(), "out": str(tmp_path / "run")})
    assert crash_child(config, CRASHES["between epochs"]).returncode == 137
    before_saving = """
        import catunet.training.train
        def die(*args, **kwargs):
            os._exit(137)
        catunet.training.train.save_model = die
    """
    assert crash_child(config, before_saving).returncode == 137
    assert not (tmp_path / "run" / "cats.keras").exists()
    train(config, verbose=0)
    assert_same_weights(weights(tmp_path / "run"), expected)
