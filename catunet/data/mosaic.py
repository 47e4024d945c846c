"""Mosaic synthesis: four fitted photos, each shrunk to half its size,
tiled two by two into one photo, their masks alike (or nine, at a third of
their size, three by three: ``--mosaic-grids 2,3``).

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

import cv2
import numpy as np


def cells(side, grid):
    """The sides of a ``grid`` x ``grid`` mosaic's cells along a photo of
    ``side`` pixels: as equal as whole pixels allow (128 in three: 43, 42,
    43)."""
    edges = np.round(np.linspace(0, side, grid + 1)).astype(int)
    return np.diff(edges)


def _shrink(image, mask, height, width):
    """A photo and its mask shrunk to ``height`` x ``width`` as every photo
    and mask is (``data.resize_image``, ``data.resize_mask``: area
    averaging, the mask thresholded at 0.5)."""
    photo = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
    shrunk = cv2.resize(mask.squeeze().astype(np.float32), (width, height),
                        interpolation=cv2.INTER_AREA)
    return photo, (shrunk > 0.5).astype(mask.dtype)


def tile(images, masks):
    """One mosaic of ``grid`` x ``grid`` square photos and their masks.

    Args:
        images: ``grid ** 2`` photos ``(S, S, 3)`` (four: two by two, at
            half size; nine: three by three, at a third); ``masks`` as many
            ``(S, S, 1)`` 0/1 masks.

    Returns:
        ``(image, mask)`` of shape ``(S, S, 3)`` and ``(S, S, 1)``: the
        photos in reading order, each shrunk to its cell (``cells``).
    """
    grid = int(round(np.sqrt(len(images))))
    if grid * grid != len(images):
        raise ValueError(f"a mosaic tiles a square number of photos, "
                         f"not {len(images)}")
    sides = cells(images[0].shape[0], grid)
    rows = [[_shrink(images[r * grid + c], masks[r * grid + c], h, w)
             for c, w in enumerate(sides)] for r, h in enumerate(sides)]
    image = np.concatenate([np.concatenate([p for p, _ in row], axis=1)
                            for row in rows], axis=0)
    mask = np.concatenate([np.concatenate([m for _, m in row], axis=1)
                           for row in rows], axis=0)
    return image, mask[..., None]


def usable_grids(grids, photos):
    """The grids of ``grids`` that ``photos`` different photos can fill."""
    return tuple(g for g in grids if g * g <= photos)


def mosaics(images, masks, count, seed, grids=(2,)):
    """``count`` mosaics of the fitted photos.

    Args:
        images: The fitted photos ``(N, S, S, 3)``; ``masks`` ``(N, S, S, 1)``.
        count: How many mosaics.
        seed: Seed of every choice.
        grids: The grid sides the mosaics take in turn: ``(2,)`` makes
            every mosaic of four photos at half size, ``(2, 3)`` every
            other one of nine at a third (smaller cats).

    Returns:
        ``(images, masks)`` arrays of ``count`` mosaics, each of
        different photos; a grid that needs more photos than there are is
        left out (none with fewer than four photos).
    """
    grids = usable_grids(grids, len(images))
    if not grids or not count:
        return images[:0], masks[:0]
    rng = np.random.default_rng(seed)
    made = [tile(images[picks], masks[picks]) for picks in
            (rng.choice(len(images), grids[i % len(grids)] ** 2,
                        replace=False) for i in range(count))]
    return (np.stack([image for image, _ in made]),
            np.stack([mask for _, mask in made]))
