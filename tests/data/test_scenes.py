"""Scenes of pasted cats, on arrays small enough to check by hand."""

import numpy as np
import pytest

from catunet.data import scenes


def cat(value, size=20):
    """A photo whose cat is a ``value``-coloured 10×10 square."""
    image = np.zeros((size, size, 3), np.uint8)
    mask = np.zeros((size, size), np.uint8)
    image[5:15, 5:15], mask[5:15, 5:15] = value, 1
    return f"cat.{value}.jpg", image, mask


def frame(rows=36, cols=64, foreground=None):
    mask = np.zeros((rows, cols), np.uint8)
    if foreground:
        mask[foreground] = 1
    return "bear_00001.jpg", np.full((rows, cols, 3), 7, np.uint8), mask


def test_a_scene_keeps_the_frames_shape_and_labels_its_cat():
    [scene] = scenes.make_scenes([cat(200)], [frame()], kinds=("large",))
    assert scene.image.shape == (36, 64, 3) and scene.cats == ["cat.200.jpg"]
    # The cat's longer side is 0.7-0.9 of the frame's shorter side (36 px).
    side = int(np.sqrt(scene.truth.sum()))
    assert 25 <= side <= 33 and scene.truth.sum() == side * side
    assert (scene.image[scene.truth == 1] == 200).all()
    assert (scene.image[scene.truth == 0] == 7).all()


def test_several_cats_stand_side_by_side_and_each_is_tracked():
    cats = [cat(v) for v in (100, 150, 200)]
    scene = scenes.make_scenes(cats, [frame()], seed=3, kinds=("several",))[0]
    assert scene.cats[0] == "cat.100.jpg" and len(set(scene.cats)) == 3
    assert len(scene.visible) == 3 and scenes.visible_cats(scene) == 3
    union = np.logical_or.reduce(scene.visible)
    np.testing.assert_array_equal(union, scene.truth.astype(bool))
    for name, visible in zip(scene.cats, scene.visible):
        value = int(name.split(".")[1])
        assert (scene.image[visible] == value).all()


def test_scenes_are_seeded_and_cover_every_kind_for_every_cat():
    cats = [cat(v) for v in (100, 150, 200)]
    frames = [frame(), frame(rows=40, cols=40)]
    a = scenes.make_scenes(cats, frames, seed=1)
    b = scenes.make_scenes(cats, frames, seed=1)
    assert [s.kind for s in a] == list(scenes.KINDS) * 3
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.image, y.image)
    assert any((x.image != y.image).any() for x, y in
               zip(a, scenes.make_scenes(cats, frames, seed=2)))


def test_a_photo_with_too_little_cat_is_skipped():
    name, image, mask = cat(200)
    assert scenes.make_scenes([(name, image, mask * 0)], [frame()]) == []


def test_the_frames_own_foreground_is_left_out_of_the_score():
    [scene] = scenes.make_scenes([cat(200)], [frame(foreground=(
        slice(None), slice(0, 64)))], kinds=("small",))
    # The whole frame is foreground: all of it but the cat is ignored.
    assert scene.ignore.sum() == scene.ignore.size - scene.truth.sum()
    everything = np.ones_like(scene.truth)
    assert scenes.dice(scene, everything) == 1.0
    assert scenes.dice(scene, np.zeros_like(scene.truth)) == 0.0


@pytest.mark.parametrize("share, found", [(0.0, 0), (0.4, 0), (0.5, 1),
                                          (1.0, 1)])
def test_a_cat_is_found_when_half_of_it_is_predicted(share, found):
    [scene] = scenes.make_scenes([cat(200)], [frame()], kinds=("large",))
    rows, cols = np.nonzero(scene.truth)
    predicted = np.zeros_like(scene.truth)
    chosen = np.arange(len(rows)) < np.ceil(share * len(rows))
    predicted[rows[chosen], cols[chosen]] = 1
    assert scenes.cats_found(scene, predicted) == found
    expected = 2 * chosen.sum() / (chosen.sum() + len(rows))
    assert scenes.dice(scene, predicted) == pytest.approx(expected)


def test_a_cat_covered_whole_by_another_is_not_counted():
    truth = np.zeros((4, 4), np.uint8)
    truth[:2] = 1
    shown, hidden = truth.astype(bool), np.zeros((4, 4), bool)
    scene = scenes.Scene("several", ["a", "b"], "f", np.zeros((4, 4, 3)),
                         truth, np.zeros_like(truth), [shown, hidden])
    assert scenes.visible_cats(scene) == 1
    assert scenes.cats_found(scene, truth) == 1
    assert scenes.cats_found(scene, np.zeros_like(truth)) == 0


def test_marked_is_the_share_of_the_frames_own_foreground_outlined():
    [scene] = scenes.make_scenes([cat(200)], [frame(foreground=(
        slice(0, 10), slice(50, 60)))], kinds=("small",))
    ignored = scene.ignore.sum()
    assert ignored > 0
    predicted = scene.truth.copy()
    assert scenes.marked(scene, predicted) == 0.0
    predicted[0:10, 50:55] = 1  # half of the 10 x 10 square, minus any cat
    share = (predicted.astype(bool) & (scene.ignore == 1)).sum() / ignored
    assert scenes.marked(scene, predicted) == pytest.approx(share)
    assert 0.4 <= share <= 0.6
    assert scenes.marked(scene, np.ones_like(scene.truth)) == 1.0
    [bare] = scenes.make_scenes([cat(200)], [frame()], kinds=("small",))
    assert scenes.marked(bare, np.ones_like(bare.truth)) is None
