"""Self-training from unlabelled photos, at tiny widths."""

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from catunet.errors import CatunetError
from catunet.training import selftrain
from catunet.training.config import TrainConfig
from catunet.training.train import train
from tests.conftest import write_folder


def test_confidence_by_hand():
    assert selftrain.confidence([[1.0, 0.0], [1.0, 0.0]]) == 1.0
    assert selftrain.confidence([[0.5, 0.5]]) == 0.0
    assert selftrain.confidence([[0.75, 0.0]]) == pytest.approx(0.75)


def test_choose_drops_insane_areas_then_keeps_the_most_confident():
    confidences = [0.9, 0.8, 0.99, 0.7, 0.6, 0.95]
    areas = [0.3, 0.4, 0.0, 0.5, 0.2, 0.99]   # photo 2 empty, 5 all cat
    assert selftrain.choose(confidences, areas, keep=0.5) == [0, 1, 3]
    assert selftrain.choose(confidences, areas, keep=1.0) == [0, 1, 3, 4]


def tiny(tmp_path, data_dir, **overrides):
    values = dict(data_dir=str(data_dir), split=str(tmp_path / "s.json"),
                  width=4, depth=2, image_size=32, batch_size=4,
                  learning_rate=3e-3, epochs=12, out=str(tmp_path / "run"))
    return TrainConfig(**{**values, **overrides})


def test_the_teacher_is_the_recipe_trained_alone():
    from catunet.training.provenance import key_inputs

    plain = TrainConfig(encoder="efficientnet-lite0", image_size=256,
                        mosaic=0.5, seed=2, val_fold=2, out="runs/a")
    self_trained = dataclasses.replace(
        plain, unlabelled="photos", pseudo_keep=0.2, pseudo_epochs=4,
        self_training_rounds=2, round_ensemble=2)
    teacher = selftrain.labelled_config(self_trained)
    assert teacher.unlabelled is None and teacher.mosaic == 0.5
    assert key_inputs(teacher, None) == key_inputs(plain, None)


def test_a_wider_student_starts_from_its_init_not_its_teacher(tmp_path):
    from catunet.models.unet import build_unet
    from catunet.training.selftrain import student_start

    teacher = build_unet((32, 32, 3), base_filters=4, depth=2)
    same = TrainConfig(width=4, depth=2, image_size=32, init="horses.keras")
    assert student_start("t.keras", teacher, same) == "t.keras"
    wider = dataclasses.replace(same, width=8)
    assert student_start("t.keras", teacher, wider) == "horses.keras"
    assert student_start("t.keras", teacher,
                         dataclasses.replace(wider, init=None)) is None


@pytest.mark.slow
def test_self_training_end_to_end(tmp_path, shapes_dir):
    unlabelled = write_folder(tmp_path / "more", n=10, seed=7) / "images"
    people = write_folder(tmp_path / "people", n=4, seed=9)
    config = tiny(tmp_path, shapes_dir, unlabelled=str(unlabelled),
                  pseudo_keep=0.6, pseudo_epochs=2, epochs=12,
                  pseudo_holdout=0.0, self_training_rounds=2, mosaic=0.5,
                  negatives=0.5, negative_pastes=0.5,
                  negative_photos=str(people))
    # A copy of a test photo among the unlabelled ones must be left out.
    from catunet.data import loading, split

    manifest = split.make_split(loading.find_pairs(shapes_dir))
    split.save_split(manifest, tmp_path / "s.json")
    test_photo = manifest["test"][0][0]
    shutil.copy(shapes_dir / "images" / test_photo, unlabelled / "copy.jpg")

    run = train(config, verbose=0)
    folder = tmp_path / "run"
    assert run.model_path == folder / "cats.keras" and run.model_path.exists()
    for sub in ("teacher", "student-1-pseudo", "student-1",
                "student-2-pseudo", "student-2"):
        assert (folder / sub / "run.json").exists(), sub
    # Round 2: the round-1 student labelled the photos again.
    assert (folder / "pseudo-2" / "pseudo-labels.json").is_file()
    labels = json.loads((folder / "pseudo-1" / "pseudo-labels.json")
                        .read_text())
    assert labels["photos"] == 11
    assert [d["path"].endswith("copy.jpg")
            for d in labels["left_out_as_test_lookalikes"]] == [True]
    kept = [r["photo"] for r in labels["labels"] if r["kept"]]
    assert len(kept) == labels["kept"] > 0
    assert sorted(p.name for p in (folder / "pseudo-1" / "masks").iterdir()) \
        == sorted(name.replace(".jpg", ".png") for name in kept)
    assert (folder / "pseudo-1" / "pseudo-labels.png").stat().st_size > 0
    # --pseudo-holdout 0: the student pre-trains on every kept pseudo-mask.
    pseudo_split = json.loads((folder / "pseudo-1" / "split.json").read_text())
    assert pseudo_split["test"] == []
    assert sorted(i for i, _ in pseudo_split["train"]) == sorted(kept)
    record = json.loads((folder / "run.json").read_text())
    assert record["finished"] and record["train_seconds"] > 0
    # The training time counts each round's labelling beside its parts.
    parts = {Path(p["folder"]).name: p["seconds"] for p in record["parts"]}
    assert list(parts) == ["teacher", "pseudo-1", "student-1-pseudo",
                           "student-1", "pseudo-2", "student-2-pseudo",
                           "student-2"]
    assert parts["pseudo-1"] == labels["seconds"] > 0
    assert record["train_seconds"] == pytest.approx(sum(parts.values()))
    # Mosaics in every phase, the pre-training on pseudo-masks too.
    for sub in ("teacher", "student-1-pseudo", "student-2"):
        assert json.loads((folder / sub / "config.json").read_text())[
            "mosaic"] == 0.5, sub
    # Negatives, whole or pasted, only where the labelled photos are fitted.
    for sub, negatives in (("teacher", 0.5), ("student-1-pseudo", 0.0),
                           ("student-2", 0.5)):
        saved = json.loads((folder / sub / "config.json").read_text())
        assert saved["negatives"] == saved["negative_pastes"] == negatives, \
            sub

    # The same command again trains nothing.
    assert train(config, verbose=0).model_path == run.model_path

    # --round-ensemble 3 averages the teacher and both students, found by
    # key: it trains nothing more.
    from catunet.models.saving import load_model
    from catunet.study.runstore import RunStore

    averaged = RunStore(tmp_path).run(dataclasses.replace(
        config, round_ensemble=3, out=str(tmp_path / "averaged")), verbose=0)
    record = json.loads((averaged.folder / "run.json").read_text())
    trained = [p for p in record["parts"]
               if not Path(p["folder"]).name.startswith("pseudo-")]
    assert len(trained) == 5 and all(p["reused"] for p in trained)
    members = [load_model(folder / sub / "cats.keras")
               for sub in ("teacher", "student-1", "student-2")]
    images = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3))
    expected = np.mean([m.predict(images, verbose=0) for m in members], axis=0)
    np.testing.assert_allclose(load_model(averaged.model_path).predict(
        images, verbose=0), expected, atol=1e-5)


