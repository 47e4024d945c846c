"""The rule and report of a change that only saves time, on made-up fold
results against the committed encoder ladder (the real run is
python -m catunet.study.cheaper)."""

import json
from pathlib import Path

import pytest

from catunet.study import cheaper, encoder_report, folds

ROOT = Path(__file__).resolve().parents[2]
LADDER = ROOT / "reports" / "encoder-ladder"


def test_a_cheaper_change_ships_only_within_the_bound():
    assert cheaper.ships(0.790, 0.793)
    assert cheaper.ships(0.800, 0.793)
    assert not cheaper.ships(0.787, 0.793)
    assert not cheaper.ships(0.790, 0.793, bound=0.0)


def test_a_change_that_costs_time_ships_only_past_the_bound():
    assert cheaper.ships(0.798, 0.793, costs_time=True)
    assert not cheaper.ships(0.797, 0.793, costs_time=True)
    assert not cheaper.ships(0.790, 0.793, costs_time=True)


def shifted(best, by):
    """``best`` (a chosen inference's scores) with every scene lower by
    ``by``."""
    return {**best, "scene_dice": [d - by for d in best["scene_dice"]],
            "scene_kinds": {k: [d - by for d in v]
                            for k, v in best["scene_kinds"].items()}}


def measured(monkeypatch, tmp_path, by, costs_time=False, against=LADDER,
             labels=None):
    """Runs ``cheaper.run`` against a committed report (default the
    ladder), the change's folds and inference faked as that recipe's with
    scenes ``by`` lower; returns the summary and what ``final`` was asked
    to train (and adds the fold runs' folder name to ``labels``)."""
    shipped = json.loads((against / "ladder.json").read_text())
    best = shifted(shipped["inference"]["best"], by)
    runs = [{"folder": f"runs/x-s{s}", "seconds": 600.0,
             "val_dice": best["val_dice"][s],
             "score": (best["val_dice"][s] + best["scene_dice"][s]) / 2,
             "scenes": {"dice": best["scene_dice"][s], "kinds": {
                 k: {"dice": v[s]} for k, v in best["scene_kinds"].items()}}}
            for s in range(3)]
    finals, written = [], []

    class FakeStudy:
        manifest, train_pairs, test_pairs, val = {"seed": 0}, [0] * 57, \
            [0] * 24, [[], [], []]

    monkeypatch.setattr(cheaper.Study, "load", lambda *a: FakeStudy())
    monkeypatch.setattr(cheaper, "ladder_scenes",
                        lambda *a: (None, [[0] * 76] * 3))
    monkeypatch.setattr(cheaper, "fold_runs", lambda *a: (
        labels if labels is not None else []).append(a[2]) or runs)
    monkeypatch.setattr(cheaper, "part_minutes", lambda runs: {})
    monkeypatch.setattr(cheaper, "choose_inference", lambda *a: {
        "tried": [{"group": "plain", **best, "kept": True}],
        "chosen": best["settings"], "best": best})

    def fake_final(study, recipe, *a):
        # What the report said while the final seeds trained.
        written.append((tmp_path / "ladder.md").read_text())
        finals.append((recipe, a[1]))
        return shipped["final"]

    monkeypatch.setattr(folds, "final", fake_final)
    summary = cheaper.run({"epochs": 20}, "davis", final_seeds=3,
                          report=tmp_path, command="cmd", against=against,
                          costs_time=costs_time)
    return summary, finals, written


def test_a_change_that_scores_lower_neither_ships_nor_looks_at_test(
        monkeypatch, tmp_path):
    summary, finals, _ = measured(monkeypatch, tmp_path, by=0.05)
    assert not summary["ships"] and finals == [] and summary["final"] is None
    assert summary["steps"][-1]["change"] == {"epochs": 20}
    assert not summary["steps"][-1]["kept"]
    text = (tmp_path / "ladder.md").read_text()
    assert "## Against the recipe it changes" in text
    assert f"The recipe of `{LADDER.as_posix()}`" in text
    assert "this one does not ship" in text
    assert "| choosing score | 0.768 | 0.793 | -0.025" in text


