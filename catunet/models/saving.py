"""Saving and loading models: the one place that touches ``.keras`` files.

Every custom object (losses, metrics, the elastic layer) is registered with
``keras.saving.register_keras_serializable``, so a saved model loads without
``custom_objects``; importing them here makes sure they are registered.
"""

import zipfile
from pathlib import Path

from catunet import atomic
from catunet.errors import CatunetError


def _register_custom_objects():
    import catunet.data.augment  # noqa: F401
    import catunet.models.losses  # noqa: F401
    import catunet.models.metrics  # noqa: F401


def load_model(path, compile=True):
    """Loads a ``.keras`` model with a clear error when it cannot be used.

    Raises:
        CatunetError: The file is missing, has another suffix, or is not a
            Keras model.
    """
    import keras

    _register_custom_objects()
    path = Path(path)
    if not path.is_file():
        raise CatunetError(f"{path}: model file not found")
    if path.suffix != ".keras":
        raise CatunetError(f"{path}: not a .keras model file")
    try:
        return keras.saving.load_model(path, compile=compile)
    except (ValueError, OSError, zipfile.BadZipFile, KeyError) as error:
        raise CatunetError(f"{path}: not a loadable Keras model ({error})") \
            from error


def save_model(model, path):
    """Saves a model atomically: a crash leaves the old file or the new one."""
    return atomic.save_model(model, path)


def restore_weights(model, init_path):
    """Sets the weights of ``model`` from the same-named layers of a saved model.

    Layers are matched by name (``enc1_conv1``, ...); layers without weights
    are skipped. Returns the number of layers restored.

    Raises:
        CatunetError: The file is missing or not a model, no layer matched,
            or a matching layer has other shapes (different width or depth).
    """
    source = load_model(init_path, compile=False)
    by_name = {layer.name: layer for layer in source.layers if layer.weights}
    restored = 0
    for layer in model.layers:
        if not layer.weights or layer.name not in by_name:
            continue
        weights = by_name[layer.name].get_weights()
        shapes = [w.shape for w in weights]
        wanted = [tuple(w.shape) for w in layer.weights]
        if shapes != wanted:
            raise CatunetError(
                f"{init_path}: layer {layer.name} has shapes {shapes}, this "
                f"model needs {wanted} (is --width or --depth different?)")
        layer.set_weights(weights)
        restored += 1
    if not restored:
        raise CatunetError(f"{init_path}: no layer name matches this model")
    return restored
