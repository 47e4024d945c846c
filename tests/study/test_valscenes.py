"""Variants chosen on validation scenes, end to end at tiny widths."""

import dataclasses
import json

import numpy as np
import pytest

from catunet.data import scenes
from catunet.errors import CatunetError
from catunet.inference.predict import Settings
from catunet.study import experiments, quality, valscenes
from catunet.study import scenes as study_scenes
from catunet.study.quality import greedy_inference
from tests.conftest import write_folder
from tests.study.test_scenes_report import write_frames


def test_scenes_of_a_fold_hold_only_that_folds_cats(tmp_path, shapes_dir):
    study = experiments.Study.load(str(shapes_dir), seeds=2,
                                   split=str(tmp_path / "split.json"))
    frames = [("f.jpg", np.zeros((36, 64, 3), np.uint8),
               np.zeros((36, 64), np.uint8))]
    made = study_scenes.fold_scenes(study, frames, seed=0)
    for k, fold in enumerate(made):
        names = set(study.fold_names(k))
        assert {cat for scene in fold for cat in scene.cats} <= names
        assert len(fold) == len(names) * len(scenes.KINDS)
    test = {p.image.name for p in study.test_pairs}
    assert not test & {c for fold in made for s in fold for c in s.cats}


def test_the_variants_are_the_ladders_steps_of_the_same_names():
    assert list(valscenes.variants()) == ["copy-paste-on-cats", "wider-zoom",
                                          "mosaic"]
    teachers = experiments.PerSeed(["t0.keras", "t1.keras"], "teachers")
    offered = valscenes.variants("horses", "pets", teachers)
    steps = quality.step_settings("pets", teachers, "horses")
    assert list(offered) == ["copy-paste-on-cats", "wider-zoom", "mosaic",
                             "copy-paste", "self-training",
                             "self-training+mosaic",
                             "self-training+more-unlabelled",
                             "self-training+more-unlabelled+mosaic"]
    assert all(offered[name] == steps[name] for name in offered
               if "+" not in name)
    assert offered["self-training+mosaic"] == {**steps["self-training"],
                                               **steps["mosaic"]}
    assert offered["self-training"]["teacher"](1) == "t1.keras"
    assert valscenes.against("self-training+mosaic") == "self-training"
    assert valscenes.against("mosaic") == "transfer"
    assert offered["self-training+more-unlabelled+mosaic"] == {
        **steps["self-training"], "pseudo_keep": 1.0, "mosaic": 0.5}
    assert valscenes.against("self-training+more-unlabelled+mosaic") == \
        "self-training+more-unlabelled"


def test_the_choosing_score_is_the_mean_of_photos_and_scenes():
    assert study_scenes.choosing_score(0.8, 0.4) == pytest.approx(0.6)
    assert study_scenes.choosing_score([0.8, 0.6], [0.4, 0.2]) == \
        pytest.approx([0.6, 0.4])


def test_greedy_inference_keeps_a_group_only_when_it_raises_the_criterion():
    # A made-up score: best at threshold 0.3, helped by filling holes and
    # most by zoom 2, hurt by test-time augmentation and by dropping specks.
    def measure(settings):
        value = (-abs(settings.threshold - 0.3) + 0.1 * settings.fill_holes
                 - 0.1 * settings.tta - settings.min_area
                 + {1: 0, 2: 0.05, 3: 0.02}[settings.zoom])
        return {"settings": dataclasses.asdict(settings), "value": value}

    chosen = greedy_inference(measure, lambda r: r["value"])
    assert chosen["chosen"] == dataclasses.asdict(
        Settings(threshold=0.3, fill_holes=True, zoom=2))
    kept = [t["group"] for t in chosen["tried"] if t["kept"]]
    assert kept == ["plain", "zoom", "threshold", "fill holes"]


def test_frames_that_are_also_paste_backgrounds_are_refused(tmp_path):
    with pytest.raises(CatunetError, match="also a paste background"):
        study_scenes.check_frames_apart(tmp_path / "davis",
                                     f"{tmp_path}/horses,{tmp_path}/davis")
    study_scenes.check_frames_apart(tmp_path / "davis", f"{tmp_path}/horses")


@pytest.mark.slow
def test_variants_are_scored_on_photos_and_scenes(tmp_path, shapes_dir,
                                                  monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CATUNET_DATA_DIR", str(shapes_dir))
    monkeypatch.setitem(experiments.TRANSFER_VARIANTS, valscenes.TRANSFER,
                        {"init": experiments.PRETRAINED, "freeze_epochs": 1,
                         "fine_tune_learning_rate": 3e-3})
    horses = write_folder(tmp_path / "horses", n=10, seed=1)
    frames = write_frames(tmp_path / "davis")
    summary = valscenes.run(
        horses, frames, str(horses), seeds=2, pretrain_epochs=2,
        names=["copy-paste"],
        split=str(tmp_path / "split.json"), width=2, depth=2, epochs=2,
        batch_size=4, image_size=32)
    valscenes.write_report(summary, tmp_path)
    assert json.loads((tmp_path / "valscenes.json").read_text()) == \
        json.loads(json.dumps(summary))
    assert list(summary["results"]) == ["transfer", "copy-paste"]
    assert summary["frames"]["count"] == 6
    for name, runs in summary["results"].items():
        assert [r["config"]["val_fold"] for r in runs] == [0, 1]
        for r in runs:
            kinds = r["scenes"]["kinds"]
            assert set(kinds) == set(scenes.KINDS)
            assert r["scenes"]["dice"] == pytest.approx(
                np.mean([k["dice"] for k in kinds.values()]))
            assert r["score"] == pytest.approx(
                (r["val_dice"] + r["scenes"]["dice"]) / 2)
    copy_paste = summary["results"]["copy-paste"][0]["config"]
    assert copy_paste["copy_paste"] == 1.0
    assert copy_paste["paste_backgrounds"] == str(horses)
    verdict = summary["verdicts"]["copy-paste"]
    ours = [r["score"] for r in summary["results"]["copy-paste"]]
    base = [r["score"] for r in summary["results"]["transfer"]]
    assert verdict["wins"] == (np.mean(ours) > np.mean(base))
    assert verdict["score"]["differences"] == pytest.approx(
        np.subtract(ours, base).tolist())
    for rule in ("photos", "score"):
        best = summary["inference"][rule]["best"]
        assert len(best["val_dice"]) == len(best["scene_dice"]) == 2
        assert set(best["scene_kinds"]) == set(scenes.KINDS)
    tried = summary["inference"]["photos"]["tried"]
    assert tried[0]["val_dice"] == pytest.approx(
        [r["val_dice"] for r in summary["results"]["transfer"]], abs=1e-6)
    assert tried[0]["scene_dice"] == pytest.approx(
        [r["scenes"]["dice"] for r in summary["results"]["transfer"]])
    report = (tmp_path / "valscenes.md").read_text()
    assert "## Inference settings, chosen by each rule" in report
    assert "| copy-paste |" in report and "fixed before the runs" in report
    assert "**copy-paste**" in report


def test_a_combination_needs_its_first_part(tmp_path):
    with pytest.raises(SystemExit, match="train self-training too"):
        valscenes.main(["--pretrain-dir", str(tmp_path), "--frames",
                        str(tmp_path / "davis"), "--unlabelled", "pets",
                        "--variants", "self-training+mosaic"])


def test_an_unknown_variant_is_refused(tmp_path):
    with pytest.raises(SystemExit, match="unknown variants nope"):
        valscenes.main(["--pretrain-dir", str(tmp_path), "--frames",
                        str(tmp_path / "davis"), "--variants", "nope"])
