"""The one inference path: test-time augmentation and saved settings."""

import numpy as np
import pytest

from catunet.inference import predict
from catunet.models.unet import build_unet


@pytest.fixture(scope="module")
def model():
    import keras

    keras.utils.set_random_seed(0)
    return build_unet((32, 32, 3), base_filters=2, depth=2)


def test_tta_makes_predictions_mirror_with_the_photo(model):
    images = np.random.default_rng(0).integers(0, 255, (3, 32, 32, 3))
    mirrored = images[:, :, ::-1]

    def probabilities(x, tta):
        return predict.predict_probabilities(model, x, tta=tta)

    np.testing.assert_allclose(probabilities(mirrored, True),
                               probabilities(images, True)[:, :, ::-1],
                               atol=1e-6)
    assert not np.allclose(probabilities(mirrored, False),
                           probabilities(images, False)[:, :, ::-1],
                           atol=1e-6)


def test_batches_do_not_change_the_result(model):
    images = np.random.default_rng(1).integers(0, 255, (5, 32, 32, 3))
    np.testing.assert_allclose(
        predict.predict_probabilities(model, images, batch_size=2),
        predict.predict_probabilities(model, images, batch_size=16),
        atol=1e-6)


def test_settings_saved_beside_the_model_are_used_by_default(tmp_path):
    model_path = tmp_path / "cats.keras"
    assert predict.Settings.beside(model_path) == predict.Settings()
    chosen = predict.Settings(tta=True, threshold=0.4, min_area=0.01)
    chosen.save_beside(model_path)
    assert predict.Settings.beside(model_path) == chosen


def test_threshold_and_clean_ups_turn_probabilities_into_a_mask():
    probabilities = np.array([[0.45, 0.45, 0.1],
                              [0.45, 0.2, 0.45],
                              [0.45, 0.45, 0.45]])
    assert predict.Settings().to_mask(probabilities).sum() == 0
    low = predict.Settings(threshold=0.4)
    assert low.to_mask(probabilities).sum() == 7
    filled = predict.Settings(threshold=0.4, fill_holes=True)
    assert filled.to_mask(probabilities)[1, 1] == 1


class RedModel:
    """A stand-in network that says what it sees: each pixel's probability
    is its red value over 255, so resizing commutes with it and a tile's
    prediction can be checked by hand. It counts its forward passes."""

    input_shape = (None, 16, 16, 3)

    def __init__(self):
        self.passes = 0

    def predict_on_batch(self, batch):
        self.passes += 1
        return np.asarray(batch, np.float32)[..., :1] / 255


def red_square(height, width, top, left, side):
    photo = np.zeros((height, width, 3), np.uint8)
    photo[top:top + side, left:left + side, 0] = 255
    return photo


@pytest.mark.parametrize("length, side", [(10, 3), (64, 32), (480, 240),
                                          (854, 240), (7, 7), (5, 9)])
