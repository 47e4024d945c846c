"""The pretrained encoder: its weights read without PyTorch (and without
running the pickle), mapped layer by layer, and the U-Net built over it."""

import collections
import dataclasses
import importlib.util
import io
import os
import pickle
import struct
import sys
import types
from pathlib import Path

import cv2
import numpy as np
import pytest

from catunet.errors import CatunetError
from catunet.models.encoders import efficientnet_lite, torch_weights
from catunet.models.unet import build_encoder_unet
from catunet.training.config import TrainConfig
from catunet.training.train import train
from tests.conftest import SHARED_CATS

SHARED = SHARED_CATS.parent
LITE0 = efficientnet_lite.LITE0


def needs_weights(variant=LITE0):
    wanted = efficientnet_lite.VARIANTS[variant]
    return pytest.mark.skipif(
        not (SHARED / "pet-cats").is_dir() or
        importlib.util.find_spec(wanted.module) is None,
        reason=f"needs ../shared/data and pip install {wanted.package}")


# -- a legacy PyTorch file, written here without PyTorch ---------------------

class _Storage:
    def __init__(self, key, array):
        self.key, self.array = key, array


def _fake_torch():
    """Modules named like PyTorch's, so pickle writes their globals by name."""
    torch = types.ModuleType("torch")
    utils = types.ModuleType("torch._utils")

    def _rebuild_tensor_v2(*args):
        raise AssertionError("never called when writing")

    _rebuild_tensor_v2.__module__ = "torch._utils"
    _rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
    utils._rebuild_tensor_v2 = _rebuild_tensor_v2
    for name in ("FloatStorage", "LongStorage"):
        kind = type(name, (), {"__module__": "torch"})
        setattr(torch, name, kind)
    torch._utils = utils
    return torch, utils


class _Tensor:
    def __init__(self, storage, offset, size, stride):
        self.args = (storage, offset, size, stride)


def write_legacy(path, tensors, extra_object=None):
    """Writes ``{name: (storage array, offset, size, stride)}`` in
    PyTorch's legacy format; ``extra_object`` is pickled into the state
    dict as well (to smuggle a global in)."""
    torch, utils = _fake_torch()
    saved = {k: sys.modules.get(k) for k in ("torch", "torch._utils")}
    sys.modules.update({"torch": torch, "torch._utils": utils})
    try:
        storages = {}

        class Writer(pickle.Pickler):
            def persistent_id(self, obj):
                if isinstance(obj, _Storage):
                    kind = torch.LongStorage \
                        if obj.array.dtype == np.int64 else torch.FloatStorage
                    storages[obj.key] = obj.array
                    return ("storage", kind, obj.key, "cpu",
                            obj.array.size, None)
                return None

            def reducer_override(self, obj):
                if isinstance(obj, _Tensor):
                    return utils._rebuild_tensor_v2, (
                        *obj.args, False, collections.OrderedDict())
                return NotImplemented

        stream = io.BytesIO()
        for value in (torch_weights.MAGIC_NUMBER,
                      torch_weights.PROTOCOL_VERSION, {"little_endian": True}):
            pickle.dump(value, stream, protocol=2)
        state = collections.OrderedDict(
            (name, _Tensor(_Storage(key, array), offset, size, stride))
            for name, (key, array, offset, size, stride) in tensors.items())
        if extra_object is not None:
            state["extra"] = extra_object
        Writer(stream, protocol=2).dump(state)
        pickle.dump(list(storages), stream, protocol=2)
        for key in storages:
            array = storages[key]
            stream.write(struct.pack("<q", array.size))
            stream.write(array.tobytes())
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module
    Path(path).write_bytes(stream.getvalue())
    return path


def test_reads_tensors_with_offsets_and_strides(tmp_path):
    flat = np.arange(24, dtype=np.float32)
    path = write_legacy(tmp_path / "w.pth", {
        "plain": ("0", flat, 0, (2, 3, 4), (12, 4, 1)),
        "offset": ("0", flat, 4, (2, 2), (2, 1)),
        "transposed": ("0", flat, 0, (4, 2), (1, 4)),
        "count": ("1", np.array([7], np.int64), 0, (), ()),
    })
    state = torch_weights.read_state_dict(path)
    assert list(state) == ["plain", "offset", "transposed", "count"]
    np.testing.assert_array_equal(state["plain"], flat.reshape(2, 3, 4))
    np.testing.assert_array_equal(state["offset"], [[4, 5], [6, 7]])
    np.testing.assert_array_equal(state["transposed"],
                                  flat[:8].reshape(2, 4).T)
    assert state["count"] == 7 and state["count"].dtype == np.int64


