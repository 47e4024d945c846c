"""Mask clean-ups on masks small enough to check by hand."""

import numpy as np

from catunet.inference import postprocess

RING = np.array([[0, 0, 0, 0, 0, 0],
                 [0, 1, 1, 1, 0, 0],
                 [0, 1, 0, 1, 0, 0],
                 [0, 1, 1, 1, 0, 0],
                 [0, 0, 0, 0, 0, 1],
                 [0, 0, 0, 0, 0, 0]], np.uint8)


def test_fill_holes_fills_only_enclosed_background():
    filled = postprocess.fill_holes(RING)
    assert filled[2, 2] == 1               # the hole
    assert filled.sum() == RING.sum() + 1  # nothing else
    open_ring = RING.copy()
    open_ring[1, 2] = 0                    # a gap to the outside: no hole
    assert postprocess.fill_holes(open_ring).sum() == open_ring.sum()


def test_drop_specks_keeps_every_large_region():
    # The ring has 8 pixels (8/36 = 0.22), the speck 1 (0.03).
    assert postprocess.drop_specks(RING, 0.05).sum() == 8
    assert postprocess.drop_specks(RING, 0.0).sum() == 9
    two = np.zeros((10, 10), np.uint8)
    two[0:3, 0:3] = 1
    two[6:9, 6:9] = 1                      # two cats, 9 pixels each
    assert postprocess.drop_specks(two, 0.05).sum() == 18


def test_drop_specks_never_drops_the_largest_region():
    far = np.zeros((10, 10), np.uint8)
    far[4:6, 4:6] = 1                      # one small, far-away cat: 4%
    assert postprocess.drop_specks(far, 0.05).sum() == 4
    far[0, 9] = 1                          # and a speck beside it
    assert postprocess.drop_specks(far, 0.05).sum() == 4
    empty = np.zeros((4, 4), np.uint8)
    assert postprocess.drop_specks(empty, 0.05).sum() == 0


def test_clean_keeps_the_shape():
    mask = RING[..., None]
    out = postprocess.clean(mask, fill=True, min_area=0.05)
    assert out.shape == mask.shape and out.sum() == 9
