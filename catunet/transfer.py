"""Copies weights between U-Nets by layer name (``--init``) and freezes the
encoder for fine-tuning."""

from catunet.errors import CatunetError
from catunet.evaluate import load_model


def restore_weights(model, init_path):
    """Sets the weights of ``model`` from the same-named layers of a saved model.

    Layers are matched by name (``enc1_conv1``, ...); layers without weights
    are skipped. Returns the number of layers restored.

    Raises:
        CatunetError: The file is missing or not a model, no layer matched,
            or a matching layer has other shapes (different width or depth).
    """
    source = load_model(init_path)
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


def set_encoder_trainable(model, trainable):
    """Freezes or unfreezes the contracting path (the ``enc*`` layers).

    The bottleneck and the decoder stay trainable: they turn the encoder's
    features into this task's mask. Set before ``compile``.

    Returns:
        The number of encoder layers with weights.
    """
    encoder = [layer for layer in model.layers
               if layer.name.startswith("enc") and layer.weights]
    for layer in encoder:
        layer.trainable = trainable
    return len(encoder)
