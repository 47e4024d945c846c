"""catunet export: a served model gives the Keras model's outputs."""

import subprocess
import sys

import numpy as np
import pytest

from catunet import atomic
from catunet.errors import CatunetError
from catunet.export import export_model
from catunet.model import build_unet
from tests.conftest import ROOT


@pytest.fixture
def tiny_model_path(tmp_path):
    import keras

    keras.utils.set_random_seed(0)
    model = build_unet((32, 32, 3), base_filters=2, depth=2)
    return atomic.save_model(model, tmp_path / "cats.keras"), model


def test_savedmodel_serves_the_same_outputs(tmp_path, tiny_model_path):
    import tensorflow as tf

    path, model = tiny_model_path
    out = export_model(path, "tf_saved_model", tmp_path / "served")
    images = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3))
    loaded = tf.saved_model.load(str(out))  # keep it alive while serving
    served = loaded.serve(tf.constant(images, tf.float32))
    np.testing.assert_allclose(np.asarray(served),
                               np.asarray(model(images, training=False)),
                               atol=1e-3)


def test_cli_export_names_what_it_wrote(tmp_path, tiny_model_path):
    path, _ = tiny_model_path
    result = subprocess.run(
        [sys.executable, "-m", "catunet.cli", "export", "--model", str(path)],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "savedmodel" / "saved_model.pb").is_file()
    assert "savedmodel" in result.stdout


def test_unknown_format_is_refused(tiny_model_path):
    with pytest.raises(CatunetError, match="unknown export format"):
        export_model(tiny_model_path[0], "pickle")
