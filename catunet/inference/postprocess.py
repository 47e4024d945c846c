"""Small clean-ups of a predicted binary mask (``--fill-holes``,
``--min-area``), each kept only where it wins on validation.

Neither assumes one cat per photo: every region that is large enough
stays, however many there are.
"""

import cv2
import numpy as np


def fill_holes(mask):
    """Sets to foreground every background region that does not touch the
    border (a hole inside a cat, e.g. a bright patch of fur)."""
    mask = (np.asarray(mask).squeeze() > 0).astype(np.uint8)
    padded = np.pad(mask, 1)
    outside = padded.copy()
    flood = np.zeros((padded.shape[0] + 2, padded.shape[1] + 2), np.uint8)
    cv2.floodFill(outside, flood, (0, 0), 1)  # background reachable from out
    holes = outside[1:-1, 1:-1] == 0
    return (mask | holes).astype(np.uint8)


def drop_specks(mask, min_area):
    """Removes foreground regions smaller than ``min_area`` (a fraction of
    the image) — stray pixels the model lit up, not small cats, when the
    fraction is small. The largest region always stays: a photo whose only
    cat is far away must not lose it to a rule chosen on close-ups."""
    mask = (np.asarray(mask).squeeze() > 0).astype(np.uint8)
    if min_area <= 0:
        return mask
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, 8)
    if count < 2:
        return mask
    areas = stats[1:, cv2.CC_STAT_AREA]
    keep = np.zeros(count, bool)
    keep[1:] = areas >= min_area * mask.size
    keep[1 + np.argmax(areas)] = True
    return keep[labels].astype(np.uint8)


def clean(mask, fill=False, min_area=0.0):
    """Applies the chosen clean-ups; keeps the input's shape."""
    shape = np.shape(mask)
    out = (np.asarray(mask).squeeze() > 0).astype(np.uint8)
    if min_area:
        out = drop_specks(out, min_area)
    if fill:
        out = fill_holes(out)
    return out.reshape(shape)