def test_a_change_within_the_bound_ships_and_trains_its_final_seeds(
        monkeypatch, tmp_path):
    summary, finals, written = measured(monkeypatch, tmp_path, by=0.004)
    assert summary["ships"] and summary["recipe"]["epochs"] == 20
    assert [(recipe["epochs"], seeds) for recipe, seeds in finals] == [(20, 3)]
    text = (tmp_path / "ladder.md").read_text()
    assert "this one ships." in text and "not trained yet" not in text
    assert "## The finished recipe on the test photos" in text
    assert not summary["final_pending"] and summary["final"] is not None


def test_a_change_that_ships_is_reported_before_its_final_seeds_train(
        monkeypatch, tmp_path):
    _, _, [during] = measured(monkeypatch, tmp_path, by=0.004)
    assert "this one ships. Its final seeds are not all trained yet" in during
    assert "## The finished recipe on the test photos" not in during
    assert json.loads((tmp_path / "ladder.json").read_text())["final"]


def test_a_change_that_costs_time_within_the_bound_does_not_ship(
        monkeypatch, tmp_path):
    summary, finals, _ = measured(monkeypatch, tmp_path, by=0.004,
                                  costs_time=True)
    assert not summary["ships"] and finals == [] and summary["costs_time"]
    assert "a change that costs time ships when its choosing score here is " \
        "at least 0.005 above that recipe's; this one does not " \
        "ship" in (tmp_path / "ladder.md").read_text()


def test_a_change_to_the_recipe_that_ships_trains_that_recipe_changed(
        monkeypatch, tmp_path):
    against = ROOT / encoder_report.SHIPPING
    labels = []
    summary, _, _ = measured(monkeypatch, tmp_path, by=0.05,
                             against=against, labels=labels)
    lite2 = json.loads((against / "ladder.json").read_text())
    assert summary["recipe"] == {**lite2["recipe"], "epochs": 20}
    assert summary["steps"][:-1] == lite2["steps"]
    # The fold runs of every change kept so far, Lite2's included, then
    # this one: the folder name the Lite2 report's runs extend.
    assert labels == ["augment-recommended_saturation_hue_grayscale+mosaic-"
                      "0.5+mosaic_grids-2_3+unlabelled-.._shared_data_pet-"
                      "cats+pseudo_keep-0.2+encoder-efficientnet-lite2+"
                      "epochs-20"]
    assert summary["against"] == against.as_posix()
    text = (tmp_path / "ladder.md").read_text()
    assert f"The recipe of `{against.as_posix()}`" in text
    # The machines of the rows before this one: the ladder's rows' (the
    # AMX CPU), then the Lite2 row's.
    assert summary["rows_machine"] == [lite2["rows_machine"],
                                       lite2["machine"]]


def test_rows_of_another_machine_are_named_and_one_machine_is_not():
    amx = {"cpu": "Xeon", "cores": 2, "notable_flags": ["avx2", "amx_tile"]}
    avx512 = {**amx, "notable_flags": ["avx2", "avx512f"]}
    named = encoder_report.rows_machine({"machine": avx512,
                                         "rows_machine": amx})
    assert named and "amx_tile" in named
    assert encoder_report.rows_machine({"machine": amx,
                                        "rows_machine": amx}) is None
    assert encoder_report.rows_machine({"machine": amx}) is None
    both = encoder_report.rows_machine({"machine": avx512,
                                        "rows_machine": [amx, avx512]})
    assert "amx_tile" in both and " and " in both


SELF_TRAINING_PARTS = ["teacher", "pseudo-1", "student-1-pseudo", "student-1"]


@pytest.mark.parametrize("name, ships, parts", [
    ("shorter-training-measured", False, SELF_TRAINING_PARTS),
    ("small-self-training-measured", False, SELF_TRAINING_PARTS),
    ("lite2-measured", False, SELF_TRAINING_PARTS),
    ("lite2-full-measured", True, SELF_TRAINING_PARTS),
    ("freeze-stride-8-measured", True, SELF_TRAINING_PARTS),
    ("no-self-training-measured", False, []),
    ("shorter-pretraining-lite2-measured", False, SELF_TRAINING_PARTS),
    ("one-phase-student-measured", False,
     ["teacher", "pseudo-1", "student-1"])])
