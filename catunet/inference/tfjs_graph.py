"""Runs a TensorFlow.js graph model (``model.json`` and its ``.bin``
weight shards) in TensorFlow, without the ``tensorflowjs`` package.

A graph model is a frozen TensorFlow ``GraphDef`` written as JSON, its
constants' values kept apart in binary shards (some stored as float16).
The converter also fuses a convolution with its bias and activation into
ops TensorFlow.js has and TensorFlow does not import
(``FusedDepthwiseConv2dNative``) or only grappler uses (``_FusedConv2D``):
those are written back as the plain ops they stand for.
"""

import base64
import json
from pathlib import Path

import numpy as np
import tensorflow as tf
from google.protobuf import json_format

from catunet.errors import CatunetError

DTYPES = {"float32": np.float32, "float16": np.float16, "int32": np.int32,
          "uint8": np.uint8, "uint16": np.uint16, "bool": np.bool_}
FUSED = {"_FusedConv2D": "Conv2D",
         "FusedDepthwiseConv2dNative": "DepthwiseConv2dNative"}
ACTIVATIONS = ("Relu", "Relu6", "Elu", "Sigmoid", "Tanh")
CONV_ATTRS = ("strides", "padding", "data_format", "dilations", "T",
              "explicit_paddings")


def read_weights(folder, manifest):
    """``{constant name: array}`` from a manifest's shards in ``folder``."""
    weights = {}
    for group in manifest:
        buffer = b"".join(_read(Path(folder) / p) for p in group["paths"])
        offset = 0
        for spec in group["weights"]:
            shape = spec["shape"]
            count = int(np.prod(shape)) if shape else 1
            quantized = spec.get("quantization")
            stored = DTYPES[quantized["dtype"] if quantized else spec["dtype"]]
            end = offset + count * np.dtype(stored).itemsize
            if end > len(buffer):
                raise CatunetError(
                    f"{folder}: the weight shards end before {spec['name']}")
            values = np.frombuffer(buffer, stored, count, offset)
            if quantized and quantized["dtype"] != "float16":
                values = values * quantized["scale"] + quantized["min"]
            weights[spec["name"]] = values.astype(
                DTYPES[spec["dtype"]]).reshape(shape)
            offset = end
    return weights


def _read(path):
    if not path.is_file():
        raise CatunetError(f"{path}: weight shard missing")
    return path.read_bytes()


def unfuse(node):
    """A fused convolution node as the plain nodes it stands for: the
    convolution, then each of its fused ops (``BiasAdd``, an activation),
    the last one named as the fused node was."""
    fused = [base64.b64decode(s).decode()
             for s in node["attr"]["fused_ops"]["list"].get("s", [])]
    attr = {k: v for k, v in node["attr"].items() if k in CONV_ATTRS}
    name, inputs = node["name"], node["input"]
    steps = [{"op": FUSED[node["op"]], "input": inputs[:2], "attr": attr}]
    for op in fused:
        if op == "BiasAdd":
            steps.append({"op": "BiasAdd", "input": [inputs[2]],
                          "attr": {"T": attr["T"],
                                   "data_format": attr["data_format"]}})
        elif op in ACTIVATIONS:
            steps.append({"op": op, "input": [], "attr": {"T": attr["T"]}})
        else:
            raise CatunetError(f"{name}: fused op {op} is not supported")
    nodes = []
    for i, step in enumerate(steps):
        last = i == len(steps) - 1
        inputs = step["input"] if i == 0 else [nodes[-1]["name"],
                                                *step["input"]]
        nodes.append({"name": name if last else f"{name}/unfused_{i}",
                      "op": step["op"], "input": inputs, "attr": step["attr"]})
    return nodes


def graph_def(model, weights):
    """The ``tf.compat.v1.GraphDef`` of a parsed ``model.json`` with its
    weights filled in and fused ops written back."""
    nodes = []
    for node in model["modelTopology"]["node"]:
        node = {k: v for k, v in node.items() if k != "device"}
        if node["op"] in FUSED:
            nodes.extend(unfuse(node))
            continue
        if node["op"] == "Const" and node["name"] in weights:
            tensor = tf.make_tensor_proto(weights[node["name"]])
            node["attr"] = {**node["attr"], "value": {
                "tensor": json_format.MessageToDict(tensor)}}
        nodes.append(node)
    return json_format.ParseDict(
        {"node": nodes, "versions": model["modelTopology"].get("versions",
                                                               {})},
        tf.compat.v1.GraphDef())


def load(path):
    """The graph model ``path`` (its ``model.json``) as a function from its
    signature's inputs (tensors, in the signature's order) to ``{output
    name: tensor}``."""
    path = Path(path)
    try:
        model = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise CatunetError(f"{path}: not a TensorFlow.js model ({error})")
    if model.get("format") != "graph-model":
        raise CatunetError(f"{path}: not a TensorFlow.js graph model")
    graph = graph_def(model, read_weights(path.parent,
                                          model["weightsManifest"]))
    signature = model["signature"]
    wrapped = tf.compat.v1.wrap_function(
        lambda: tf.compat.v1.import_graph_def(graph, name=""), [])

    def tensor(name):
        return wrapped.graph.get_tensor_by_name(name + ":0")

    return wrapped.prune(
        [tensor(v["name"]) for v in signature["inputs"].values()],
        {k: tensor(v["name"]) for k, v in signature["outputs"].items()})
