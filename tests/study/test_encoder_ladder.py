"""The encoder ladder's rule and report, on made-up fold results (the real
run is python -m catunet.study.encoder_ladder)."""

import json

import pytest

from catunet.study import encoder_ladder as ladder, encoder_report

KINDS = encoder_report.KINDS


def fake_runs(score):
    return [{"folder": f"runs/x-s{s}", "seconds": 60.0, "val_dice": score,
             "score": score + 0.01 * s,
             "scenes": {"dice": score, "kinds": {k: {"dice": score}
                                                 for k in KINDS}}}
            for s in range(3)]


@pytest.fixture
def climbed(monkeypatch):
    scores = {"base": 0.80, "image_size-128": 0.75, "image_size-192": 0.83,
              "image_size-192+freeze_epochs-5": 0.82}
    monkeypatch.setattr(ladder, "fold_runs",
                        lambda study, recipe, label, made, runs_dir:
                        fake_runs(scores[label]))
    steps = (("input size", "", [{"image_size": 128}, {"image_size": 192}]),
             ("frozen warm-up", "", [{"freeze_epochs": 5}]))
    return ladder.climb(None, None, "runs", steps)


def test_a_group_keeps_its_best_only_when_it_beats_the_recipe(climbed):
    recipe, best, rows = climbed
    assert recipe == {**ladder.BASE, "image_size": 192}
    assert [(r["step"], r["kept"]) for r in rows] == [
        ("base", True), ("input size", False), ("input size", True),
        ("frozen warm-up", False)]
    assert best[0]["val_dice"] == 0.83


def test_the_report_renders_every_row_from_the_summary(climbed):
    recipe, best, rows = climbed
    tried = [{"group": "plain", "settings": encoder_report.Settings().__dict__,
              "val_dice": [0.8] * 3, "scene_dice": [0.5] * 3, "kept": True}]
    summary = {"command": "cmd", "machine": {"cpu": "cpu", "cores": 2,
                                             "notable_flags": []},
               "precision": "float32", "code_version": "x", "seeds": 3,
               "split": {"train": 57, "test": 24},
               "scenes": {"frames": "davis", "per_fold": [1, 2, 3]},
               "steps": rows, "recipe": recipe,
               "inference": {"tried": tried, "chosen": tried[0]["settings"],
                             "best": tried[0]}, "final": None}
    text = encoder_report.markdown(json.loads(json.dumps(summary)))
    assert text.count("| input size |") == 2
    assert "--image-size 192" in text
    assert "finished recipe on the test photos" not in text  # no final


def test_the_report_shows_a_removed_setting_only_where_it_was_on():
    """ladder.json's rows of the detector gate, a setting since removed,
    hold it off in every other row."""
    plain = {**encoder_report.Settings().__dict__, "cat_boxes": 0.0,
             "cat_gate": 0.0}
    rows = [{"group": "plain", "settings": plain, "kept": True},
            {"group": "mended gate", "settings": {**plain, "cat_gate": 0.3},
             "kept": False}]
    tried = [{**r, "val_dice": [0.8] * 3, "scene_dice": [0.5] * 3}
             for r in rows]
    summary = {"command": "cmd", "machine": {"cpu": "cpu", "cores": 2,
                                             "notable_flags": []},
               "precision": "float32", "code_version": "x", "seeds": 3,
               "split": {"train": 57, "test": 24},
               "scenes": {"frames": "davis", "per_fold": [1, 2, 3]},
               "steps": [], "recipe": ladder.BASE,
               "inference": {"tried": tried, "chosen": plain,
                             "best": tried[0]}, "final": None}
    text = encoder_report.markdown(summary)
    table = [line for line in text.splitlines() if line.startswith("| ")]
    assert "| plain | plain |" in text
    assert "| mended gate | {'cat_gate': 0.3} |" in text
    assert not [line for line in table if "cat_boxes" in line]


def test_each_step_is_set_against_the_recipe_kept_before_it(climbed):
    recipe, best, rows = climbed
    against = [r["against"] for r in encoder_report.against_kept(rows)]
    assert against[0] is None
    # both sizes against the base (0.80); the warm-up against 192 (0.83)
    assert [round(d["mean"], 3) for d in against[1:]] == [-0.05, 0.03, -0.01]
    assert against[2]["differences"] == pytest.approx([0.03] * 3)


def test_each_change_measured_by_cheaper_is_a_step_of_its_own():
    def row(step, score, kept):
        return {"step": step, "score": [score] * 3, "kept": kept}

    rows = [row("base", 0.70, True), row("size", 0.72, True),
            row("size", 0.71, False), row("cheaper", 0.80, True),
            row("cheaper", 0.78, False)]
    against = [r["against"] for r in encoder_report.against_kept(rows)]
    # The sizes are one step's alternatives, both against the base; each
    # change against the recipe kept before it, the second against the first.
    assert [round(d["mean"], 3) for d in against[1:]] == \
        [0.02, 0.01, 0.08, -0.02]


def test_no_comparison_with_a_ladder_scored_on_other_scenes():
    ours = {"scenes": {"per_fold": [76, 76, 76]}}
    theirs = {"scenes": {"scenes_per_fold": [70, 76, 76]}}
    assert encoder_report.against_previous(ours, theirs) is None


@pytest.mark.parametrize("labelling, said", [
    ([2.5, 3.0], "labelling of the unlabelled photos (2.5, 3.0 min), the"),
    ([None, None], "not the teacher's labelling of the unlabelled photos")])
def test_readme_says_whether_the_minutes_count_the_labelling(labelling,
                                                              said):
    runs = [{"test_dice": 0.9, "test_dice_full_size": 0.9, "train_minutes": 9,
             "labelling_minutes": minutes} for minutes in labelling]
    summary = {"machine": {"cpu": "cpu", "cores": 2, "notable_flags": []},
               "split": {"train": 57, "test": 24},
               "recipe": {**ladder.BASE, "unlabelled": "pets",
                          "pseudo_keep": 0.2},
               "inference": {"chosen": encoder_report.Settings().__dict__},
               "final": {"runs": runs, "photo_interval": [0.8, 0.95],
                         "worst_photo": [0.7, 0.7]}}
    text = encoder_report.readme_section(summary)
    assert "--unlabelled pets" in text
    assert said in text