def test_round_ensemble_needs_the_models_it_averages(tmp_path, shapes_dir):
    with pytest.raises(CatunetError, match="needs --unlabelled"):
        train(tiny(tmp_path, shapes_dir, round_ensemble=2), verbose=0)
    (tmp_path / "photos").mkdir()
    with pytest.raises(CatunetError, match="from 1 to 3"):
        train(tiny(tmp_path, shapes_dir, unlabelled=str(tmp_path / "photos"),
                   self_training_rounds=2, round_ensemble=4), verbose=0)


def test_teacher_needs_unlabelled(tmp_path, shapes_dir):
    with pytest.raises(CatunetError, match="--teacher"):
        train(tiny(tmp_path, shapes_dir, teacher="t.keras"), verbose=0)


def test_unlabelled_folder_must_hold_photos(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(CatunetError, match="no photos"):
        selftrain.unlabelled_photos(tmp_path / "empty")


def test_self_training_size_trains_teacher_and_pre_training_smaller(
        tmp_path, shapes_dir, monkeypatch):
    from catunet.models.saving import load_model

    # Sizes are under test, not the teacher: keep every pseudo-mask.
    monkeypatch.setattr(selftrain, "MIN_AREA", 0.0)
    monkeypatch.setattr(selftrain, "MAX_AREA", 1.0)
    unlabelled = write_folder(tmp_path / "more", n=6, seed=7) / "images"
    config = tiny(tmp_path, shapes_dir, unlabelled=str(unlabelled),
                  width=2, epochs=1, pseudo_epochs=1, pseudo_keep=1.0,
                  pseudo_holdout=0.0, self_training_size=16)
    run = train(config, verbose=0)
    folder = tmp_path / "run"
    sizes = {sub: json.loads((folder / sub / "config.json").read_text())
             ["image_size"] for sub in ("teacher", "student-1-pseudo",
                                        "student-1")}
    assert sizes == {"teacher": 16, "student-1-pseudo": 16, "student-1": 32}
    assert load_model(run.model_path).input_shape[1:3] == (32, 32)
    # The student fine-tuned from its pre-training's weights, of another
    # input size.
    pre = load_model(folder / "student-1-pseudo" / "pretrain.keras")
    assert pre.input_shape[1:3] == (16, 16)


def test_self_training_size_must_suit_the_model():
    with pytest.raises(CatunetError, match="--self-training-size"):
        TrainConfig(encoder="efficientnet-lite0", image_size=256,
                    self_training_size=100)
    with pytest.raises(CatunetError, match="--self-training-size"):
        TrainConfig(depth=4, self_training_size=24)
    assert TrainConfig(encoder="efficientnet-lite0", image_size=256,
                       unlabelled="u", self_training_size=128)
    notes = TrainConfig(self_training_size=64).without_effect()
    assert any("--self-training-size" in n and "--unlabelled" in n
               for n in notes)
