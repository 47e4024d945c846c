"""The duplicate guard: no test photo reaches training by another door.

Before an extra folder (pre-training data, unlabelled photos) is used, every
photo in it is compared with the test photos by a perceptual hash: the
difference hash (dHash) of a 9 x 8 grayscale thumbnail, 64 bits that say
whether each pixel is brighter than its right-hand neighbour. Resizing,
recompression and small colour changes flip few bits; another photo flips
about half. A photo within ``MAX_BITS`` of any test photo is left out and
listed.
"""

import dataclasses

import cv2
import numpy as np

from catunet.data import loading

# Bits of 64 that may differ for two photos to count as the same picture
# (the bound the data sets' own check used; unrelated photos differ in ~32).
MAX_BITS = 6


def dhash(image):
    """The 64-bit difference hash of an RGB or grayscale image, as an int."""
    gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    small = cv2.resize(gray, (9, 8), interpolation=cv2.INTER_AREA)
    bits = (small[:, 1:] > small[:, :-1]).flatten()
    return int(np.packbits(bits).view(">u8")[0])


def distance(a, b):
    """Bits in which two hashes differ."""
    return int(a ^ b).bit_count()


@dataclasses.dataclass(frozen=True)
class Duplicate:
    """A photo left out: which test photo it matches, and how closely."""

    path: str
    test_photo: str
    bits: int


def hash_files(paths):
    """``{path: dhash}`` of image files (decoded with ``loading.read_image``)."""
    return {str(p): dhash(loading.read_image(p)) for p in paths}


def find_duplicates(candidates, protected, max_bits=MAX_BITS):
    """Candidates that are near-duplicates of a protected (test) photo.

    Args:
        candidates: ``{path: hash}`` of the photos about to be used.
        protected: ``{path: hash}`` of the test photos.
        max_bits: Largest distance that counts as the same picture.

    Returns:
        A list of ``Duplicate``, in the candidates' order.
    """
    found = []
    for path, value in candidates.items():
        nearest = min(protected.items(), key=lambda item: distance(value, item[1]),
                      default=None)
        if nearest and distance(value, nearest[1]) <= max_bits:
            found.append(Duplicate(path, nearest[0],
                                   distance(value, nearest[1])))
    return found
