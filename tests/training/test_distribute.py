"""tf.distribute: a mirrored run over two logical CPU devices, and a
two-process multi-worker run, match one device on the same data."""

import csv
import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

from catunet.errors import CatunetError
from catunet.training.config import TrainConfig
from catunet.training.train import train
from tests.conftest import ROOT

SCRIPT = """
import csv, json, sys
import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from catunet.training.config import TrainConfig
from catunet.training.train import train

shapes, root = sys.argv[1], sys.argv[2]
losses = {}
for name, strategy, batch in [("one", "default", 8), ("two", "mirrored", 4)]:
    config = TrainConfig(data_dir=shapes, split=root + "/split.json", width=4,
                         depth=2, epochs=3, batch_size=batch, image_size=32,
                         augment="", strategy=strategy, out=f"{root}/{name}")
    train(config, verbose=0)
    with open(f"{root}/{name}/history.csv") as f:
        losses[name] = [float(row["loss"]) for row in csv.DictReader(f)]
print(json.dumps({"replicas": len(tf.config.list_logical_devices("CPU")),
                  **losses}))
"""


def test_mirrored_on_two_cpu_devices_matches_one_device(tmp_path, shapes_dir):
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(shapes_dir), str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["replicas"] == 2
    assert "mirrored: 2 replicas, global batch 8" in done.stdout
    # Global batch 2 x 4 = 8, the same batches, the same initial weights:
    # the all-reduced gradient is the one-device gradient.
    assert result["two"] == pytest.approx(result["one"], rel=1e-3)
    assert result["one"][-1] < result["one"][0]  # it did train


def test_unknown_strategy_is_refused(tmp_path, shapes_dir):
    with pytest.raises(CatunetError, match="--strategy must be one of default, mirrored, multiworker, got .tpu."):
        train(TrainConfig(data_dir=str(shapes_dir), strategy="tpu",
                          out=str(tmp_path / "run")), verbose=0)



def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _history(folder):
    with open(folder / "history.csv") as f:
        return [float(row["loss"]) for row in csv.DictReader(f)]


def test_two_worker_processes_train_as_one_device(tmp_path, shapes_dir):
    """Two processes on 127.0.0.1, each with its TF_CONFIG, run
    ``train.py --strategy multiworker``: both end with the same weights, and
    their steps are the one-device steps on the global batch (each worker
    sees half of it, the gradients are all-reduced)."""
    workers = [f"127.0.0.1:{port}" for port in _free_ports(2)]
    flags = ["--recipe", "paper", "--data-dir", str(shapes_dir),
             "--split", str(tmp_path / "s.json"),
             "--width", "4", "--depth", "2", "--epochs", "3",
             "--image-size", "32", "--augment", "none",
             "--precision", "float32"]
    processes = []
    for index in range(2):
        env = {**os.environ, "TF_CONFIG": json.dumps(
            {"cluster": {"worker": workers},
             "task": {"type": "worker", "index": index}})}
        processes.append(subprocess.Popen(
            [sys.executable, "train.py", *flags, "--batch-size", "4",
             "--strategy", "multiworker", "--out", str(tmp_path / f"w{index}")],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True))
    outputs = [p.communicate(timeout=600) for p in processes]
    for p, (out, err) in zip(processes, outputs):
        assert p.returncode == 0, err[-3000:]
        assert "multiworker: 2 replicas, global batch 8" in out
    one = subprocess.run(
        [sys.executable, "train.py", *flags, "--batch-size", "8",
         "--out", str(tmp_path / "one")], cwd=ROOT, capture_output=True,
        text=True, timeout=600)
    assert one.returncode == 0, one.stderr[-3000:]

    from catunet.inference.evaluate import evaluate
    from catunet.models.saving import load_model

    chief, other = (load_model(tmp_path / f"w{i}" / "cats.keras")
                    for i in range(2))
    for a, b in zip(chief.get_weights(), other.get_weights()):
        np.testing.assert_array_equal(a, b)
    losses = _history(tmp_path / "w0")
    assert losses == pytest.approx(_history(tmp_path / "one"), rel=1e-4)
    assert losses[-1] < losses[0]
    report = evaluate(tmp_path / "w0" / "cats.keras", shapes_dir,
                      split_path=tmp_path / "s.json", runtime="keras")
    assert report["count"] == 4
