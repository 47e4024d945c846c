"""Runtimes that execute a trained model: Keras itself, OpenVINO or ONNX
Runtime.

A runtime gives back an object with what ``catunet.inference.predict`` uses of a
Keras model — ``input_shape`` and ``predict_on_batch`` — so pre- and
post-processing are one code path whatever runs the network.

OpenVINO is Intel's inference engine for CPUs (x86 and ARM): it fuses the
U-Net's convolutions and picks kernels for the instruction sets it finds at
run time. The model is exported once as a TensorFlow SavedModel (Keras
``model.export``), converted with ``openvino.convert_model`` and cached
beside the ``.keras`` file, keyed by that file's SHA-256, so a retrained
model is converted again. ONNX Runtime (Microsoft's engine for the ONNX
format) runs a Keras ``model.export(format="onnx")`` file, cached the same
way; it is the portable choice where OpenVINO is not installed.
"""

import importlib.util
import os
from pathlib import Path

import numpy as np

from catunet.errors import CatunetError
from catunet.models.saving import load_model
from catunet.training import provenance

RUNTIMES = ("auto", "keras", "openvino", "onnx")
# What each runtime needs importable: its engine and, for ONNX, the
# converter Keras exports with.
PACKAGES = {"keras": (), "openvino": ("openvino",),
            "onnx": ("onnxruntime", "tf2onnx")}
# ``auto`` takes the first installed: fastest first, as measured by
# ``python -m catunet.study.bench`` (reports/bench.md).
PREFERENCE = ("openvino", "onnx", "keras")


def installed(runtime):
    """Whether a runtime's packages are importable here."""
    return all(importlib.util.find_spec(p) is not None
               for p in PACKAGES[runtime])


def resolve(runtime):
    """``auto`` becomes the fastest runtime installed (``PREFERENCE``)."""
    if runtime not in RUNTIMES:
        raise CatunetError(f"unknown runtime {runtime!r}; choose from "
                           f"{', '.join(RUNTIMES)}")
    if runtime == "auto":
        return next(r for r in PREFERENCE if installed(r))
    if not installed(runtime):
        raise CatunetError(f"runtime {runtime} is not installed (pip install "
                           f"{' '.join(PACKAGES[runtime])})")
    return runtime


def computes_in_bfloat16(model):
    """Whether a Keras model's layers compute in bfloat16 (a model trained
    under ``mixed_bfloat16`` keeps that policy when saved); an average of
    models (``catunet.training.ensemble``) is asked about its members."""
    return any(computes_in_bfloat16(layer) if hasattr(layer, "layers")
               else layer.dtype_policy.compute_dtype == "bfloat16"
               for layer in model.layers if layer.weights)


class OpenVinoModel:
    """A compiled OpenVINO model that answers like a Keras model.

    OpenVINO computes in bfloat16 by default on CPUs that have it (AMX,
    AVX512-BF16), which moves outputs by ~5e-3 from a float32 Keras model.
    So it is told the Keras model's own precision: float32 for a float32
    model (outputs equal Keras's within 1e-3), bfloat16 for a model that
    computes in bfloat16 where the CPU has it.
    """

    def __init__(self, xml_path, input_shape, bfloat16=False):
        import openvino as ov
        import openvino.properties.hint as hints

        from catunet.training.machine import has_bf16

        self.precision = "bf16" if bfloat16 and has_bf16() else "f32"
        core = ov.Core()
        self.compiled = core.compile_model(
            core.read_model(str(xml_path)), "CPU",
            {hints.inference_precision: getattr(ov.Type, self.precision)})
        self.input_shape = input_shape

    def predict_on_batch(self, images):
        return self.compiled(np.asarray(images, np.float32))[0]


class OnnxModel:
    """An ONNX Runtime session that answers like a Keras model (in float32:
    its CPU provider has no bfloat16 convolutions, so ``bfloat16`` is only
    there to match ``OpenVinoModel``)."""

    def __init__(self, onnx_path, input_shape, bfloat16=False):
        import onnxruntime as ort

        self.session = ort.InferenceSession(
            str(onnx_path), providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name
        self.input_shape = input_shape

    def predict_on_batch(self, images):
        return self.session.run(
            None, {self.input_name: np.asarray(images, np.float32)})[0]


FILES = {"openvino": "model.xml", "onnx": "model.onnx"}


def converted_path(model_path, runtime):
    """Where a runtime's conversion of a ``.keras`` file is cached: beside
    it, or in ``~/.cache/catunet/runtimes`` (``$CATUNET_RUNTIME_DIR``)
    for the shipped model or a folder that cannot be written
    (``shipped.keeps_out``)."""
    from catunet import shipped

    digest = provenance.file_sha256(model_path)[:16]
    folder = Path(model_path).parent
    if shipped.keeps_out(folder):
        folder = Path(os.environ.get("CATUNET_RUNTIME_DIR") or
                      Path.home() / ".cache" / "catunet" / "runtimes")
    return folder / f"{Path(model_path).stem}.{runtime}-{digest}" / \
        FILES[runtime]


def _whole(write, path):
    """Writes a conversion (a file and its siblings) into a scratch folder
    and renames that to ``path``'s own folder: whole, or not at all."""
    path = Path(path)
    partial = path.parent.with_name(path.parent.name + ".partial")
    write(partial / path.name)
    partial.rename(path.parent)
    return path


def convert_to_openvino(model, xml_path):
    """Exports a Keras model to an OpenVINO IR (``.xml`` + ``.bin``)."""
    import tempfile

    import openvino as ov

    with tempfile.TemporaryDirectory() as folder:
        model.export(folder, format="tf_saved_model", verbose=False)
        converted = ov.convert_model(folder)
    Path(xml_path).parent.mkdir(parents=True, exist_ok=True)
    ov.save_model(converted, str(xml_path))
    return Path(xml_path)


def float32_copy(model):
    """The same model with every layer computing in float32 (its weights
    are float32 under any mixed policy): tf2onnx cannot write a graph that
    mixes bfloat16 and float16 casts, and ONNX Runtime computes in float32
    on a CPU anyway."""
    import keras

    def as_float32(value):
        if isinstance(value, dict):
            if value.get("class_name") == "DTypePolicy":
                return {**value, "config": {**value["config"],
                                            "name": "float32"}}
            return {k: as_float32(v) for k, v in value.items()}
        if isinstance(value, list):
            return [as_float32(v) for v in value]
        return value

    copy = keras.Model.from_config(as_float32(model.get_config()))
    copy.set_weights(model.get_weights())
    return copy


def convert_to_onnx(model, onnx_path):
    """Exports a Keras model to an ONNX file (Keras ``model.export``); a
    model that computes in bfloat16 is exported as its float32 copy."""
    import tensorflow as tf

    if computes_in_bfloat16(model):
        model = float32_copy(model)

    model(tf.zeros((1, *model.input_shape[1:])))  # Keras exports to ONNX
    Path(onnx_path).parent.mkdir(parents=True, exist_ok=True)  # only a model
    model.export(str(onnx_path), format="onnx", verbose=False)  # called once
    return Path(onnx_path)


CONVERTERS = {"openvino": (convert_to_openvino, OpenVinoModel),
              "onnx": (convert_to_onnx, OnnxModel)}


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
    convert, served = CONVERTERS[runtime]
    path = converted_path(model_path, runtime)
    if not path.is_file():
        _whole(lambda scratch: convert(model, scratch), path)
    return served(path, model.input_shape, computes_in_bfloat16(model)), \
        runtime
