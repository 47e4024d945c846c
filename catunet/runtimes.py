"""Runtimes that execute a trained model: Keras itself, or OpenVINO.

A runtime gives back an object with what ``catunet.inference`` uses of a
Keras model — ``input_shape`` and ``predict_on_batch`` — so pre- and
post-processing are one code path whatever runs the network.

OpenVINO is Intel's inference engine for CPUs (x86 and ARM): it fuses the
U-Net's convolutions and picks kernels for the instruction sets it finds at
run time. The model is exported once as a TensorFlow SavedModel (Keras
``model.export``), converted with ``openvino.convert_model`` and cached
beside the ``.keras`` file, keyed by that file's SHA-256, so a retrained
model is converted again.
"""

import importlib.util
from pathlib import Path

import numpy as np

from catunet import provenance
from catunet.errors import CatunetError
from catunet.saving import load_model

RUNTIMES = ("auto", "keras", "openvino")


def installed(runtime):
    """Whether a runtime's package is importable here."""
    if runtime == "keras":
        return True
    return importlib.util.find_spec(runtime) is not None


def resolve(runtime):
    """``auto`` becomes the fastest runtime installed (OpenVINO, else Keras)."""
    if runtime not in RUNTIMES:
        raise CatunetError(f"unknown runtime {runtime!r}; choose from "
                           f"{', '.join(RUNTIMES)}")
    if runtime == "auto":
        return "openvino" if installed("openvino") else "keras"
    if not installed(runtime):
        raise CatunetError(f"runtime {runtime} is not installed (pip install "
                           f"{runtime})")
    return runtime


class OpenVinoModel:
    """A compiled OpenVINO model that answers like a Keras model."""

    def __init__(self, xml_path, input_shape):
        import openvino as ov

        core = ov.Core()
        self.compiled = core.compile_model(core.read_model(str(xml_path)),
                                           "CPU")
        self.input_shape = input_shape

    def predict_on_batch(self, images):
        return self.compiled(np.asarray(images, np.float32))[0]


def openvino_model_path(model_path):
    """Where the OpenVINO conversion of a ``.keras`` file is cached."""
    digest = provenance.file_sha256(model_path)[:16]
    return Path(model_path).parent / \
        f"{Path(model_path).stem}.openvino-{digest}" / "model.xml"


def convert_to_openvino(model, xml_path):
    """Exports a Keras model to an OpenVINO IR (``.xml`` + ``.bin``)."""
    import tempfile

    import openvino as ov

    xml_path = Path(xml_path)
    with tempfile.TemporaryDirectory() as folder:
        model.export(folder, format="tf_saved_model", verbose=False)
        converted = ov.convert_model(folder)
    partial = xml_path.parent.with_name(xml_path.parent.name + ".partial")
    partial.mkdir(parents=True, exist_ok=True)
    ov.save_model(converted, str(partial / xml_path.name))
    partial.rename(xml_path.parent)  # whole, or not at all
    return xml_path


def load_runtime(model_path, runtime="auto"):
    """The model at ``model_path``, ready to predict on the runtime asked
    for (``auto``: the fastest installed).

    Returns:
        ``(model, runtime name)``.
    """
    runtime = resolve(runtime)
    model = load_model(model_path, compile=False)
    if runtime == "keras":
        return model, runtime
    xml_path = openvino_model_path(model_path)
    if not xml_path.is_file():
        convert_to_openvino(model, xml_path)
    return OpenVinoModel(xml_path, model.input_shape), runtime
