"""Mosaics on photos small enough to check by hand."""

import numpy as np
import pytest

from catunet.data import mosaic
from catunet.data.mosaic_spec import parse_grids
from catunet.errors import CatunetError


def four_photos():
    """Four 4x4 photos of one value each (0, 10, 20, 30) and their masks:
    all cat, no cat, a 2x2 block in the top-left corner, one pixel."""
    images = np.stack([np.full((4, 4, 3), 10 * i, np.uint8) for i in range(4)])
    masks = np.zeros((4, 4, 4, 1), np.uint8)
    masks[0] = 1
    masks[2, :2, :2] = 1
    masks[3, 0, 0] = 1
    return images, masks


def test_a_mosaic_tiles_the_four_photos_in_reading_order():
    image, mask = mosaic.tile(*four_photos())
    assert image.shape == (4, 4, 3) and mask.shape == (4, 4, 1)
    assert image[..., 0].tolist() == [[0, 0, 10, 10], [0, 0, 10, 10],
                                      [20, 20, 30, 30], [20, 20, 30, 30]]
    # Each mask halves by majority vote: the 2x2 block becomes one pixel,
    # the single pixel (a quarter of its block) disappears.
    assert mask[..., 0].tolist() == [[1, 1, 0, 0], [1, 1, 0, 0],
                                     [1, 0, 0, 0], [0, 0, 0, 0]]
    assert mask.dtype == np.uint8


def test_mosaics_are_made_from_four_different_photos_by_seed():
    images, masks = four_photos()
    images = np.concatenate([images, images + 1])  # eight different photos
    masks = np.concatenate([masks, masks])
    made, made_masks = mosaic.mosaics(images, masks, 5, seed=3)
    assert made.shape == (5, 4, 4, 3) and made_masks.shape == (5, 4, 4, 1)
    for m in made:
        assert len({int(v) for v in m[::2, ::2, 0].ravel()}) == 4
    again, _ = mosaic.mosaics(images, masks, 5, seed=3)
    assert np.array_equal(made, again)
    assert not np.array_equal(made, mosaic.mosaics(images, masks, 5, 4)[0])


@pytest.mark.parametrize("count, photos", [(0, 8), (3, 3)])
def test_no_mosaics_without_a_count_or_four_photos(count, photos):
    images = np.zeros((photos, 4, 4, 3), np.uint8)
    made, masks = mosaic.mosaics(images, images[..., :1], count, seed=0)
    assert made.shape == (0, 4, 4, 3) and masks.shape == (0, 4, 4, 1)


def test_a_three_by_three_mosaic_gives_each_photo_a_cell_of_whole_pixels():
    assert mosaic.cells(128, 3).tolist() == [43, 42, 43]
    assert mosaic.cells(128, 2).tolist() == [64, 64]
    images = np.stack([np.full((6, 6, 3), 10 * i, np.uint8) for i in range(9)])
    masks = np.zeros((9, 6, 6, 1), np.uint8)
    masks[4] = 1  # the middle photo is all cat
    image, mask = mosaic.tile(images, masks)
    assert image.shape == (6, 6, 3) and mask.shape == (6, 6, 1)
    assert image[::2, ::2, 0].tolist() == [[0, 10, 20], [30, 40, 50],
                                           [60, 70, 80]]
    assert mask[..., 0].sum() == 4 and mask[2:4, 2:4, 0].all()
    with pytest.raises(ValueError, match="square number"):
        mosaic.tile(images[:5], masks[:5])


def test_mosaics_take_the_grids_in_turn():
    images = np.stack([np.full((6, 6, 3), i, np.uint8) for i in range(12)])
    made, _ = mosaic.mosaics(images, images[..., :1], 4, seed=1,
                             grids=(2, 3))
    photos = [len({int(v) for v in m[..., 0].ravel()}) for m in made]
    assert photos == [4, 9, 4, 9]
    # The default draws exactly what mosaics drew before grids existed.
    assert np.array_equal(mosaic.mosaics(images, images[..., :1], 3, 2)[0],
                          mosaic.mosaics(images, images[..., :1], 3, 2,
                                         grids=(2,))[0])
    too_few, _ = mosaic.mosaics(images[:8], images[:8, ..., :1], 2, seed=1,
                                grids=(2, 3))  # no nine photos: 2x2 only
    assert [len({int(v) for v in m[..., 0].ravel()}) for m in too_few] == [
        4, 4]


@pytest.mark.parametrize("text", ["", "1", "2,5", "two"])
def test_grids_other_than_two_to_four_are_a_clear_error(text):
    assert parse_grids("2,3") == (2, 3)
    with pytest.raises(CatunetError, match="--mosaic-grids must be"):
        parse_grids(text)
