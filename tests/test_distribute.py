"""tf.distribute: a mirrored run over two logical CPU devices matches one
device on the same data."""

import json
import subprocess
import sys

import pytest

from catunet.config import TrainConfig
from catunet.errors import CatunetError
from catunet.train import train
from tests.conftest import ROOT

SCRIPT = """
import csv, json, sys
import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from catunet.config import TrainConfig
from catunet.train import train

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
    with pytest.raises(CatunetError, match="unknown strategy"):
        train(TrainConfig(data_dir=str(shapes_dir), strategy="tpu",
                          out=str(tmp_path / "run")), verbose=0)

