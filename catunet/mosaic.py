"""Mosaic synthesis: four fitted photos, each shrunk to half its size,
tiled two by two into one photo, their masks alike.

After the mosaic augmentation of YOLOv4 (Bochkovskiy et al., "YOLOv4:
Optimal Speed and Accuracy of Object Detection", 2020). The labelled
photos, and the unlabelled pet photos that self-training learns from,
each hold one large cat; users' photos also hold several, smaller ones.
A mosaic holds four at half the size, each on its own real background and
with its own mask, so no pixel of it is labelled against what it shows
(pasting onto frames whose animals count as background does that).

The mosaics are made once per run, from the run's seed, out of its fitted
photos only (never a validation or test photo), and are added to them;
the usual augmentation then acts on them as on any photo.
"""

import numpy as np

from catunet import data


def tile(images, masks):
    """One mosaic of four square photos and their masks.

    Args:
        images: Four ``(S, S, 3)`` photos, ``S`` even; ``masks`` four
            ``(S, S, 1)`` 0/1 masks.

    Returns:
        ``(image, mask)`` of shape ``(S, S, 3)`` and ``(S, S, 1)``: the
        photos in reading order, shrunk as every photo and mask is
        (``data.resize_image``, ``data.resize_mask``).
    """
    half = images[0].shape[0] // 2
    photos = [data.resize_image(image, half) for image in images]
    shrunk = [data.resize_mask(mask.squeeze(), half).astype(masks[0].dtype)
              for mask in masks]
    return _grid(photos), _grid(shrunk)[..., None]


def _grid(four):
    """Four equal arrays in reading order, two by two."""
    return np.concatenate([np.concatenate(four[:2], axis=1),
                           np.concatenate(four[2:], axis=1)], axis=0)


def mosaics(images, masks, count, seed):
    """``count`` mosaics of the fitted photos.

    Args:
        images: The fitted photos ``(N, S, S, 3)``; ``masks`` ``(N, S, S, 1)``.
        count: How many mosaics.
        seed: Seed of every choice.

    Returns:
        ``(images, masks)`` arrays of ``count`` mosaics, each of four
        different photos (none with fewer than four photos).
    """
    if len(images) < 4 or not count:
        return images[:0], masks[:0]
    rng = np.random.default_rng(seed)
    made = [tile(images[picks], masks[picks]) for picks in
            (rng.choice(len(images), 4, replace=False) for _ in range(count))]
    return (np.stack([image for image, _ in made]),
            np.stack([mask for _, mask in made]))
