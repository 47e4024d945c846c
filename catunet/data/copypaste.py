"""Copy-paste synthesis: labelled cats cut out by their masks and pasted,
several per photo, at small and large scales, onto other photos.

After Ghiasi et al., "Simple Copy-Paste is a Strong Data Augmentation
Method for Instance Segmentation" (CVPR 2021): a hard paste of the cut-out
pixels, no blending, which the paper found as good as blending. It aims at
what users' photos hold and the labelled ones rarely do — several cats,
small cats, other surroundings.

The composites are made once per run, from the run's seed, out of its
*fitted* training photos only (never a validation or test photo), and are
added to its training images; the usual augmentation then acts on them as
on any photo. A background is either a photo from ``--paste-backgrounds``
(folders of photos that hold no unlabelled cat, such as DAVIS frames or the
horse photos; never a folder of unlabelled cat photos, whose own cats have
no mask) whose mask starts empty, or another fitted cat photo whose own
mask is kept.

The same paste works the other way round (``paste_negatives``): what is
*not* a cat — a person, a horse, cut out of a photo without a cat by that
photo's own mask — pasted large onto the fitted cat photos as background,
covering the part of the cat it hides. Users' photos often hold a person
holding the cat; the labelled ones rarely do.
"""

import cv2
import numpy as np

MIN_CUTOUT = 0.01       # cats covering less of their photo are not cut out
SCALES = (0.15, 0.7)    # a pasted cat's longer side, as a fraction of the photo
MAX_PASTED = 3          # cats pasted onto one background: 1 to this
# A pasted negative's longer side, as a fraction of the photo: as large as
# a person beside, or holding, the cat.
NEGATIVE_SCALES = (0.4, 1.0)


def cutouts(images, masks):
    """The cats of labelled photos, cropped to their masks' bounding boxes
    (any sizes: ``(H, W, 3)`` photos, ``(H, W)`` or ``(H, W, 1)`` masks).

    Returns:
        A list of ``(pixels, mask)`` pairs (``uint8``, mask 0/1).
    """
    found = []
    for image, mask in zip(images, masks):
        mask = mask.squeeze()
        if mask.mean() < MIN_CUTOUT:
            continue
        rows, cols = np.nonzero(mask)
        top, bottom, left, right = rows.min(), rows.max() + 1, cols.min(), \
            cols.max() + 1
        found.append((image[top:bottom, left:right],
                      mask[top:bottom, left:right]))
    return found


def paste(background, mask, cutout, scale, top_left, flip, label=1):
    """Pastes one cut-out cat onto a copy of ``background``.

    Args:
        background: ``(H, W, 3)`` photo; ``mask`` its ``(H, W)`` cat mask.
        cutout: ``(pixels, mask)`` from ``cutouts``.
        scale: The pasted cat's longer side as a fraction of the
            background's shorter side (``min(H, W)``).
        top_left: Where its box goes, as fractions of the free room.
        flip: Mirror it left-right.
        label: What the pasted pixels are in the mask: 1, a cat; 0,
            anything else (``paste_negatives``).

    Returns:
        ``(image, mask)``: the pasted pixels cover what was under them.
    """
    rows, cols = background.shape[:2]
    pixels, cut = cutout
    factor = scale * min(rows, cols) / max(pixels.shape[:2])
    height = max(1, min(rows, round(pixels.shape[0] * factor)))
    width = max(1, min(cols, round(pixels.shape[1] * factor)))
    pixels = cv2.resize(pixels, (width, height), interpolation=cv2.INTER_AREA)
    cut = cv2.resize(cut.astype(np.float32), (width, height),
                     interpolation=cv2.INTER_LINEAR) > 0.5
    if flip:
        pixels, cut = pixels[:, ::-1], cut[:, ::-1]
    top = int(top_left[0] * (rows - height))
    left = int(top_left[1] * (cols - width))
    image, out = background.copy(), mask.copy()
    window = (slice(top, top + height), slice(left, left + width))
    image[window][cut] = pixels[cut]
    out[window][cut] = label
    return image, out


def synthesize(images, masks, backgrounds, count, seed):
    """``count`` composites of the labelled cats on backgrounds.

    Args:
        images: The fitted photos ``(N, S, S, 3)``; ``masks`` ``(N, S, S, 1)``.
        backgrounds: Extra photos ``(M, S, S, 3)`` with no cat in them (may
            be empty: then the fitted photos are the backgrounds).
        count: How many composites.
        seed: Seed of every choice.

    Returns:
        ``(images, masks)`` arrays of ``count`` composites.
    """
    rng = np.random.default_rng(seed)
    cats = cutouts(images, masks)
    if not cats or not count:
        return images[:0], masks[:0]
    size = images.shape[1]
    pool = [(b, np.zeros((size, size), np.uint8)) for b in backgrounds] or \
        [(i, m.squeeze()) for i, m in zip(images, masks)]
    made_images, made_masks = [], []
    for _ in range(count):
        image, mask = pool[rng.integers(len(pool))]
        for _ in range(rng.integers(1, MAX_PASTED + 1)):
            image, mask = paste(image, mask, cats[rng.integers(len(cats))],
                                rng.uniform(*SCALES), rng.uniform(0, 1, 2),
                                bool(rng.integers(2)))
        made_images.append(image)
        made_masks.append(mask[..., None])
    return np.stack(made_images), np.stack(made_masks)


def paste_negatives(images, masks, negatives, count, seed):
    """``count`` fitted cat photos, each with one cut-out of what is not a
    cat pasted onto it at ``NEGATIVE_SCALES``, as background.

    Args:
        images: The fitted photos ``(N, S, S, 3)``; ``masks`` ``(N, S, S, 1)``.
        negatives: ``(pixels, mask)`` cut-outs (``cutouts``) of the
            foreground of photos without a cat.
        count: How many composites.
        seed: Seed of every choice.

    Returns:
        ``(images, masks)`` arrays of ``count`` composites: each photo's
        cat mask, less what the pasted cut-out hides.
    """
    rng = np.random.default_rng(seed)
    if not negatives or not count or not len(images):
        return images[:0], masks[:0]
    made_images, made_masks = [], []
    for _ in range(count):
        which = rng.integers(len(images))
        image, mask = paste(images[which], masks[which].squeeze(),
                            negatives[rng.integers(len(negatives))],
                            rng.uniform(*NEGATIVE_SCALES),
                            rng.uniform(0, 1, 2), bool(rng.integers(2)),
                            label=0)
        made_images.append(image)
        made_masks.append(mask[..., None])
    return np.stack(made_images), np.stack(made_masks)
