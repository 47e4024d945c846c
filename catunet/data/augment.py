"""Data augmentation from Keras preprocessing layers, inside tf.data.

Geometric transforms (flip, rotate, zoom, translate, elastic) move the photo
and its mask together: both are stacked into one tensor, so every layer draws
one set of random parameters for the pair, and the mask is re-thresholded at
0.5 afterwards to stay binary. Photometric transforms (brightness, contrast,
and the opt-in colour ones: saturation, hue, grayscale) touch only the
photo. Everything runs on whole batches, training set only.

Every random draw of a batch comes from that batch's *key*, two integers
``(seed, epoch * STEPS + step)``: the draws depend only on the run's seed,
the epoch and the step, never on how many batches came before in this
process, so a run resumed after an interruption sees exactly the batches an
uninterrupted one would.

A spec names the techniques and, optionally, their strengths:
``"flip,rotate=0.1,elastic"``; ``"recommended"`` is the set that is on when
``--augment`` is given alone (the colour techniques, measured later, are
not in it: ``"recommended,saturation,hue,grayscale"`` adds them).
"""

import keras
from keras import layers, ops

from catunet.models.losses import PACKAGE

from catunet.data.augment_spec import (  # noqa: F401 (parse_spec: the API)
                                       COLOUR, GEOMETRIC, RECOMMENDED, TECHNIQUES, parse_spec)


def _reflect(coordinate, size):
    """Folds coordinates that left ``[0, size - 1]`` back inside it."""
    last = ops.cast(size - 1, "float32")
    coordinate = ops.abs(coordinate)
    return ops.clip(last - ops.abs(last - coordinate), 0.0, last)


def bilinear_sample(images, rows, cols):
    """Samples ``images`` (B, H, W, C) at float ``rows``/``cols`` (B, H, W).

    Coordinates outside the image are reflected at its edges.
    """
    images = ops.cast(images, "float32")
    rows, cols = ops.cast(rows, "float32"), ops.cast(cols, "float32")
    shape = ops.shape(images)
    batch, height, width = shape[0], shape[1], shape[2]
    rows, cols = _reflect(rows, height), _reflect(cols, width)
    top, left = ops.floor(rows), ops.floor(cols)
    dy, dx = (rows - top)[..., None], (cols - left)[..., None]
    top, left = ops.cast(top, "int32"), ops.cast(left, "int32")
    bottom = ops.minimum(top + 1, height - 1)
    right = ops.minimum(left + 1, width - 1)
    flat = ops.reshape(images, (-1, shape[3]))
    base = (ops.arange(batch, dtype="int32") * height * width)[:, None, None]

    def at(r, c):
        return ops.take(flat, base + r * width + c, axis=0)

    upper = at(top, left) * (1 - dx) + at(top, right) * dx
    lower = at(bottom, left) * (1 - dx) + at(bottom, right) * dx
    return upper * (1 - dy) + lower * dy


@keras.saving.register_keras_serializable(package=PACKAGE)
class ElasticDeformation(layers.Layer):
    """The U-Net paper's elastic deformation, on batches.

    Random displacement vectors are drawn on a coarse ``grid`` x ``grid``
    lattice from a Gaussian with ``sigma`` pixels standard deviation, smoothed
    to a per-pixel field by bicubic interpolation, and every image is
    resampled at its displaced coordinates (bilinear, edges reflected).
    """

    def __init__(self, sigma=6.0, grid=3, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.sigma = sigma
        self.grid = grid
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=True, seed=None):
        """Deforms ``inputs``; ``seed`` (a ``SeedGenerator``) overrides the
        layer's own random stream."""
        if not training or not self.sigma:
            return inputs
        shape = ops.shape(inputs)
        batch, height, width = shape[0], shape[1], shape[2]
        coarse = keras.random.normal((batch, self.grid, self.grid, 2),
                                     stddev=self.sigma,
                                     seed=seed or self.seed_generator)
        field = ops.image.resize(coarse, (height, width),
                                 interpolation="bicubic")
        rows = ops.cast(ops.arange(height), "float32")[None, :, None]
        cols = ops.cast(ops.arange(width), "float32")[None, None, :]
        return bilinear_sample(inputs, rows + field[..., 0],
                               cols + field[..., 1])

    def get_config(self):
        return {**super().get_config(), "sigma": self.sigma,
                "grid": self.grid, "seed": self.seed}


