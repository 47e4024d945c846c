"""catunet export: a served model gives the Keras model's outputs."""

import subprocess
import sys

import numpy as np
import pytest

from catunet import atomic
from catunet.errors import CatunetError
from catunet.inference.export import export_model
from catunet.models.unet import build_encoder_unet, build_unet
from tests.conftest import ROOT


@pytest.fixture
def tiny_model_path(tmp_path, request):
    """A tiny paper U-Net, and the U-Net over the pretrained encoder (its
    random weights: the layers, not the values, decide what exports)."""
    import keras

    keras.utils.set_random_seed(0)
    model = build_unet((32, 32, 3), base_filters=2, depth=2) \
        if getattr(request, "param", "paper") == "paper" else \
        build_encoder_unet((32, 32, 3), pretrained=False)
    return atomic.save_model(model, tmp_path / "cats.keras"), model


def _serve_savedmodel(out, images):
    import tensorflow as tf

    loaded = tf.saved_model.load(str(out))  # keep it alive while serving
    return loaded.serve(tf.constant(images, tf.float32))


def _serve_onnx(out, images):
    import onnxruntime as ort

    session = ort.InferenceSession(str(out))
    return session.run(None, {session.get_inputs()[0].name: images})[0]


def _serve_openvino(out, images):
    from catunet.inference.runtimes import OpenVinoModel

    return OpenVinoModel(out, images.shape).predict_on_batch(images)


def _serve_litert(out, images):
    import tensorflow as tf

    interpreter = tf.lite.Interpreter(model_path=str(out))
    interpreter.resize_tensor_input(0, images.shape)
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], images)
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])


SERVERS = {"tf_saved_model": (_serve_savedmodel, None),
           "onnx": (_serve_onnx, "onnxruntime"),
           "openvino": (_serve_openvino, "openvino"),
           "litert": (_serve_litert, None)}


@pytest.mark.parametrize("tiny_model_path", ["paper", "efficientnet-lite0"],
                         indirect=True)
@pytest.mark.parametrize("format", list(SERVERS))
def test_every_format_serves_the_same_outputs(tmp_path, tiny_model_path,
                                              format):
    serve, package = SERVERS[format]
    if package:
        pytest.importorskip(package)
    path, model = tiny_model_path
    out = export_model(path, format, tmp_path / "served")
    images = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)) \
        .astype(np.float32)
    np.testing.assert_allclose(np.asarray(serve(out, images)),
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
