"""The validation folds' and the final runs' bookkeeping (the runs
themselves are trained by python -m catunet.study.encoder_ladder)."""

import json

import numpy as np

import pytest

from catunet.study import encoder_ladder as ladder, folds


def test_bootstrap_interval_holds_the_mean_and_narrows_with_agreement():
    spread = np.linspace(0.5, 1.0, 24)
    low, high = folds.bootstrap_interval(spread)
    assert low < spread.mean() < high
    close = folds.bootstrap_interval(np.full(24, 0.9) + spread / 100)
    assert close[1] - close[0] < (high - low) / 10


def test_each_recipe_trains_its_final_runs_in_its_own_folder():
    """A recipe that changed since the last finished one must not land in
    that one's folder (which the run store refuses, ending the ladder)."""
    base = folds.final_folder("runs/encoder", ladder.BASE, 0, ladder.BASE)
    colour = folds.final_folder(
        "runs/encoder", {**ladder.BASE, "augment": "recommended,hue"}, 0,
        ladder.BASE)
    assert base.name == "final-base-s0"
    # No comma: a self-training run trains on the photos it writes inside
    # its folder, and a comma separates folders in --data-dir.
    assert colour.name == "final-augment-recommended_hue-s0"
    assert base != colour


@pytest.mark.parametrize("seeds", [0, 3])
def test_a_study_is_written_before_its_final_seeds_train(monkeypatch, seeds):
    """Hours of final training never hold back the validation result."""
    on_disk, trained = [], []

    def fake_final(study, recipe, settings, final_seeds, runs_dir, base,
                   *resumed):
        trained.append((on_disk[-1]["final_pending"], final_seeds))
        return {"test_dice": 0.9}

    monkeypatch.setattr(folds, "final", fake_final)
    summary = folds.report_then_final(
        {"score": 0.8}, lambda s: on_disk.append(dict(s)), 0.0, seeds,
        "study", {"epochs": 1}, "settings", "runs", {})
    assert on_disk[0] == {"score": 0.8, "final": None,
                          "final_pending": bool(seeds),
                          "wall_minutes": on_disk[0]["wall_minutes"]}
    assert trained == ([(True, 3)] if seeds else [])
    assert len(on_disk) == (2 if seeds else 1) and on_disk[-1] == summary
    assert not summary["final_pending"]
    assert summary["final"] == ({"test_dice": 0.9} if seeds else None)


def test_labelling_minutes_come_from_each_rounds_labels(tmp_path):
    assert folds.labelling_minutes(tmp_path) == 0  # no self-training
    for r, seconds in ((1, 90.0), (2, 30.0)):
        (tmp_path / f"pseudo-{r}").mkdir()
        (tmp_path / f"pseudo-{r}" / "pseudo-labels.json").write_text(
            json.dumps({"kept": 1, "seconds": seconds}))
    assert folds.labelling_minutes(tmp_path) == pytest.approx(2.0)
    (tmp_path / "pseudo-3").mkdir()  # labelled before it was timed
    (tmp_path / "pseudo-3" / "pseudo-labels.json").write_text("{}")
    assert folds.labelling_minutes(tmp_path) is None


def test_a_report_opens_with_its_split_folds_and_scenes(tmp_path, shapes_dir):
    from catunet.study.variants import Study

    study = Study.load(str(shapes_dir), seeds=2,
                       split=str(tmp_path / "split.json"))
    head = folds.opening(study, [["a", "b"], ["c"]], "davis", None, "cmd")
    assert head["command"] == "cmd" and head["seeds"] == 2
    assert head["split"]["train"] + head["split"]["test"] == 12
    assert head["split"]["train"] == sum(len(v[0]) for v in study.val)
    assert head["scenes"] == {"frames": "davis", "apart": None,
                              "per_fold": [2, 1]}
