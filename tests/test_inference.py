"""The one inference path: test-time augmentation and saved settings."""

import numpy as np
import pytest

from catunet import inference
from catunet.model import build_unet


@pytest.fixture(scope="module")
def model():
    import keras

    keras.utils.set_random_seed(0)
    return build_unet((32, 32, 3), base_filters=2, depth=2)


def test_tta_makes_predictions_mirror_with_the_photo(model):
    images = np.random.default_rng(0).integers(0, 255, (3, 32, 32, 3))
    mirrored = images[:, :, ::-1]

    def predict(x, tta):
        return inference.predict_probabilities(model, x, tta=tta)

    np.testing.assert_allclose(predict(mirrored, True),
                               predict(images, True)[:, :, ::-1], atol=1e-6)
    assert not np.allclose(predict(mirrored, False),
                           predict(images, False)[:, :, ::-1], atol=1e-6)


def test_batches_do_not_change_the_result(model):
    images = np.random.default_rng(1).integers(0, 255, (5, 32, 32, 3))
    np.testing.assert_allclose(
        inference.predict_probabilities(model, images, batch_size=2),
        inference.predict_probabilities(model, images, batch_size=16),
        atol=1e-6)


def test_settings_saved_beside_the_model_are_used_by_default(tmp_path):
    model_path = tmp_path / "cats.keras"
    assert inference.Settings.beside(model_path) == inference.Settings()
    chosen = inference.Settings(tta=True, threshold=0.4, min_area=0.01)
    chosen.save_beside(model_path)
    assert inference.Settings.beside(model_path) == chosen


def test_threshold_and_clean_ups_turn_probabilities_into_a_mask():
    probabilities = np.array([[0.45, 0.45, 0.1],
                              [0.45, 0.2, 0.45],
                              [0.45, 0.45, 0.45]])
    assert inference.Settings().to_mask(probabilities).sum() == 0
    low = inference.Settings(threshold=0.4)
    assert low.to_mask(probabilities).sum() == 7
    filled = inference.Settings(threshold=0.4, fill_holes=True)
    assert filled.to_mask(probabilities)[1, 1] == 1
