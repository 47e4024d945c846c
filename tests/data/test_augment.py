import cv2
import numpy as np
import pytest

from catunet.data import augment, loading
from catunet.errors import CatunetError
from catunet.training.train import train
from tests.training.test_train import tiny


def drawn_batch(n=4, size=64):
    """Masks of drawn shapes, and photos that are those shapes in white."""
    masks = np.zeros((n, size, size, 1), np.float32)
    for i in range(n):
        cv2.rectangle(masks[i], (8 + i, 10), (30 + 2 * i, 50), 1.0, -1)
        cv2.circle(masks[i], (45, 20 + 3 * i), 9, 1.0, -1)
    images = np.repeat(masks * 255.0, 3, axis=-1)
    return images, masks


@pytest.mark.parametrize("spec", [
    "flip", "rotate=0.1", "zoom=0.2", "translate=0.2", "elastic=8",
    "flip,rotate,zoom,translate,elastic",
])
def test_geometric_transforms_move_image_and_mask_together(spec):
    images, masks = drawn_batch()
    out_images, out_masks = augment.Augmenter(augment.parse_spec(spec), seed=3)(
        images, masks)
    out_images, out_masks = np.asarray(out_images), np.asarray(out_masks)
    assert not np.array_equal(out_masks, masks) or spec == "flip"
    shape_in_image = (out_images[..., :1] > 127.5).astype(np.float32)
    agreement = (shape_in_image == out_masks).mean()
    assert agreement > 0.999


@pytest.mark.parametrize("spec", ["recommended", "elastic=10", "rotate=0.25"])
def test_masks_stay_binary(spec):
    images, masks = drawn_batch()
    _, out_masks = augment.Augmenter(augment.parse_spec(spec), seed=0)(
        images, masks)
    assert set(np.unique(np.asarray(out_masks))) <= {0.0, 1.0}


def test_photometric_transforms_leave_the_mask_alone():
    images, masks = drawn_batch()
    images = images * 0.5 + 40
    out_images, out_masks = augment.Augmenter(
        augment.parse_spec("brightness=0.3,contrast=0.3"), seed=1)(images, masks)
    np.testing.assert_array_equal(np.asarray(out_masks), masks)
    assert not np.allclose(np.asarray(out_images), images)
    assert np.asarray(out_images).min() >= 0 and np.asarray(out_images).max() <= 255


def coloured_batch(n=4, size=32):
    """Photos with a different colour in every quarter, and their masks."""
    rng = np.random.default_rng(0)
    images = rng.uniform(20, 235, (n, 1, 1, 3)) * np.ones((1, size, size, 3))
    images[:, : size // 2, : size // 2] = [200.0, 120.0, 40.0]  # ginger
    masks = np.zeros((n, size, size, 1), np.float32)
    masks[:, : size // 2, : size // 2] = 1.0
    return images.astype(np.float32), masks


@pytest.mark.parametrize("spec", ["saturation=0.4", "hue=0.2", "grayscale=1"])
def test_colour_transforms_change_the_colours_but_not_the_mask(spec):
    images, masks = coloured_batch()
    out_images, out_masks = [np.asarray(t) for t in augment.Augmenter(
        augment.parse_spec(spec), seed=1)(images, masks)]
    np.testing.assert_array_equal(out_masks, masks)
    assert out_images.shape == images.shape
    assert not np.allclose(out_images, images, atol=1.0)
    assert out_images.min() >= 0 and out_images.max() <= 255
    # Brightness order of the quarters survives a change of colour.
    grey = lambda x: x.mean(axis=-1)  # noqa: E731
    assert np.corrcoef(grey(out_images).ravel(), grey(images).ravel())[0, 1] > 0.5


def test_grayscale_at_certainty_makes_every_channel_equal():
    images, masks = coloured_batch()
    out_images, _ = augment.Augmenter({"grayscale": 1.0}, seed=0)(images, masks)
    out_images = np.asarray(out_images)
    np.testing.assert_allclose(out_images[..., 0], out_images[..., 1], atol=1e-3)
    np.testing.assert_allclose(out_images[..., 0], out_images[..., 2], atol=1e-3)


def test_colour_at_no_strength_is_the_identity():
    images, masks = coloured_batch()
    out_images, _ = augment.Augmenter(
        {"saturation": 0.0, "hue": 0.0, "grayscale": 0.0}, seed=0)(images, masks)
    np.testing.assert_allclose(np.asarray(out_images), images, atol=0.5)


def test_colour_draws_follow_the_batch_key():
    images, masks = coloured_batch()
    aug = augment.Augmenter(augment.parse_spec("saturation,hue,grayscale=0.5"))

    def draw(step):
        return np.asarray(aug(images, masks, key=np.array([3, step]))[0])

    np.testing.assert_array_equal(draw(7), draw(7))
    assert not np.array_equal(draw(7), draw(8))


def test_same_seed_same_draws():
    images, masks = drawn_batch()

    def draw(seed):
        aug = augment.Augmenter(augment.parse_spec("recommended"), seed=seed)
        return [np.asarray(t) for t in aug(images, masks)]

    first, again, other = draw(5), draw(5), draw(6)
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])
    assert not np.array_equal(first[0], other[0])