def test_tiles_cover_every_pixel_and_overlap_by_half(length, side):
    starts = predict.tile_starts(length, side)
    covered = np.zeros(length, bool)
    for start in starts:
        covered[start:start + side] = True
    assert covered.all()
    assert starts[0] == 0 and starts[-1] + min(side, length) == length
    assert all(b - a <= max(side // 2, 1) for a, b in zip(starts, starts[1:]))


def test_tiles_are_squares_zoom_times_smaller_than_the_shorter_side():
    windows = predict.tiles((40, 60), 2)
    assert {side for _, _, side in windows} == {20}
    # Half a tile apart: tops 0, 10, 20; lefts 0, 10, ..., 40.
    assert len(windows) == 3 * 5
    assert len(predict.tiles((48, 48), 3)) == 5 * 5


def test_zoomed_probabilities_put_each_tile_back_where_it_came_from():
    photo = red_square(40, 60, 4, 44, 12)
    probabilities = predict.zoomed_probabilities(RedModel(), [photo], 2)[0]
    assert probabilities.shape == (40, 60)
    assert probabilities[6:14, 46:54].min() > 0.9
    outside = np.ones((40, 60), bool)
    outside[2:18, 42:58] = False
    assert probabilities[outside].max() < 0.05


@pytest.mark.parametrize("merge, combine", [
    ("mean", lambda whole, near: (whole + near) / 2),
    ("max", np.maximum),
])
def test_zoom_merges_the_whole_photo_with_its_tiles(merge, combine):
    photo = red_square(48, 64, 20, 20, 12)
    model = RedModel()
    settings = predict.Settings(zoom=2, zoom_merge=merge)
    whole = predict.photo_probabilities(model, [photo])[0]
    near = predict.zoomed_probabilities(model, [photo], 2)[0]
    both = predict.photo_probabilities(model, [photo], settings)[0]
    np.testing.assert_allclose(both, combine(whole, near), atol=1e-6)
    mask = predict.predict_photo_masks(model, [photo], settings)[0]
    assert mask.shape == (48, 64) and mask[22:30, 22:30].all()
    assert mask.sum() < 2 * 12 * 12


@pytest.mark.parametrize("merge, expected", [
    ("mean", [[0.6, 0.45, 0.1]]),
    ("max", [[0.9, 0.8, 0.1]]),
])
def test_zoom_merges_the_two_views_by_hand(merge, expected):
    whole = np.array([[0.9, 0.1, 0.1]], np.float32)
    zoomed = np.array([[0.3, 0.8, 0.1]], np.float32)
    np.testing.assert_allclose(
        predict.with_zoom(whole, zoomed, merge), expected, atol=1e-6)


def test_zoom_leaves_photos_whose_cat_is_seen_large():
    half = np.full((4, 4), 0.5, np.float32)  # half the photo is cat
    assert predict.zooms(half) and predict.zooms(half, 0.6)
    assert not predict.zooms(half, 0.4)
    assert predict.zooms(np.ones((4, 4)))  # 1: every photo, even all cat


def test_zoom_max_area_is_decided_per_photo(model):
    images = np.random.default_rng(3).integers(0, 255, (2, 32, 32, 3))
    plain = predict.predict_probabilities(model, images)
    zoomed = predict.predict_probabilities(model, images, zoom=2)
    area = plain.mean(axis=(1, 2, 3))
    cut = float(area.mean())  # one image above, one below
    low, high = sorted(area)
    assert low < cut < high
    gated = predict.predict_probabilities(model, images, zoom=2,
                                            zoom_max_area=cut)
    for i in range(2):
        expected = plain[i] if area[i] >= cut else zoomed[i]
        np.testing.assert_allclose(gated[i], expected, atol=1e-6)


def test_photos_seen_large_are_not_cut_into_tiles():
    class Counting(RedModel):
        shown = 0  # images, not passes

        def predict_on_batch(self, batch):
            self.shown += len(batch)
            return super().predict_on_batch(batch)

    photos = [red_square(48, 48, 2, 2, 44), red_square(48, 48, 20, 20, 6)]
    model = Counting()
    gated = predict.photo_probabilities(
        model, photos, predict.Settings(zoom=2, zoom_max_area=0.3))
    assert model.shown == 2 + 9  # both whole, the small cat's 9 tiles
    whole = predict.photo_probabilities(model, photos[:1])[0]
    np.testing.assert_allclose(gated[0], whole, atol=1e-6)


def test_settings_refuse_an_unknown_zoom_merge():
    from catunet.checks import SettingError

    with pytest.raises(SettingError, match="--zoom-merge must be one of "
                       "mean, max, got 'median'"):
        predict.Settings(zoom=2, zoom_merge="median")


def test_zoom_at_the_models_size_keeps_the_shape(model):
    images = np.random.default_rng(2).integers(0, 255, (3, 32, 32, 3))
    plain = predict.predict_probabilities(model, images)
    zoomed = predict.predict_probabilities(model, images, zoom=2)
    assert zoomed.shape == plain.shape == (3, 32, 32, 1)
    assert not np.allclose(zoomed, plain)


def test_settings_saved_before_zoom_existed_still_load(tmp_path):
    (tmp_path / "inference.json").write_text(
        '{"tta": true, "threshold": 0.4, "fill_holes": true, "min_area": 0.005}')
    settings = predict.Settings.beside(tmp_path / "cats.keras")
    assert settings.zoom == 1 and settings.threshold == 0.4


def test_settings_saved_with_the_removed_detector_gate_off_still_load(
        tmp_path):
    # As every inference.json written before the gate was removed.
    (tmp_path / "inference.json").write_text(
        '{"tta": true, "threshold": 0.6, "cat_boxes": 0.0, "cat_gate": 0.0}')
    settings = predict.Settings.beside(tmp_path / "cats.keras")
    assert settings == predict.Settings(tta=True, threshold=0.6)


@pytest.mark.parametrize("saved, key", [
    ('{"cat_boxes": 0.2, "cat_gate": 0.0}', "cat_boxes"),
    ('{"tta": true, "cat_gate": 0.3}', "cat_gate")])
def test_settings_that_turn_the_removed_detector_gate_on_are_refused(
        tmp_path, saved, key):
    from catunet.errors import CatunetError

    (tmp_path / "inference.json").write_text(saved)
    with pytest.raises(CatunetError) as error:
        predict.Settings.beside(tmp_path / "cats.keras")
    message = str(error.value)
    assert str(tmp_path / "inference.json") in message
    assert "detector gate was removed" in message
    assert f"delete the key '{key}'" in message


def test_zoom_flag_overrides_the_saved_settings_and_refuses_zero(tmp_path):
    from catunet.cli import make_parser
    from catunet.flags import inference_settings

    model_path = tmp_path / "cats.keras"
    predict.Settings(tta=True, threshold=0.4).save_beside(model_path)
    parser = make_parser(only="evaluate")
    args = parser.parse_args(["--model", str(model_path), "--zoom", "2"])
    assert inference_settings(args) == predict.Settings(
        tta=True, threshold=0.4, zoom=2)
    with pytest.raises(SystemExit):
        parser.parse_args(["--model", str(model_path), "--zoom", "0"])
    args = parser.parse_args(["--model", str(model_path), "--zoom", "2",
                              "--zoom-merge", "max"])
    assert inference_settings(args).zoom_merge == "max"
    with pytest.raises(SystemExit):
        parser.parse_args(["--model", str(model_path), "--zoom-merge", "sum"])
    args = parser.parse_args(["--model", str(model_path), "--zoom", "2",
                              "--zoom-max-area", "0.3"])
    assert inference_settings(args).zoom_max_area == 0.3
    for bad in ("0", "1.5"):
        with pytest.raises(SystemExit):
            parser.parse_args(["--model", str(model_path),
                               "--zoom-max-area", bad])


def test_tile_weights_favour_the_centre_and_never_vanish():
    weights = predict.tile_weights(16)
    assert weights.shape == (16, 16)
    np.testing.assert_allclose(weights, weights.T)
    np.testing.assert_allclose(weights, weights[::-1, ::-1])
    assert weights.min() >= 1e-3
    assert weights[0, 0] < weights[4, 4] < weights[7, 7] == weights.max()


class AllCat:
    """A model that calls every pixel cat (probability 0.9)."""

    input_shape = (None, 32, 32, 3)

    def predict_on_batch(self, images):
        return np.full((len(images), 32, 32, 1), 0.9, np.float32)


def test_full_size_dice_scores_masks_at_each_photos_own_size(shapes_dir):
    from catunet.data import loading
    from catunet.inference.evaluate import full_size_dice

    pairs = loading.find_pairs(shapes_dir)[:3]
    dice = full_size_dice(AllCat(), pairs)
    for pair, got in zip(pairs, dice):
        truth = loading.read_mask(pair.mask)  # 48 x 64, the photo's size
        assert truth.shape == loading.read_image(pair.image).shape[:2]
        assert got == pytest.approx(2 * truth.sum() / (truth.sum()
                                                       + truth.size), 1e-5)
