"""Outlines of masks drawn on photos: arrays in, arrays out.

The model predicts at 128 x 128; photos are larger. ``upsample`` brings the
probability map to the photo's size smoothly *before* thresholding, so the
outline follows the cat in the real picture instead of a 128 px staircase.
"""

import cv2
import numpy as np

PREDICTED = (255, 40, 40)  # RGB: red
TRUTH = (40, 220, 40)  # RGB: green


def upsample_probabilities(probabilities, shape):
    """A probability map resized bilinearly to ``shape`` (height, width)."""
    probabilities = np.asarray(probabilities, np.float32).squeeze()
    height, width = shape[:2]
    return cv2.resize(probabilities, (width, height),
                      interpolation=cv2.INTER_LINEAR)


def upsample(probabilities, shape, threshold=0.5):
    """A binary ``uint8`` mask of ``shape`` (height, width) from a smaller
    probability map, interpolated bilinearly then thresholded."""
    resized = upsample_probabilities(probabilities, shape)
    return (resized > threshold).astype(np.uint8)


def find_contours(mask):
    """Outer outlines of the foreground regions of a binary mask.

    Returns:
        A list of ``(K, 1, 2)`` integer arrays of (x, y) points, one per
        region; empty for an empty mask.
    """
    mask = np.asarray(mask)
    if mask.ndim == 3:  # (H, W, 1); squeezing would also fold a 1-px side
        mask = mask[..., 0]
    mask = (mask > 0).astype(np.uint8)
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL,
                                   cv2.CHAIN_APPROX_SIMPLE)
    return list(contours)


def line_width(shape):
    """A line width that reads at the picture's own size (2 px at 300 px)."""
    return max(2, round(min(shape[:2]) / 150))


def draw_contours(photo, mask, color=PREDICTED, width=None):
    """A copy of the RGB ``photo`` with the outlines of ``mask`` drawn on it."""
    out = np.ascontiguousarray(photo, dtype=np.uint8).copy()
    cv2.drawContours(out, find_contours(mask), -1, color,
                     width or line_width(out.shape), lineType=cv2.LINE_AA)
    return out


def overlay(photo, predicted, truth=None):
    """The photo with the predicted outline (red) and, if given, the true
    outline (green) underneath it."""
    if truth is not None:
        photo = draw_contours(photo, truth, TRUTH)
    return draw_contours(photo, predicted, PREDICTED)

