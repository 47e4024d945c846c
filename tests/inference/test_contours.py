"""Outlines on masks of known shapes."""

import cv2
import numpy as np
import pytest

from catunet.inference import contours


def square(size=100, top=20, side=40):
    mask = np.zeros((size, size), np.uint8)
    mask[top:top + side, top:top + side] = 1
    return mask


def test_a_filled_square_has_one_contour_of_its_area():
    found = contours.find_contours(square())
    assert len(found) == 1
    # OpenCV's outline runs through the border pixels' centres: (side-1)^2.
    assert cv2.contourArea(found[0]) == 39 * 39


def test_two_blobs_give_two_contours():
    mask = square()
    mask[70:90, 70:90] = 1
    assert len(contours.find_contours(mask)) == 2


def test_an_empty_mask_has_no_contour_and_draws_nothing():
    empty = np.zeros((50, 60), np.uint8)
    photo = np.full((50, 60, 3), 128, np.uint8)
    assert contours.find_contours(empty) == []
    np.testing.assert_array_equal(contours.overlay(photo, empty, empty), photo)


def test_outline_is_drawn_on_a_copy_along_the_border():
    photo = np.zeros((100, 100, 3), np.uint8)
    drawn = contours.draw_contours(photo, square(), width=3)
    assert photo.max() == 0  # the input is untouched
    red = np.all(drawn == contours.PREDICTED, axis=-1)
    for edge in (red[20, 20:60], red[59, 20:60], red[20:60, 20], red[20:60, 59]):
        assert edge.all()
    assert not drawn[40, 40].any() and not drawn[5, 5].any()


def test_truth_is_green_under_the_red_prediction():
    photo = np.zeros((100, 100, 3), np.uint8)
    truth = np.zeros((100, 100), np.uint8)
    truth[10:30, 60:90] = 1
    drawn = contours.overlay(photo, square(), truth)
    assert np.all(drawn[10, 70] == contours.TRUTH)
    assert np.all(drawn[20, 30] == contours.PREDICTED)


@pytest.mark.parametrize("shape", [(300, 400), (1200, 900), (64, 64)])
def test_line_width_grows_with_the_picture(shape):
    assert contours.line_width(shape) == max(2, round(min(shape) / 150))


def test_upsampling_is_smooth_before_the_threshold():
    # A 4x4 probability map with a 2x2 block of ones, blown up 16x: nearest
    # would give a square 32x32 block (rows and columns 16-47);
    # bilinear-then-threshold keeps its edges but rounds its corners.
    small = np.zeros((4, 4), np.float32)
    small[1:3, 1:3] = 1.0
    big = contours.upsample(small, (64, 64, 3))
    assert big.shape == (64, 64) and big.dtype == np.uint8
    assert set(np.unique(big)) == {0, 1}
    assert big[32, 32] == 1 and big[16, 32] == 1 and big[32, 16] == 1
    assert big[16, 16] == 0 and big[47, 47] == 0  # rounded corners
    diagonal = contours.upsample(np.eye(4, dtype=np.float32), (64, 64))
    assert diagonal[0, 0] == 1 and diagonal[63, 63] == 1 and diagonal[0, 63] == 0


def test_upsample_takes_a_channel_axis_and_non_square_shapes():
    probabilities = np.full((8, 8, 1), 0.9, np.float32)
    assert contours.upsample(probabilities, (30, 50)).shape == (30, 50)
    assert contours.upsample(probabilities, (30, 50)).all()