def test_the_committed_reports_render_from_their_json(name, ships, parts):
    folder = LADDER / name
    summary = json.loads((folder / "ladder.json").read_text())
    assert encoder_report.markdown(summary) == \
        (folder / "ladder.md").read_text()
    assert summary["ships"] == ships
    # Only a change that ships trains its final seeds and scores the test
    # photos; one still training them (catunet.study.finals resumes it)
    # keeps the seeds done so far, unsummarised.
    if summary.get("final_pending"):
        assert ships and summary["final"] is None
        assert len(summary.get("final_runs", [])) < summary["final_seeds"]
    else:
        assert (summary["final"] is not None) == ships
    # Where a fold's minutes went: the four parts of self-training, which
    # add up to the row's minutes a fold (none for a run without it).
    assert list(summary["part_minutes"]) == parts
    if parts:
        row = summary["steps"][-1]["train_minutes"]
        for fold, minutes in enumerate(row):
            assert sum(p[fold] for p in summary["part_minutes"].values()) \
                == pytest.approx(minutes, rel=0.02)


def test_part_minutes_reads_each_folds_run_record(tmp_path):
    for fold, seconds in enumerate([(60, 30), (120, 90)]):
        folder = tmp_path / f"s{fold}"
        folder.mkdir()
        (folder / "run.json").write_text(json.dumps({"parts": [
            {"folder": f"{folder}/teacher", "seconds": seconds[0]},
            {"folder": f"{folder}/student-1", "seconds": seconds[1]}]}))
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "run.json").write_text("{}")
    runs = [{"folder": str(tmp_path / f)} for f in ("s0", "s1", "plain")]
    assert cheaper.part_minutes(runs) == {"teacher": [1.0, 2.0],
                                          "student-1": [0.5, 1.5]}


def test_help_names_the_report_of_the_recipe_that_ships(capsys):
    with pytest.raises(SystemExit):
        cheaper.main(["--help"])
    # Without whitespace: the help wraps lines, at spaces or hyphens.
    said = "".join(capsys.readouterr().out.split())
    assert f"{encoder_report.SHIPPING.as_posix()}istherecipethatships" \
        in said


def test_a_change_needs_frames():
    with pytest.raises(SystemExit):
        cheaper.main(["--change", "{}"])


def test_readme_names_the_recipe_and_its_report_not_its_history():
    summary = json.loads((ROOT / encoder_report.SHIPPING /
                          "ladder.json").read_text())
    text = encoder_report.readme_section(summary)
    assert "The U-Net over EfficientNet-Lite2 with ImageNet weights, its " \
        "recipe chosen" in text
    assert f"]({encoder_report.SHIPPING.as_posix()}/ladder.md)" in text
    # How each change on the way scored is the report's (its rows), not
    # README's.
    assert "scored" not in text.split("```")[0]
    ladder = encoder_report.readme_section(
        json.loads((LADDER / "ladder.json").read_text()))
    assert "The U-Net over EfficientNet-Lite0 with ImageNet weights, its " \
        "recipe chosen" in ladder


def test_the_parts_are_told_as_the_student_trains():
    two = {"recipe": {}, "part_minutes": dict.fromkeys(SELF_TRAINING_PARTS)}
    assert [role for _, role in encoder_report.part_roles(two)][-2:] == [
        "the pre-training on its pseudo-masks", "the fine-tuning"]
    one = {"recipe": {"one_phase_student": True},
           "part_minutes": dict.fromkeys(["teacher", "pseudo-1", "student-1"])}
    assert [part for part, _ in encoder_report.part_roles(one)] == [
        "teacher", "pseudo-1", "student-1"]
    assert "together" in encoder_report.part_roles(one)[-1][1]
    assert encoder_report.part_roles({"recipe": {}}) == []
