"""Exporting a trained model for serving (Keras ``model.export``)."""

from pathlib import Path

from catunet.errors import CatunetError
from catunet.models.saving import load_model

SUFFIXES = {"tf_saved_model": "savedmodel", "onnx": "model.onnx",
            "openvino": "openvino", "litert": "model.tflite"}


def export_model(model_path, format="tf_saved_model", out=None):
    """Writes the model in a serving format and returns where.

    Args:
        model_path: The ``.keras`` file.
        format: A Keras ``model.export`` format: ``tf_saved_model``,
            ``onnx``, ``openvino`` or ``litert``.
        out: Output path; by default beside the model, named after the
            format. For the one-file formats (onnx, litert) a path without
            their suffix is a folder, and the file is ``model.onnx`` or
            ``model.tflite`` in it.

    Raises:
        CatunetError: The model cannot be loaded, or the format's package
            is not installed.
    """
    if format not in SUFFIXES:
        raise CatunetError(f"unknown export format {format!r}; choose from "
                           f"{', '.join(SUFFIXES)}")
    model = load_model(model_path, compile=False)
    out = Path(out) if out else Path(model_path).parent / SUFFIXES[format]
    suffix = Path(SUFFIXES[format]).suffix
    if suffix and out.suffix != suffix:
        out = out / SUFFIXES[format]
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        if format == "openvino":  # through a SavedModel: no extra packages
            from catunet.inference.runtimes import convert_to_openvino

            return convert_to_openvino(model, out / "model.xml")
        if format == "onnx":
            from catunet.inference.runtimes import convert_to_onnx

            return convert_to_onnx(model, out)
        model.export(str(out), format=format, verbose=False)
    except ImportError as error:
        raise CatunetError(f"exporting to {format} needs a package that is "
                           f"not installed ({error})") from error
    return out
