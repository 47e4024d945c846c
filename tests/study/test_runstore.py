"""The run store: one key decides reuse (config, data, --init file, code)."""

import dataclasses
import json
from pathlib import Path

import pytest

import catunet
from catunet.errors import CatunetError
from catunet.study import runstore, variants
from catunet.study.runstore import RunStore
from catunet.training.config import TrainConfig
from catunet.training.train import run_key_for

pytestmark = pytest.mark.slow


def tiny(tmp_path, shapes_dir, out, **overrides):
    values = dict(data_dir=str(shapes_dir), split=str(tmp_path / "s.json"),
                  width=2, depth=2, epochs=1, batch_size=4, image_size=32,
                  out=str(tmp_path / "runs" / out))
    return TrainConfig(**{**values, **overrides})


def no_training(monkeypatch):
    monkeypatch.setattr(runstore, "train",
                        lambda *a, **k: pytest.fail("trained again"))


def test_same_run_anywhere_is_reused_and_other_keys_are_not(
        tmp_path, shapes_dir, monkeypatch):
    store = RunStore(tmp_path / "runs")
    first = store.run(tiny(tmp_path, shapes_dir, "a"))
    assert first.folder == tmp_path / "runs" / "a"

    with monkeypatch.context() as m:
        no_training(m)
        found = store.run(tiny(tmp_path, shapes_dir, "elsewhere"))
        assert found.folder == first.folder and found.key == first.key
        with pytest.raises(pytest.fail.Exception):  # other seed: other run
            store.run(tiny(tmp_path, shapes_dir, "b", seed=1))
        m.setattr(catunet, "__version__", "999")  # other code version
        with pytest.raises(pytest.fail.Exception):
            store.run(tiny(tmp_path, shapes_dir, "c"))


def test_a_self_training_run_reuses_the_parts_another_run_finished(
        tmp_path, shapes_dir):
    from tests.conftest import write_folder

    unlabelled = write_folder(tmp_path / "more", n=6, seed=7) / "images"
    store = RunStore(tmp_path / "runs")
    one = tiny(tmp_path, shapes_dir, "one", unlabelled=str(unlabelled),
               width=4, epochs=10, learning_rate=3e-3, pseudo_epochs=1,
               pseudo_keep=1.0)
    store.run(one)
    two = store.run(dataclasses.replace(
        one, self_training_rounds=2, out=str(tmp_path / "runs" / "two")))

    # Teacher and round 1 are found in "one" (round 1's pseudo-masks are
    # made again, identically); only round 2 trains in "two".
    folder = tmp_path / "runs" / "two"
    assert two.folder == folder and two.model_path.is_file()
    for part in ("teacher", "student-1-pseudo", "student-1"):
        assert not (folder / part).exists(), part
    assert (folder / "pseudo-1" / "pseudo-labels.json").is_file()
    assert (folder / "student-2" / "run.json").is_file()
    first = json.loads((tmp_path / "runs" / "one" / "run.json").read_text())
    second = json.loads((folder / "run.json").read_text())
    assert first["reused_seconds"] == 0
    # Its trained parts are reused; the labelling of round 1 is done again
    # in "two", so it counts in two's own time, not as reused.
    labelling = [p["seconds"] for p in first["parts"]
                 if Path(p["folder"]).name == "pseudo-1"]
    assert len(labelling) == 1 and labelling[0] > 0
    assert second["reused_seconds"] == pytest.approx(
        first["train_seconds"] - labelling[0])
    assert second["train_seconds"] > second["reused_seconds"]
    # A total over both runs counts the shared parts once.
    own = second["train_seconds"] - second["reused_seconds"]
    assert second["sessions"][-1]["seconds"] == pytest.approx(own)
    total = runstore.total_seconds([runstore.describe(two),
                                    runstore.describe(store.run(one))])
    assert total == pytest.approx(first["train_seconds"] + own)


def test_two_folders_with_one_key_but_other_models_are_refused(
        tmp_path, shapes_dir, monkeypatch):
    import shutil

    store = RunStore(tmp_path / "runs")
    first = store.run(tiny(tmp_path, shapes_dir, "a"))
    copy = tmp_path / "runs" / "b"
    shutil.copytree(first.folder, copy)
    assert store.find(first.key) == first.folder  # same bytes: no doubt
    model = copy / "cats.keras"  # trained elsewhere: other weights
    model.write_bytes(model.read_bytes() + b"\0")
    with pytest.raises(CatunetError, match=r"runs/a and .*runs/b"):
        store.find(first.key)


def test_settings_added_later_stay_out_of_the_key_while_off():
    from catunet.training import provenance

    plain = provenance.key_inputs(TrainConfig(), None)["config"]
    assert "pseudo_holdout" not in plain and "copy_paste" not in plain
    assert "mosaic_grids" not in plain
    assert provenance.key_inputs(TrainConfig(mosaic=0.5, mosaic_grids="2,3"),
                                 None)["config"]["mosaic_grids"] == "2,3"
    changed = TrainConfig(pseudo_holdout=0.0)
    assert provenance.key_inputs(changed, None)["config"]["pseudo_holdout"] == 0
    assert provenance.run_key(changed, None) != provenance.run_key(
        TrainConfig(), None)


def test_key_follows_the_init_file_content(tmp_path, shapes_dir):
    init = RunStore(tmp_path / "runs").run(tiny(tmp_path, shapes_dir, "init"))
    config = tiny(tmp_path, shapes_dir, "tuned", init=str(init.model_path))
    before = run_key_for(config)
    with open(init.model_path, "ab") as f:
        f.write(b"changed")
    assert run_key_for(config) != before


def test_scores_are_cached_under_the_run_key(tmp_path, shapes_dir):
    run = RunStore(tmp_path / "runs").run(tiny(tmp_path, shapes_dir, "a"))
    calls = []
    value = RunStore.cached(run, "x", lambda: calls.append(1) or {"v": 1})
    assert RunStore.cached(run, "x", lambda: calls.append(1)) == value
    assert calls == [1]


def test_held_out_fold_check():
    run = {"folder": "r", "config": {"val_fold": 1},
           "history": [{"val_dice_coefficient": 0.70}]}
    variants.check_held_out_fold(run, 0.7004)
    with pytest.raises(CatunetError, match="not the same images"):
        variants.check_held_out_fold(run, 0.62)
