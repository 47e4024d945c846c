"""Freezing the encoder for fine-tuning (weights are copied by layer name
with ``catunet.models.saving.restore_weights``)."""


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