class _Payload:
    def __reduce__(self):
        return (os.system, ("echo owned > /dev/null",))


def test_a_pickle_naming_another_global_is_refused(tmp_path, monkeypatch):
    path = write_legacy(tmp_path / "evil.pth", {
        "w": ("0", np.zeros(2, np.float32), 0, (2,), (1,))},
        extra_object=_Payload())
    assert b"system" in path.read_bytes()
    called = []
    monkeypatch.setattr(os, "system", lambda *a: called.append(a))
    with pytest.raises(CatunetError, match=r"refused.*(posix|os)\.system"):
        torch_weights.read_state_dict(path)
    assert not called


@pytest.mark.parametrize("damage, reason", [
    (lambda b: b[:-5], "truncated"),
    (lambda b: b"not a pickle at all", "not a readable PyTorch state dict"),
    (lambda b: pickle.dumps(123) + b[len(pickle.dumps(
        torch_weights.MAGIC_NUMBER, protocol=2)):], "not a legacy PyTorch"),
])
def test_damaged_files_name_the_file(tmp_path, damage, reason):
    path = write_legacy(tmp_path / "w.pth", {
        "w": ("0", np.zeros(6, np.float32), 0, (6,), (1,))})
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(CatunetError, match=reason) as error:
        torch_weights.read_state_dict(path)
    assert "w.pth" in str(error.value)


# -- the mapping, checked by ImageNet's own classifier -----------------------

def _photos(folder, names, size=224):
    return np.stack([cv2.resize(
        cv2.cvtColor(cv2.imread(str(SHARED / folder / "images" / n)),
                     cv2.COLOR_BGR2RGB), (size, size),
        interpolation=cv2.INTER_AREA) for n in names]).astype(np.float32)


@pytest.mark.parametrize("variant", [
    pytest.param(v, marks=needs_weights(v)) for v in efficientnet_lite.VARIANTS])
def test_converted_weights_classify_cats_and_horses(variant, tmp_path,
                                                    monkeypatch):
    """One mis-mapped or mis-transposed tensor and these photos leave their
    ImageNet classes (cats 281-285, horses 339 "sorrel"). The pet photos
    are the first six but two: a cat Lite1 and Lite2 call a red fox (277;
    their top three are all foxes and wolves), and one all three put in
    class 728 ("plastic bag")."""
    monkeypatch.setenv(efficientnet_lite.ENV, str(tmp_path))
    model = efficientnet_lite.build_efficientnet_lite(
        variant, (224, 224, 3), classifier=True)
    assert efficientnet_lite.load_pretrained(model, variant) == len(
        [layer for layer in model.layers if layer.weights])
    cats = sorted(p.name for p in (SHARED / "pet-cats" / "images").iterdir())
    cats = [cats[i] for i in (1, 3, 4, 5)]
    horses = sorted(p.name for p in (SHARED / "horses" / "images").iterdir())
    classes = model.predict(np.concatenate([
        _photos("pet-cats", cats), _photos("horses", horses[:3])]),
        verbose=0).argmax(axis=1)
    assert all(281 <= c <= 285 for c in classes[:4]), classes
    assert list(classes[4:]) == [339, 339, 339], classes
    assert list(tmp_path.glob(f"{variant}-*.npz"))  # converted, then cached
    monkeypatch.setattr(efficientnet_lite, "package_file",
                        lambda variant: pytest.fail("read the package again"))
    again = efficientnet_lite.build_efficientnet_lite(
        variant, (224, 224, 3), classifier=True)
    efficientnet_lite.load_pretrained(again, variant)
    for a, b in zip(model.weights, again.weights):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_the_variants_are_lite0_scaled_as_their_weights_are():
    """Lite1 and Lite2 repeat and widen Lite0's stages as the packages'
    state dicts have them (21 blocks; Lite2's last stage 352 channels),
    and a built encoder is recognised by its blocks."""
    blocks = {v: list(efficientnet_lite.blocks(v))
              for v in efficientnet_lite.VARIANTS}
    assert [len(b) for b in blocks.values()] == [16, 21, 21]
    assert [b[-1].filters for b in blocks.values()] == [320, 320, 352]
    assert [b.filters for b in blocks["efficientnet-lite2"] if b.feature] == \
        [16, 24, 48, 120, 352]
    for variant in efficientnet_lite.VARIANTS:
        encoder = efficientnet_lite.build_efficientnet_lite(variant,
                                                            (32, 32, 3))
        assert efficientnet_lite.variant_of(encoder) == variant
        assert [tuple(f.shape[1:]) for f in encoder.outputs][-1] == \
            (1, 1, blocks[variant][-1].filters)


