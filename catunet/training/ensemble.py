"""Averaging models: one Keras model whose output is the mean of several
models' probability maps.

The average is itself a ``.keras`` model with the same input and output as a
U-Net, so everything that predicts (``catunet.inference.predict``, the exporters,
the server) takes it unchanged; it costs one forward pass per averaged
model.
"""

import keras


def average(models, name="ensemble"):
    """A model averaging ``models``' outputs; a single model is returned
    as it is.

    Args:
        models: Keras models with the same input and output shapes (their
            widths may differ). They are renamed ``member_<i>`` so that one
            graph can hold them.

    Raises:
        ValueError: No models, or their shapes differ.
    """
    if not models:
        raise ValueError("nothing to average")
    if len(models) == 1:
        return models[0]
    shapes = {(tuple(m.input_shape), tuple(m.output_shape)) for m in models}
    if len(shapes) > 1:
        raise ValueError(f"models of other shapes cannot be averaged: "
                         f"{sorted(shapes)}")
    image = keras.Input(shape=models[0].input_shape[1:], name="image")
    outputs = []
    for i, model in enumerate(models):
        model.name = f"member_{i}"
        outputs.append(model(image))
    mean = keras.layers.Average(dtype="float32", name="mask")(outputs)
    return keras.Model(image, mean, name=name)