def test_elastic_without_displacement_is_the_identity():
    images, _ = drawn_batch()
    layer = augment.ElasticDeformation(sigma=0.0)
    np.testing.assert_array_equal(np.asarray(layer(images)), images)
    rows = np.broadcast_to(np.arange(64.0)[None, :, None], (4, 64, 64))
    cols = np.broadcast_to(np.arange(64.0)[None, None, :], (4, 64, 64))
    sampled = augment.bilinear_sample(images, rows, cols)
    np.testing.assert_allclose(np.asarray(sampled), images)


def test_bilinear_sample_by_hand():
    image = np.array([[0.0, 10.0], [20.0, 30.0]])[None, :, :, None]
    rows = np.array([[[0.5, 0.0], [1.0, 1.5]]])
    cols = np.array([[[0.5, 0.25], [1.0, 0.0]]])
    # (0.5, 0.5) is the mean of all four; (0, 0.25) a quarter of the way to
    # 10; (1.5, 0) lies past the edge and reflects to (0.5, 0).
    np.testing.assert_allclose(
        np.asarray(augment.bilinear_sample(image, rows, cols))[0, ..., 0],
        [[15.0, 2.5], [30.0, 10.0]])


def test_elastic_layer_config_round_trips():
    layer = augment.ElasticDeformation(sigma=4.0, grid=5, seed=2)
    clone = augment.ElasticDeformation.from_config(layer.get_config())
    assert (clone.sigma, clone.grid, clone.seed) == (4.0, 5, 2)


@pytest.mark.parametrize("spec, expected", [
    ("", {}),
    ("none", {}),
    ("flip", {"flip": 1.0}),
    ("rotate=0.1,elastic", {"rotate": 0.1, "elastic": 4.0}),
    ("recommended", {k: v[0] for k, v in augment.TECHNIQUES.items()
                     if k not in ("saturation", "hue", "grayscale")}),
    ("hue=0.1,grayscale", {"hue": 0.1, "grayscale": 0.1}),
    ("recommended,hue=0.1,zoom=0.4",
     {**augment.parse_spec("recommended"), "hue": 0.1, "zoom": 0.4}),
])
def test_parse_spec(spec, expected):
    assert augment.parse_spec(spec) == expected


@pytest.mark.parametrize("spec, match", [
    ("blur", "unknown augmentation 'blur'"), ("zoom=big", "must be a number"),
])
def test_parse_spec_errors(spec, match):
    with pytest.raises(CatunetError, match=match):
        augment.parse_spec(spec)


def test_only_the_training_images_are_augmented(tmp_path, shapes_dir,
                                                monkeypatch):
    calls = []
    stream, plain = loading.make_training_dataset, loading.make_dataset

    def spy_stream(images, masks, batch_size, **kwargs):
        calls.append(("stream", len(images), kwargs["augment"] is not None))
        return stream(images, masks, batch_size, **kwargs)

    def spy_plain(images, masks, batch_size):
        calls.append(("plain", len(images), False))
        return plain(images, masks, batch_size)

    monkeypatch.setattr(loading, "make_training_dataset", spy_stream)
    monkeypatch.setattr(loading, "make_dataset", spy_plain)
    train(tiny(tmp_path, shapes_dir, folds=3, augment="recommended"), verbose=0)
    # 12 pairs: 4 test, 8 train = 5 fitted + 3 validation (fold 0 of 3).
    assert calls == [("stream", 5, True),   # fitted: shuffled, augmented
                     ("plain", 3, False)]   # validation: neither; test: never