def test_a_missing_package_names_the_pip_command(tmp_path, monkeypatch):
    monkeypatch.setenv(efficientnet_lite.ENV, str(tmp_path))
    monkeypatch.setitem(efficientnet_lite.VARIANTS, "efficientnet-lite2",
                        dataclasses.replace(
                            efficientnet_lite.VARIANTS["efficientnet-lite2"],
                            name="no-such-module-here"))
    with pytest.raises(CatunetError, match="pip install "
                       "no-such-module-here-pytorch-model==0.1.0"):
        efficientnet_lite.pretrained_weights("efficientnet-lite2")


def test_another_file_is_refused_by_its_hash(tmp_path, monkeypatch):
    monkeypatch.setenv(efficientnet_lite.ENV, str(tmp_path / "cache"))
    other = write_legacy(tmp_path / "other.pth", {
        "w": ("0", np.zeros(2, np.float32), 0, (2,), (1,))})
    monkeypatch.setattr(efficientnet_lite, "package_file",
                        lambda variant: other)
    with pytest.raises(CatunetError, match="SHA-256"):
        efficientnet_lite.pretrained_weights()


def test_a_state_dict_that_does_not_map_is_refused():
    with pytest.raises(CatunetError, match=r"does not map.*unmapped \['extra'\]"):
        efficientnet_lite.convert({"_conv_stem.weight": None, "extra": None})


# -- the U-Net over it --------------------------------------------------------

def test_encoder_unet_shapes_saves_and_reloads(tmp_path):
    import keras

    from catunet import atomic
    from catunet.models.saving import load_model
    from catunet.training.transfer import set_encoder_trainable

    model = build_encoder_unet((64, 96, 3), pretrained=False)
    assert model.output_shape == (None, 64, 96, 1)
    assert model.get_layer("encoder").count_params() == 2_998_304
    path = atomic.save_model(model, tmp_path / "cats.keras")
    again = load_model(path)
    images = np.random.default_rng(0).uniform(0, 255, (2, 64, 96, 3))
    np.testing.assert_allclose(again.predict(images, verbose=0),
                               model.predict(images, verbose=0), atol=1e-6)
    assert set_encoder_trainable(again, False) == 1
    assert not again.get_layer("encoder").trainable
    assert all(layer.trainable for layer in again.layers
               if layer.name.startswith("dec"))
    assert isinstance(again, keras.Model)


def test_encoder_input_must_be_a_multiple_of_32():
    with pytest.raises(ValueError, match="divisible by 32"):
        build_encoder_unet((100, 100, 3), pretrained=False)


def test_training_refuses_a_size_the_encoder_cannot_take(tmp_path,
                                                         shapes_dir):
    with pytest.raises(CatunetError, match="multiple of 32"):
        train(TrainConfig(data_dir=str(shapes_dir), image_size=48,
                          encoder="efficientnet-lite0",
                          split=str(tmp_path / "split.json"),
                          out=str(tmp_path / "run")), verbose=0)
    assert not (tmp_path / "run").exists()


@needs_weights()
@pytest.mark.slow
def test_trains_with_the_encoder_frozen_then_unfrozen(tmp_path, shapes_dir,
                                                      monkeypatch):
    """Frozen warm-up needs no --init with a pretrained encoder; the frozen
    phase leaves the ImageNet weights as they were."""
    from catunet.models.saving import load_model

    monkeypatch.setenv(efficientnet_lite.ENV, str(tmp_path / "cache"))
    config = TrainConfig(data_dir=str(shapes_dir), image_size=64,
                         encoder="efficientnet-lite0", epochs=2,
                         freeze_epochs=1, batch_size=4,
                         split=str(tmp_path / "split.json"),
                         out=str(tmp_path / "run"))
    run = train(config, verbose=0)
    assert run.config.precision == "float32"  # auto, on a CPU
    model = load_model(run.model_path)
    stem = model.get_layer("encoder").get_layer("stem_conv").get_weights()[0]
    imagenet = efficientnet_lite.pretrained_weights()["stem_conv"][0]
    assert stem.shape == imagenet.shape
    assert not np.array_equal(stem, imagenet)  # the unfrozen epoch moved it
    assert np.corrcoef(stem.ravel(), imagenet.ravel())[0, 1] > 0.9
