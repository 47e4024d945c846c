"""Averaging models into one (``catunet.training.ensemble``)."""

import numpy as np
import pytest

from catunet.inference.runtimes import computes_in_bfloat16
from catunet.models.saving import load_model, save_model
from catunet.models.unet import build_unet
from catunet.training import ensemble


def _images(n=2, size=32, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, (n, size, size, 3)) \
        .astype(np.float32)


def test_the_average_predicts_the_mean_of_its_members_and_survives_saving(
        tmp_path):
    narrow = build_unet((32, 32, 3), base_filters=4, depth=2)
    wide = build_unet((32, 32, 3), base_filters=6, depth=2)
    images = _images()
    expected = (narrow.predict(images, verbose=0)
                + wide.predict(images, verbose=0)) / 2
    averaged = ensemble.average([narrow, wide])
    assert averaged.output_shape == narrow.output_shape
    save_model(averaged, tmp_path / "ensemble.keras")
    loaded = load_model(tmp_path / "ensemble.keras")
    assert [layer.name for layer in loaded.layers] == \
        ["image", "member_0", "member_1", "mask"]
    np.testing.assert_allclose(loaded.predict(images, verbose=0), expected,
                               atol=1e-6)
    assert loaded.output.dtype == "float32"


def test_one_model_is_its_own_average_and_shapes_must_agree():
    model = build_unet((32, 32, 3), base_filters=4, depth=2)
    assert ensemble.average([model]) is model
    with pytest.raises(ValueError, match="nothing"):
        ensemble.average([])
    other = build_unet((64, 64, 3), base_filters=4, depth=2)
    with pytest.raises(ValueError, match="other shapes"):
        ensemble.average([model, other])


def test_precision_of_an_average_is_its_members(monkeypatch):
    import keras

    plain = build_unet((32, 32, 3), base_filters=4, depth=2)
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        halved = build_unet((32, 32, 3), base_filters=4, depth=2)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert not computes_in_bfloat16(ensemble.average([plain, plain]))
    assert computes_in_bfloat16(ensemble.average([halved, plain]))


@pytest.mark.parametrize("runtime", ["openvino", "onnx"])
def test_an_average_is_served_like_any_model(tmp_path, runtime):
    from catunet.inference import predict, runtimes

    if not runtimes.installed(runtime):
        pytest.skip(f"{runtime} is not installed")
    averaged = ensemble.average([build_unet((32, 32, 3), base_filters=w,
                                            depth=2) for w in (4, 6)])
    path = save_model(averaged, tmp_path / "cats.keras")
    served, _ = runtimes.load_runtime(path, runtime)
    images = _images(n=3)
    np.testing.assert_allclose(
        predict.predict_probabilities(served, images, batch_size=2),
        predict.predict_probabilities(averaged, images), atol=1e-3)