def _geometric_layer(name, strength, seed):
    if name == "flip":
        return layers.RandomFlip("horizontal", seed=seed)
    if name == "rotate":
        return layers.RandomRotation(strength, fill_mode="reflect", seed=seed)
    if name == "zoom":
        return layers.RandomZoom(strength, fill_mode="reflect", seed=seed)
    if name == "translate":
        return layers.RandomTranslation(strength, strength,
                                        fill_mode="reflect", seed=seed)
    return ElasticDeformation(strength, seed=seed)


def _photometric_layer(name, strength, seed):
    if name == "brightness":
        return layers.RandomBrightness(strength, value_range=(0, 255), seed=seed)
    if name == "saturation":  # Keras: 0.5 leaves the photo as it is
        return layers.RandomSaturation((0.5 - strength, 0.5 + strength),
                                       value_range=(0, 255), seed=seed)
    if name == "hue":
        return layers.RandomHue(strength, value_range=(0, 255), seed=seed)
    if name == "grayscale":
        return layers.RandomGrayscale(strength, seed=seed)
    return layers.RandomContrast(strength, value_range=(0, 255), seed=seed)


class BatchSeeds(keras.random.SeedGenerator):
    """Seeds for one batch, derived from its key instead of a variable.

    Keras's random layers take a ``SeedGenerator`` and call ``next()`` once
    per draw; this one returns ``(key[0], key[1] * 64 + draw)``, so the
    draws of a batch depend on its key and on the order of the layers only.
    It holds no state variable (so it can be made inside ``tf.data``).
    """

    def __init__(self, key):  # no variable: super().__init__ would make one
        self.key = ops.cast(key, "int64")
        self.draws = 0

    def next(self, ordered=True):
        self.draws += 1
        return ops.stack([self.key[0], self.key[1] * 64 + self.draws])


class Augmenter:
    """Applies chosen techniques to ``(images, masks)`` batches.

    Args:
        techniques: ``{name: strength}``, e.g. from ``parse_spec``.
        seed: Base seed of the layers' own streams, used when a batch comes
            without a key (figures); training always passes a key.
    """

    def __init__(self, techniques, seed=0):
        self.techniques = dict(techniques)
        order = [n for n in TECHNIQUES if n in self.techniques]
        self.geometric = [_geometric_layer(n, self.techniques[n], seed + i)
                          for i, n in enumerate(order) if n in GEOMETRIC]
        self.photometric = [_photometric_layer(n, self.techniques[n], seed + i)
                            for i, n in enumerate(order) if n not in GEOMETRIC]

    @staticmethod
    def _apply(layer, inputs, seeds):
        if seeds is None:
            return layer(inputs, training=True)
        if isinstance(layer, ElasticDeformation):
            return layer.call(inputs, training=True, seed=seeds)
        transformation = layer.get_random_transformation(
            inputs, training=True, seed=seeds)
        return layer.transform_images(inputs, transformation, training=True)

    def __call__(self, images, masks, key=None):
        """Augments a batch.

        Args:
            images: ``(B, H, W, 3)`` float pixels in [0, 255].
            masks: ``(B, H, W, 1)`` 0/1.
            key: Two integers (a tensor) that fix every draw of this batch;
                None draws from the layers' own streams.
        """
        seeds = None if key is None else BatchSeeds(key)
        channels = images.shape[-1]
        stacked = ops.concatenate([images, ops.cast(masks, images.dtype)], -1)
        for layer in self.geometric:
            stacked = self._apply(layer, stacked, seeds)
        images, masks = stacked[..., :channels], stacked[..., channels:]
        for layer in self.photometric:
            images = self._apply(layer, images, seeds)
        images = ops.clip(images, 0.0, 255.0)
        return images, ops.cast(masks > 0.5, "float32")
