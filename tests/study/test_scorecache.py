"""A run's scores kept beside it: read back only for the same model,
photos or scenes, settings and catunet version."""

import json
import shutil

import numpy as np
import pytest

from catunet.inference.predict import Settings
from catunet.study import choosing, scorecache, variants
from catunet.study.folds import sized


def test_a_fingerprint_changes_with_any_pixel_type_or_value():
    image = np.zeros((4, 5, 3), np.uint8)
    other = image.copy()
    other[3, 4, 2] = 1
    base = scorecache.fingerprint([image, {"a": 1, "b": "x"}])
    assert base == scorecache.fingerprint([image.copy(), {"b": "x", "a": 1}])
    assert base != scorecache.fingerprint([other, {"a": 1, "b": "x"}])
    assert base != scorecache.fingerprint([image.astype(np.int16),
                                           {"a": 1, "b": "x"}])
    assert base != scorecache.fingerprint([image, {"a": 1.0, "b": "x"}])
    assert base != scorecache.fingerprint([image.reshape(5, 4, 3),
                                           {"a": 1, "b": "x"}])
    with pytest.raises(TypeError, match="cannot fingerprint a object"):
        scorecache.fingerprint(object())


def test_a_kept_score_is_computed_once_per_parts(tmp_path):
    calls = []

    def compute():
        calls.append(1)
        return {"dice": np.float32(0.5), "each": np.arange(3)}

    first = scorecache.kept(tmp_path, ["val", "abc"], compute)
    assert first == {"dice": 0.5, "each": [0, 1, 2]}
    assert scorecache.kept(tmp_path, ["val", "abc"], compute) == first
    assert len(calls) == 1
    scorecache.kept(tmp_path, ["val", "abd"], compute)
    assert len(calls) == 2
    (tmp_path / scorecache.FILE).write_text("{cut short")  # unreadable
    assert scorecache.kept(tmp_path, ["val", "abc"], compute) == first
    assert len(calls) == 3
    assert len(json.loads((tmp_path / scorecache.FILE).read_text())) == 1


def test_a_study_started_again_reads_its_inference_scores(
        tmp_path, shapes_dir, tiny_model, monkeypatch):
    study = sized(variants.Study.load(str(shapes_dir), seeds=2,
                                      split=str(tmp_path / "split.json")), 32)
    frames = [("f.jpg", np.zeros((36, 64, 3), np.uint8),
               np.zeros((36, 64), np.uint8))]
    made = choosing.fold_scenes(study, frames, seed=0)
    runs = []
    for fold in range(2):
        folder = tmp_path / f"run{fold}"
        folder.mkdir()
        shutil.copyfile(tiny_model, folder / "cats.keras")
        runs.append({"folder": str(folder), "config": {"val_fold": fold}})
    zoom = Settings(zoom=2)
    scored = choosing.settings_measure(study, runs, made)(zoom)
    assert len(scored["val_dice_per_image"][1]) == len(study.val[1][0])

    def no_model(path, **kwargs):
        raise RuntimeError(f"scored {path} again")

    monkeypatch.setattr(choosing, "load_model", no_model)
    assert choosing.settings_measure(study, runs, made)(zoom) == scored
    with pytest.raises(RuntimeError):  # other settings
        choosing.settings_measure(study, runs, made)(Settings(zoom=3))
    with pytest.raises(RuntimeError):  # other scenes
        choosing.settings_measure(study, runs, choosing.fold_scenes(
            study, frames, seed=1))(zoom)
    with open(tmp_path / "run1" / "cats.keras", "ab") as f:
        f.write(b"\0")  # another model file
    with pytest.raises(RuntimeError, match="run1"):
        choosing.settings_measure(study, runs, made)(zoom)
