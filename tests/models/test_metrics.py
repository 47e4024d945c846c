import numpy as np
import pytest

from catunet.models import losses, metrics


def batch(*masks):
    """3x3 masks written as lists, as a (N, 3, 3, 1) float array."""
    return np.array(masks, np.float32)[..., None]


SQUARE = [[1, 1, 0], [1, 1, 0], [0, 0, 0]]   # 4 pixels
CORNER = [[1, 0, 0], [0, 0, 0], [0, 0, 0]]   # 1 pixel, inside SQUARE
ROW = [[0, 0, 0], [0, 0, 0], [1, 1, 1]]      # 3 pixels, outside SQUARE
EMPTY = [[0, 0, 0], [0, 0, 0], [0, 0, 0]]


@pytest.mark.parametrize("truth, pred, dice, iou, accuracy", [
    (SQUARE, SQUARE, 1.0, 1.0, 1.0),
    (SQUARE, CORNER, 2 * 1 / (4 + 1), 1 / 4, 6 / 9),
    (SQUARE, ROW, 0.0, 0.0, 2 / 9),
    (EMPTY, EMPTY, 1.0, 1.0, 1.0),   # nothing there, nothing found
    (EMPTY, CORNER, 0.0, 0.0, 8 / 9),
    (CORNER, EMPTY, 0.0, 0.0, 8 / 9),
])
def test_scores_by_hand(truth, pred, dice, iou, accuracy):
    t, p = batch(truth), batch(pred)
    assert float(metrics.dice_coefficient(t, p)[0]) == pytest.approx(dice)
    assert float(metrics.iou(t, p)[0]) == pytest.approx(iou)
    assert float(metrics.pixel_accuracy(t, p)[0]) == pytest.approx(accuracy)


def test_prediction_is_thresholded_at_half():
    probabilities = batch([[0.51, 0.9, 0.49], [0.6, 0.5, 0], [0, 0, 0]])
    # Above 0.5: (0,0), (0,1), (1,0) -> 3 of SQUARE's 4 pixels.
    assert float(metrics.dice_coefficient(batch(SQUARE), probabilities)[0]) == \
        pytest.approx(2 * 3 / (4 + 3))


def test_scores_are_per_image():
    t = batch(SQUARE, SQUARE)
    p = batch(SQUARE, ROW)
    np.testing.assert_allclose(metrics.dice_coefficient(t, p), [1.0, 0.0])


@pytest.mark.parametrize("pred, expected", [
    (SQUARE, 0.0),                             # 1 - (2*4+1)/(4+4+1)
    (CORNER, 1 - (2 * 1 + 1) / (4 + 1 + 1)),   # soft Dice, smooth = 1
    (EMPTY, 1 - 1 / (4 + 1)),
])
def test_dice_loss_by_hand(pred, expected):
    value = float(losses.dice_loss(batch(SQUARE), batch(pred))[0])
    assert value == pytest.approx(expected, abs=1e-6)


def test_mse_and_bce_by_hand():
    truth = batch(SQUARE)
    pred = np.full_like(truth, 0.75)
    # 4 pixels off by 0.25, 5 pixels off by 0.75.
    assert float(losses.mse_loss(truth, pred)[0]) == pytest.approx(
        (4 * 0.25**2 + 5 * 0.75**2) / 9)
    assert float(losses.bce_loss(truth, pred)[0]) == pytest.approx(
        -(4 * np.log(0.75) + 5 * np.log(0.25)) / 9, rel=1e-4)


def test_bce_dice_by_hand():
    truth, pred = batch(SQUARE), np.full((1, 3, 3, 1), 0.3, np.float32)
    bce = -(4 * np.log(0.3) + 5 * np.log(0.7)) / 9       # 0.7329
    dice = 1 - (2 * 4 * 0.3 + 1) / (4 + 9 * 0.3 + 1)     # 1 - 3.4 / 7.7
    assert float(losses.bce_dice_loss(truth, pred)[0]) == pytest.approx(
        bce + dice, rel=1e-4)


@pytest.mark.parametrize("name", list(losses.LOSSES))
def test_every_loss_rewards_the_right_mask(name):
    fn = losses.get_loss(name)
    truth = batch(SQUARE)
    good = batch(SQUARE) * 0.9 + 0.05
    bad = batch(ROW) * 0.9 + 0.05
    assert float(fn(truth, good)[0]) < float(fn(truth, bad)[0])


def test_unknown_loss_name():
    with pytest.raises(ValueError, match="unknown loss 'l1'"):
        losses.get_loss("l1")
