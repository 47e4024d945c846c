"""Scenes like users' photos: labelled cats pasted large, small or several
at a time onto frames of another set, at the frames' own size and shape.

The labelled photos mostly hold one large cat in the middle; users' photos
also hold several cats, small cats, and the outdoors. A scene is a frame
(a DAVIS video frame, say: outdoor, 16:9) with one or more cut-out cats
pasted onto it (``copypaste.paste``), and the cats' union as its truth.
The frame's own foreground (people, animals, vehicles, given by its mask)
is neither cat nor background: where no cat covers it, it is left out of
the score (``dice``), so a model is not marked down for outlining a dog.

Each labelled cat is the main cat of one scene of every kind (``KINDS``);
a ``several`` scene adds other cats of the same set, side by side. Every
choice comes from one seed, so a set of scenes is made again exactly.
"""

import dataclasses

import numpy as np

from catunet.data import copypaste

# kind → (cats in the scene, range of each cat's longer side as a fraction
# of the frame's shorter side).
KINDS = {"large": (1, (0.7, 0.9)), "medium": (1, (0.35, 0.5)),
         "small": (1, (0.15, 0.25)), "several": (3, (0.3, 0.45))}
FOUND = 0.5  # a cat is found when this fraction of its visible pixels is


@dataclasses.dataclass
class Scene:
    """One scene: what it shows and its masks, all at the frame's size.

    Attributes:
        kind: A key of ``KINDS``.
        cats: Names of the pasted cats, the main one first.
        frame: Name of the frame they were pasted onto.
        image: ``(H, W, 3)`` ``uint8``.
        truth: ``(H, W)`` 0/1, every pasted cat.
        ignore: ``(H, W)`` 0/1, the frame's own foreground no cat covers.
        visible: One ``(H, W)`` bool mask per cat: what of it stays visible.
    """

    kind: str
    cats: list
    frame: str
    image: np.ndarray
    truth: np.ndarray
    ignore: np.ndarray
    visible: list


def make_scene(kind, frame, cats, rng):
    """Pastes ``cats`` (``(name, cutout)``, main cat first) onto ``frame``
    (``(name, image, mask)``) as ``kind`` asks; returns a ``Scene``."""
    count, scales = KINDS[kind]
    name, image, foreground = frame
    truth = np.zeros(image.shape[:2], np.uint8)
    owner = np.full(image.shape[:2], -1)
    for slot, (_, cutout) in enumerate(cats[:count]):
        # Side by side: slot k of n starts in the k-th n-th of the free room.
        across = (slot + rng.uniform(0, 1)) / count
        image, own = copypaste.paste(
            image, np.zeros_like(truth), cutout, rng.uniform(*scales),
            (rng.uniform(0, 1), across), bool(rng.integers(2)))
        truth |= own
        owner[own == 1] = slot  # a later cat covers what was under it
    pasted = [cat for cat, _ in cats[:count]]
    visible = [owner == slot for slot in range(len(pasted))]
    ignore = (foreground.astype(bool) & ~truth.astype(bool)).astype(np.uint8)
    return Scene(kind, pasted, name, image, truth, ignore, visible)


def make_scenes(cats, frames, seed=0, kinds=tuple(KINDS)):
    """One scene of every kind for every cat.

    Args:
        cats: ``(name, image, mask)`` of labelled photos at any sizes (mask
            0/1, ``(H, W)`` or ``(H, W, 1)``); photos whose cat covers too
            little to cut out are skipped.
        frames: ``(name, image, mask)`` of the frames to paste onto, with
            their own foreground masks (all zeros where they have none).
        seed: Seed of every choice (frame, scale, place, mirror, other cats).

    Returns:
        A list of ``Scene``, cat by cat, in the order of ``kinds``.
    """
    rng = np.random.default_rng(seed)
    cutouts = [(name, found[0]) for name, image, mask in cats
               if (found := copypaste.cutouts([image], [mask]))]
    scenes = []
    for index, main in enumerate(cutouts):
        for kind in kinds:
            others = [cutouts[i] for i in rng.permutation(len(cutouts))
                      if i != index]
            frame = frames[rng.integers(len(frames))]
            scenes.append(make_scene(kind, frame, [main, *others], rng))
    return scenes


def dice(scene, predicted):
    """Sørensen–Dice of a predicted ``(H, W)`` mask on ``scene``, leaving
    out the frame's own foreground that no cat covers."""
    keep = scene.ignore == 0
    truth = scene.truth.astype(bool) & keep
    mask = np.asarray(predicted).astype(bool).reshape(truth.shape) & keep
    total = truth.sum() + mask.sum()
    return 1.0 if total == 0 else float(2 * (truth & mask).sum() / total)


def marked(scene, predicted):
    """The share of the frame's own foreground that no cat covers (its
    people, animals and vehicles: ``scene.ignore``) that ``predicted``
    marks as cat; None where the frame has none. ``dice`` leaves that
    part out, so outlining a person beside a cat costs nothing there: this
    says how much of it a model outlines."""
    if not scene.ignore.any():
        return None
    mask = np.asarray(predicted).astype(bool).reshape(scene.truth.shape)
    return float(mask[scene.ignore == 1].mean())


def visible_cats(scene):
    """How many of the scene's cats show (a later cat may cover one)."""
    return sum(1 for visible in scene.visible if visible.any())


def cats_found(scene, predicted):
    """How many of the scene's visible cats have at least ``FOUND`` of
    their visible pixels predicted as cat."""
    mask = np.asarray(predicted).astype(bool).reshape(scene.truth.shape)
    return sum(1 for visible in scene.visible
               if visible.any() and mask[visible].mean() >= FOUND)
