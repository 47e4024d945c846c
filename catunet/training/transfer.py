"""Freezing the encoder: all of it for fine-tuning (weights are copied by
layer name with ``catunet.models.saving.restore_weights``), its early
layers for a whole run."""


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


def freeze_early_layers(model, variant, stride):
    """Freezes the layers of a U-Net's pretrained encoder (the sub-model
    ``encoder``, an EfficientNet-Lite ``variant``) whose output is at
    ``stride`` or finer. A frozen BatchNormalization layer keeps its
    moving statistics and normalises by them in training too. Set after
    ``set_encoder_trainable`` and before ``compile``.

    Returns:
        The number of layers with weights frozen.
    """
    from catunet.models.encoders.efficientnet_lite import strides

    early = {name for name, at in strides(variant).items() if at <= stride}
    frozen = [layer for layer in model.get_layer("encoder").layers
              if layer.weights and layer.name.split("_")[0] in early]
    for layer in frozen:
        layer.trainable = False
    return len(frozen)
