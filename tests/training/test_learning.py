"""Tests that fail when learning breaks: the real pipeline, augmentation,
model and loss must fit drawn shapes, and images and masks must stay
aligned through tf.data."""

import numpy as np
import pytest

from catunet.data import augment, loading
from catunet.inference.evaluate import score
from catunet.models.saving import load_model
from catunet.training.config import TrainConfig
from catunet.training.train import train
from tests.conftest import write_folder

SMOKE = dict(width=8, depth=3, image_size=64, epochs=25, batch_size=8,
             learning_rate=3e-3)


def shifted(shift):
    """``make_training_dataset`` with every mask moved ``shift`` pixels to
    the right after augmentation: a misaligned pipeline."""
    import tensorflow as tf

    real = loading.make_training_dataset

    def make(*args, **kwargs):
        return real(*args, **kwargs).map(
            lambda x, y: (x, tf.roll(y, shift, axis=2)))
    return make


@pytest.mark.slow
@pytest.mark.parametrize("shift, learns", [(0, True), (4, False)])
def test_fits_drawn_shapes_only_when_masks_are_aligned(
        tmp_path, monkeypatch, shift, learns):
    """The whole training path (tf.data stream, recommended augmentation,
    U-Net, BCE + Dice) fits 24 drawn shapes to Dice > 0.9 on the images it
    saw; the same run with masks shifted by 4 px in the pipeline does not."""
    if shift:
        monkeypatch.setattr(loading, "make_training_dataset", shifted(shift))
    shapes = write_folder(tmp_path / "shapes", n=32)
    config = TrainConfig(data_dir=str(shapes), split=str(tmp_path / "s.json"),
                         out=str(tmp_path / "run"), **SMOKE)
    run = train(config, verbose=0)
    from catunet.data import split

    manifest = split.load_split(tmp_path / "s.json")
    fitted, _ = split.resolve_split(manifest, loading.find_pairs(shapes))
    images, masks = loading.load_pairs(fitted, config.image_size)
    dice = float(score(load_model(run.model_path), images, masks)["dice"].mean())
    assert (dice > 0.9) == learns, f"Dice {dice:.3f} with a {shift} px shift"


def marked(n=6, size=32, seed=0):
    """Images whose pixels are their masks (255 where the mask is 1)."""
    rng = np.random.default_rng(seed)
    masks = np.zeros((n, size, size, 1), np.uint8)
    for mask in masks:
        top, left = rng.integers(2, size // 2, 2)
        mask[top:top + size // 3, left:left + size // 4] = 1
    return np.repeat(masks * 255, 3, axis=-1).astype(np.uint8), masks


@pytest.mark.parametrize("technique", list(augment.GEOMETRIC))
def test_pipeline_keeps_images_and_masks_aligned(technique):
    """Through ``make_training_dataset`` (shuffling, batching, the parallel
    map), every geometric technique moves each photo and its own mask
    together."""
    images, masks = marked()
    spec = f"{technique}=8" if technique == "elastic" else technique
    stream = loading.make_training_dataset(
        images, masks, 4, seed=1, epochs=3,
        augment=augment.Augmenter(augment.parse_spec(spec)))
    moved = 0
    for x, y in stream:
        x, y = x.numpy(), y.numpy()
        agree = np.mean((x[..., :1] > 127) == (y > 0.5))
        assert agree > 0.98, f"{technique}: {agree:.3f} of pixels agree"
        moved += not any(np.array_equal(y[k], m) for k in range(len(y))
                         for m in masks)
    assert moved, f"{technique} never changed a mask"


def test_stream_depends_only_on_seed_epoch_and_step():
    images, masks = marked(n=10)
    augmenter = augment.Augmenter(augment.parse_spec("recommended"))

    def batches(first, seed=3):
        return [x.numpy() for x, _ in loading.make_training_dataset(
            images, masks, 4, seed=seed, first_epoch=first, epochs=4,
            augment=augmenter)]

    whole, resumed = batches(0), batches(2)
    steps = loading.steps_per_epoch(10, 4)
    assert len(whole) == 4 * steps and len(resumed) == 2 * steps
    for a, b in zip(whole[2 * steps:], resumed):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(whole[0], whole[steps])  # epochs differ
    assert not np.array_equal(whole[0], batches(0, seed=4)[0])  # seeds differ
