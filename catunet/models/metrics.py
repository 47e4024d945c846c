"""Overlap scores of thresholded predictions, one value per image.

The functions take ``(batch, H, W, 1)`` arrays or tensors of ground truth
(0/1) and predicted probabilities, threshold the prediction at 0.5 and return
one score per image. An image whose mask and prediction are both empty scores
1.0 for Dice and IoU: nothing was there and nothing was found.
"""

import keras
from keras import ops

from catunet.models.losses import PACKAGE

THRESHOLD = 0.5


def _binarize(y_true, y_pred, threshold):
    truth = ops.cast(ops.greater(ops.convert_to_tensor(y_true), 0.5), "float32")
    pred = ops.cast(ops.greater(ops.convert_to_tensor(y_pred), threshold),
                    "float32")
    return truth, pred


def _counts(y_true, y_pred, threshold):
    truth, pred = _binarize(y_true, y_pred, threshold)
    axes = tuple(range(1, len(truth.shape)))
    intersection = ops.sum(truth * pred, axis=axes)
    return intersection, ops.sum(truth, axis=axes), ops.sum(pred, axis=axes)


def _ratio(numerator, denominator):
    """``numerator / denominator``, and 1.0 where both are zero."""
    empty = ops.equal(denominator, 0.0)
    safe = ops.where(empty, 1.0, denominator)
    return ops.where(empty, 1.0, numerator / safe)


@keras.saving.register_keras_serializable(package=PACKAGE)
def dice_coefficient(y_true, y_pred, threshold=THRESHOLD):
    """Sørensen–Dice ``2|A∩B| / (|A| + |B|)`` of each image."""
    intersection, truth, pred = _counts(y_true, y_pred, threshold)
    return _ratio(2.0 * intersection, truth + pred)


def iou(y_true, y_pred, threshold=THRESHOLD):
    """Jaccard index ``|A∩B| / |A∪B|`` of each image."""
    intersection, truth, pred = _counts(y_true, y_pred, threshold)
    return _ratio(intersection, truth + pred - intersection)


def pixel_accuracy(y_true, y_pred, threshold=THRESHOLD):
    """Fraction of pixels of each image whose class is right."""
    truth, pred = _binarize(y_true, y_pred, threshold)
    axes = tuple(range(1, len(truth.shape)))
    return ops.mean(ops.cast(ops.equal(truth, pred), "float32"), axis=axes)


METRICS = {"dice": dice_coefficient, "iou": iou,
           "pixel_accuracy": pixel_accuracy}
