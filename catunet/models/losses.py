"""Training losses for binary masks, chosen by name.

Every loss returns one value per image (shape ``(batch,)``), so Keras
averages them the same way and sample weights stay possible. Losses are
registered with Keras, so a saved ``.keras`` file that was compiled with one
reloads without ``custom_objects`` once ``catunet.models.losses`` is imported.
"""

import keras
from keras import ops

from catunet.errors import CatunetError

SMOOTH = 1.0
PACKAGE = "catunet"


def _per_image_sum(x):
    return ops.sum(x, axis=(1, 2, 3))


@keras.saving.register_keras_serializable(package=PACKAGE)
def dice_loss(y_true, y_pred):
    """Soft Dice loss, ``1 - (2|A∩B| + s) / (|A| + |B| + s)`` per image.

    Works on probabilities, so it is differentiable; ``s`` = 1 keeps an
    image with an empty mask and an empty prediction at zero loss.
    """
    y_true = ops.cast(y_true, y_pred.dtype)
    intersection = _per_image_sum(y_true * y_pred)
    total = _per_image_sum(y_true) + _per_image_sum(y_pred)
    return 1.0 - (2.0 * intersection + SMOOTH) / (total + SMOOTH)


@keras.saving.register_keras_serializable(package=PACKAGE)
def bce_loss(y_true, y_pred):
    """Binary cross-entropy averaged over the pixels of each image."""
    y_true = ops.cast(y_true, y_pred.dtype)
    return ops.mean(keras.losses.binary_crossentropy(y_true, y_pred),
                    axis=(1, 2))


@keras.saving.register_keras_serializable(package=PACKAGE)
def mse_loss(y_true, y_pred):
    """Mean squared error between mask and probability, per image."""
    y_true = ops.cast(y_true, y_pred.dtype)
    return ops.mean(ops.square(y_true - y_pred), axis=(1, 2, 3))


BCE_DICE_WEIGHTS = (1.0, 1.0)


@keras.saving.register_keras_serializable(package=PACKAGE)
def bce_dice_loss(y_true, y_pred):
    """``1.0 * BCE + 1.0 * soft Dice`` (weights in ``BCE_DICE_WEIGHTS``).

    BCE gives every pixel a well-scaled gradient from the first step; Dice
    measures overlap the way the score does and ignores the class balance.
    """
    bce_weight, dice_weight = BCE_DICE_WEIGHTS
    return (bce_weight * bce_loss(y_true, y_pred)
            + dice_weight * dice_loss(y_true, y_pred))


@keras.saving.register_keras_serializable(package=PACKAGE)
def bce_dice_nonempty_loss(y_true, y_pred):
    """``bce_dice_loss`` with the Dice term only on images whose mask holds
    foreground; an empty mask (a photo without a cat, ``--negatives``) is
    scored by BCE alone. On an empty mask soft Dice is
    ``1 - 1 / (sum of probabilities + 1)``: a tenth of a pixel's worth of
    probability costs about what a missed cat does, which teaches a model
    to predict nothing where it is unsure."""
    bce_weight, dice_weight = BCE_DICE_WEIGHTS
    y_true = ops.cast(y_true, y_pred.dtype)
    has_foreground = ops.cast(_per_image_sum(y_true) > 0, y_pred.dtype)
    return (bce_weight * bce_loss(y_true, y_pred)
            + dice_weight * has_foreground * dice_loss(y_true, y_pred))


LOSSES = {
    "dice": dice_loss,
    "bce": bce_loss,
    "mse": mse_loss,
    "bce+dice": bce_dice_loss,
    "bce+dice-nonempty": bce_dice_nonempty_loss,
}
# The losses the losses study compares; bce+dice-nonempty differs from
# bce+dice only on empty masks, which the cat photos never have.
COMPARED = ("dice", "bce", "mse", "bce+dice")


def get_loss(name):
    """Returns the loss function registered under ``name``."""
    try:
        return LOSSES[name]
    except KeyError:
        raise CatunetError(
            f"unknown loss {name!r}; choose one of {', '.join(LOSSES)}") from None
