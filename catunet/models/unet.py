"""The U-Net of Ronneberger et al. (2015) as a functional Keras model.

Each level of the contracting path applies two 3x3 convolutions with ReLU and
a 2x2 max-pool; the expanding path applies a 2x2 up-convolution that halves
the channels, concatenates the skip connection of the same level and applies
two more 3x3 convolutions. A 1x1 convolution gives one sigmoid channel.

We depart from the paper in one place: convolutions use ``"same"`` padding,
so a 128x128 input gives a 128x128 mask and no skip needs cropping. The
paper's ``"valid"`` convolutions shrink a 572 px tile to a 388 px output and
rely on overlap-tile inference over large microscopy images; our photos are
resized whole to 128 px, where losing 92 px per side would discard most of
the cat.

Layers are named by stage (``enc1_conv1``, ``bottleneck_conv2``,
``dec1_upconv``, ...) so that weights can be transferred by name between
models of the same shape.

``build_encoder_unet`` swaps the contracting path for an encoder pretrained
on ImageNet (``catunet.models.encoders``): the field's standard move when only a
few dozen photos are labelled.
"""

import keras
from keras import layers

from catunet.training.config import ENCODERS

PAPER, EFFICIENTNET_LITE0 = ENCODERS[:2]
# Channels of the decoder's levels over the pretrained encoder, from
# stride 16 up to the input's own size.
DECODER_FILTERS = (128, 64, 48, 32, 16)


def conv_block(x, filters, name, batch_norm=False):
    """Two 3x3 convolutions, each followed by (batch-norm and) ReLU."""
    for i in (1, 2):
        x = layers.Conv2D(
            filters,
            3,
            padding="same",
            use_bias=not batch_norm,
            kernel_initializer="he_normal",
            name=f"{name}_conv{i}",
        )(x)
        if batch_norm:
            x = layers.BatchNormalization(name=f"{name}_bn{i}")(x)
        x = layers.Activation("relu", name=f"{name}_relu{i}")(x)
    return x


def upsample_block(x, skip, filters, name, batch_norm=False):
    """2x2 up-convolution, concatenation with the skip, then a conv block."""
    x = layers.Conv2DTranspose(
        filters, 2, strides=2, padding="same", name=f"{name}_upconv"
    )(x)
    x = layers.Concatenate(name=f"{name}_concat")([skip, x])
    return conv_block(x, filters, name, batch_norm=batch_norm)


def build_unet(
    input_shape=(128, 128, 3),
    base_filters=64,
    depth=4,
    batch_norm=False,
    dropout=0.0,
    name="unet",
):
    """Builds a U-Net that maps an RGB image to a foreground probability map.

    The model takes pixel values in [0, 255] and rescales them itself, so
    callers can feed decoded photos directly.

    Args:
        input_shape: ``(height, width, channels)``; height and width must be
            divisible by ``2 ** depth``.
        base_filters: Channels of the first level; each level doubles them.
            64 is the paper's width; CPU runs use 8-32.
        depth: Number of max-pool steps (the paper uses 4).
        batch_norm: Adds batch normalisation after every convolution
            (not in the paper; it speeds up training from scratch).
        dropout: Dropout rate at the end of the contracting path (the paper
            uses dropout there); 0 disables it.
        name: Name of the returned model.

    Returns:
        A ``keras.Model`` with output shape ``(height, width, 1)`` (sigmoid,
        float32).
    """
    height, width = input_shape[:2]
    if height % 2**depth or width % 2**depth:
        raise ValueError(
            f"input size {height}x{width} must be divisible by 2**depth = "
            f"{2**depth}"
        )
    if base_filters < 1 or depth < 1:
        raise ValueError("base_filters and depth must be at least 1")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")

    inputs = keras.Input(shape=input_shape, name="image")
    x = layers.Rescaling(1.0 / 255, name="rescale")(inputs)

    skips = []
    for level in range(1, depth + 1):
        x = conv_block(x, base_filters * 2 ** (level - 1), f"enc{level}",
                       batch_norm)
        skips.append(x)
        x = layers.MaxPooling2D(2, name=f"enc{level}_pool")(x)

    x = conv_block(x, base_filters * 2**depth, "bottleneck", batch_norm)
    if dropout:
        x = layers.Dropout(dropout, name="bottleneck_dropout")(x)

    for level in range(depth, 0, -1):
        x = upsample_block(x, skips[level - 1],
                           base_filters * 2 ** (level - 1), f"dec{level}",
                           batch_norm)

    outputs = layers.Conv2D(
        1, 1, activation="sigmoid", dtype="float32", name="mask"
    )(x)
    return keras.Model(inputs, outputs, name=name)


def build_encoder_unet(input_shape=(256, 256, 3), encoder=EFFICIENTNET_LITE0,
                       pretrained=True, name="unet"):
    """A U-Net whose contracting path is a pretrained encoder.

    The encoder (a sub-model named ``encoder``, so ``--freeze-epochs``
    freezes it as one) gives features at strides 2 to 32; each decoder
    level doubles the resolution bilinearly, concatenates the encoder's
    feature of that stride and applies two 3x3 convolutions with batch
    normalisation and ReLU (``DECODER_FILTERS``); the last level, at the
    input's own size, has no skip. A 1x1 convolution gives one sigmoid
    channel.

    Args:
        input_shape: ``(height, width, 3)``, both divisible by 32.
        encoder: One of ``ENCODERS`` other than ``paper``.
        pretrained: Load the encoder's ImageNet weights (False leaves it
            random, for tests that need no weights).
        name: Name of the returned model.

    Returns:
        A ``keras.Model`` from pixels in [0, 255] to ``(height, width, 1)``
        probabilities (float32).
    """
    from catunet.models.encoders import efficientnet_lite

    if encoder not in efficientnet_lite.VARIANTS:
        raise ValueError(f"unknown encoder {encoder!r}; choose from "
                         f"{', '.join(ENCODERS[1:])}")
    height, width = input_shape[:2]
    if height % 32 or width % 32:
        raise ValueError(f"input size {height}x{width} must be divisible "
                         "by 32, the encoder's deepest stride")
    backbone = efficientnet_lite.build_efficientnet_lite(encoder, input_shape)
    if pretrained:
        efficientnet_lite.load_pretrained(backbone, encoder)
    inputs = keras.Input(shape=input_shape, name="image")
    *skips, x = backbone(inputs)
    skips = skips[::-1] + [None]
    for level, (skip, filters) in enumerate(zip(skips, DECODER_FILTERS)):
        stage = f"dec{len(skips) - level}"
        x = layers.UpSampling2D(2, interpolation="bilinear",
                                name=f"{stage}_up")(x)
        if skip is not None:
            x = layers.Concatenate(name=f"{stage}_concat")([x, skip])
        x = conv_block(x, filters, stage, batch_norm=True)
    outputs = layers.Conv2D(
        1, 1, activation="sigmoid", dtype="float32", name="mask"
    )(x)
    return keras.Model(inputs, outputs, name=name)


def build_model(config, pretrained=True):
    """The model a ``TrainConfig`` describes: the paper's U-Net
    (``encoder`` ``paper``: ``width``, ``depth``, ``batch_norm``,
    ``dropout``) or a U-Net over a pretrained encoder, at ``image_size``.

    Args:
        pretrained: Load the pretrained encoder's ImageNet weights (False
            when the weights will be set from elsewhere anyway).
    """
    shape = (config.image_size, config.image_size, 3)
    if config.encoder == PAPER:
        return build_unet(shape, config.width, config.depth,
                          config.batch_norm, config.dropout)
    return build_encoder_unet(shape, config.encoder, pretrained)
