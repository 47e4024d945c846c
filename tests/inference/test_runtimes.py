"""Runtimes: OpenVINO and ONNX Runtime answer like Keras, through the same
inference path."""

import json
import subprocess
import sys

import numpy as np
import pytest

from catunet import atomic
from catunet.inference import predict, runtimes
from catunet.models.saving import load_model
from catunet.models.unet import build_unet
from catunet.training.config import TrainConfig
from catunet.training.train import train
from tests.conftest import ROOT

needs_openvino = pytest.mark.skipif(not runtimes.installed("openvino"),
                                    reason="openvino is not installed")


@pytest.fixture
def saved(tmp_path):
    import keras

    keras.utils.set_random_seed(0)
    model = build_unet((32, 32, 3), base_filters=4, depth=2)
    return atomic.save_model(model, tmp_path / "cats.keras"), model


@pytest.mark.parametrize("runtime", ["openvino", "onnx"])
def test_runtime_gives_the_keras_outputs(saved, runtime):
    if not runtimes.installed(runtime):
        pytest.skip(f"{runtime} is not installed")
    path, model = saved
    served, name = runtimes.load_runtime(path, runtime)
    assert name == runtime and served.input_shape == model.input_shape
    images = np.random.default_rng(0).uniform(0, 255, (5, 32, 32, 3))
    np.testing.assert_allclose(
        predict.predict_probabilities(served, images, batch_size=2),
        predict.predict_probabilities(model, images), atol=1e-3)


def test_a_bfloat16_model_is_seen_as_one(tmp_path):
    import keras

    model = build_unet((32, 32, 3), base_filters=4, depth=2)
    assert not runtimes.computes_in_bfloat16(model)
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        model = build_unet((32, 32, 3), base_filters=4, depth=2)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    reloaded = keras.saving.load_model(
        atomic.save_model(model, tmp_path / "bf16.keras"), compile=False)
    assert runtimes.computes_in_bfloat16(reloaded)


@pytest.mark.parametrize("runtime", ["onnx", "openvino"])
def test_a_bfloat16_trained_model_runs_on_every_runtime(tmp_path, shapes_dir,
                                                        runtime):
    """A model trained under mixed_bfloat16 (what auto picks on a CPU with
    AVX512-BF16 or AMX) exports and serves: ONNX Runtime through its
    float32 copy, which gives the copy's Keras outputs."""
    if not runtimes.installed(runtime):
        pytest.skip(f"{runtime} is not installed")
    run = train(TrainConfig(data_dir=str(shapes_dir), width=2, depth=2,
                            epochs=1, batch_size=4, image_size=32,
                            precision="mixed_bfloat16",
                            split=str(tmp_path / "split.json"),
                            out=str(tmp_path / "run")), verbose=0)
    model = load_model(run.model_path, compile=False)
    assert runtimes.computes_in_bfloat16(model)
    served, _ = runtimes.load_runtime(run.model_path, runtime)
    images = np.random.default_rng(0).uniform(0, 255, (3, 32, 32, 3))
    got = predict.predict_probabilities(served, images)
    np.testing.assert_allclose(got, predict.predict_probabilities(
        model, images), atol=3e-2)  # bfloat16 against float32
    if runtime == "onnx":
        np.testing.assert_allclose(got, predict.predict_probabilities(
            runtimes.float32_copy(model), images), atol=1e-3)


@needs_openvino
def test_conversion_is_cached_and_follows_the_model_file(saved):
    path, model = saved
    runtimes.load_runtime(path, "openvino")
    cached = runtimes.converted_path(path, "openvino")
    stamp = cached.stat().st_mtime_ns
    runtimes.load_runtime(path, "openvino")
    assert cached.stat().st_mtime_ns == stamp  # not converted again
    model.layers[-1].set_weights([w + 1 for w in model.layers[-1].get_weights()])
    atomic.save_model(model, path)  # retrained: a new conversion
    assert runtimes.converted_path(path, "openvino") != cached


@needs_openvino
def test_auto_prefers_openvino():
    assert runtimes.resolve("auto") == "openvino"
    assert runtimes.resolve("keras") == "keras"


@needs_openvino
def test_cli_evaluate_on_both_runtimes(tmp_path, shapes_dir):
    run = train(TrainConfig(data_dir=str(shapes_dir), width=2, depth=2,
                            epochs=1, image_size=32,
                            split=str(tmp_path / "s.json"),
                            out=str(tmp_path / "run")), verbose=0)
    dice = {}
    for runtime in ("keras", "openvino"):
        out = tmp_path / f"{runtime}.json"
        result = subprocess.run(
            [sys.executable, "evaluate.py", "--model", str(run.model_path),
             "--runtime", runtime, "--json", str(out)], cwd=ROOT,
            capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr
        report = json.loads(out.read_text())
        assert report["runtime"] == runtime
        dice[runtime] = report["mean"]["dice"]
    assert dice["openvino"] == pytest.approx(dice["keras"], abs=1e-3)


@needs_openvino
def test_export_openvino_writes_the_ir(tmp_path, saved):
    from catunet.inference.export import export_model

    path, _ = saved
    xml = export_model(path, "openvino", tmp_path / "ir")
    assert xml == tmp_path / "ir" / "model.xml" and xml.is_file()
    assert (tmp_path / "ir" / "model.bin").is_file()
