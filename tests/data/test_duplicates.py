"""The perceptual-hash guard against test photos reaching training."""

import cv2
import numpy as np

from catunet.data import duplicates
from tests.conftest import draw_pair


def photo(seed):
    """A drawn scene: a bright ellipse on a smooth random background."""
    rng = np.random.default_rng(seed)
    background = cv2.resize(rng.integers(0, 255, (4, 5, 3), dtype=np.uint8),
                            (160, 120), interpolation=cv2.INTER_CUBIC)
    mask = draw_pair(rng, 120, 160)[1]
    background[mask > 0] = (230, 200, 90)
    return background


def test_distance_counts_differing_bits():
    assert duplicates.distance(0b1011, 0b0001) == 2
    assert duplicates.distance(2**64 - 1, 0) == 64


def test_hash_of_a_known_gradient():
    # Brightness rises left to right: every pixel is darker than its right
    # neighbour, so all 64 bits are set.
    ramp = np.tile(np.arange(0, 255, 28, dtype=np.uint8), (8, 1))
    assert duplicates.dhash(ramp) == 2**64 - 1
    assert duplicates.dhash(ramp[:, ::-1].copy()) == 0


def test_a_resized_recompressed_copy_is_caught_and_another_photo_is_not():
    original = photo(0)
    ok, jpeg = cv2.imencode(".jpg", cv2.resize(original, (80, 60)),
                            [cv2.IMWRITE_JPEG_QUALITY, 60])
    copy = cv2.imdecode(jpeg, cv2.IMREAD_COLOR)
    protected = {"test/cat.1.jpg": duplicates.dhash(original)}
    candidates = {"extra/copy.jpg": duplicates.dhash(copy),
                  "extra/other.jpg": duplicates.dhash(photo(1))}
    found = duplicates.find_duplicates(candidates, protected)
    assert [(d.path, d.test_photo) for d in found] == \
        [("extra/copy.jpg", "test/cat.1.jpg")]
    assert found[0].bits <= duplicates.MAX_BITS


def test_nothing_protected_means_nothing_left_out():
    assert duplicates.find_duplicates({"a": 1}, {}) == []
