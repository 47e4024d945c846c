"""The quality ladder at tiny widths: the self-training steps, the teacher
per seed, the inference choice on validation, the report. The steps that
change the network and copy-paste are in ``test_quality_network.py``; the
schedule step only sets what ``tests/test_train.py`` trains with.

The second-round step's mechanism is tested in ``tests/test_selftrain.py``,
and a later round's reuse of the earlier rounds in
``tests/study/test_runstore.py``."""

import argparse
import json
from pathlib import Path

import numpy as np
import pytest

from catunet.data import augment
from catunet.errors import CatunetError
from catunet.study import quality
from catunet.study.reports import ladder_seconds
from tests.study.ladder import climb

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("ladder")


def test_every_step_changes_training_settings():
    from catunet.training.config import TrainConfig

    adds = quality.step_settings("pets", "teachers", "davis")
    assert set(adds) | set(quality.ARCHITECTURE) == set(quality.STEPS)
    defaults = TrainConfig()
    for name, add in adds.items():
        assert add and all(hasattr(defaults, k) for k in add), name
        assert any(getattr(defaults, k) != v for k, v in add.items()), name
    assert adds["more-unlabelled"] == {"pseudo_keep": 1.0}
    assert adds["second-round"] == {"self_training_rounds": 2}
    assert adds["all-pseudo"] == {"pseudo_holdout": 0.0}
    assert adds["third-round"] == {"self_training_rounds": 3}
    assert adds["longer-pseudo"] == {"pseudo_epochs": 20}
    assert adds["schedule"] == {"schedule": "cosine", "warmup_epochs": 2}
    assert adds["weight-average"] == {"ema": 0.99}
    assert adds["mosaic"] == {"mosaic": 0.5}
    assert adds["shorter-fine-tune"] == {"epochs": 40, "freeze_epochs": 10}
    assert augment.parse_spec(adds["wider-zoom"]["augment"]) == {
        **augment.parse_spec("recommended"), "zoom": 0.4}
    assert augment.parse_spec(adds["colour"]["augment"]) == {
        **augment.parse_spec("recommended"),
        **{n: augment.TECHNIQUES[n][0] for n in augment.COLOUR}}


def test_self_training_steps(folder, shapes_dir, monkeypatch):
    summary, study = climb(folder, shapes_dir, monkeypatch,
                           ["self-training", "all-pseudo"], final_seeds=0)
    names = [step["name"] for step in summary["steps"]]
    assert names == ["transfer", "self-training", "all-pseudo"]
    teacher_runs = summary["steps"][0]["runs"]
    for seed, run in enumerate(summary["steps"][1]["runs"]):
        assert run["config"]["teacher"] == \
            f"{teacher_runs[seed]['folder']}/cats.keras"
        assert run["config"]["val_fold"] == seed
        assert run["config"]["pseudo_keep"] == 0.5
        assert run["config"]["pseudo_holdout"] == 0.3
    # The next step builds on the self-training recipe when it was kept.
    every = summary["steps"][2]["runs"][0]
    assert every["config"]["pseudo_holdout"] == 0.0
    assert bool(every["config"]["unlabelled"]) == summary["steps"][1]["kept"]
    if every["config"]["unlabelled"]:
        held = json.loads((Path(every["folder"]) / "pseudo-1" /
                           "split.json").read_text())
        assert held["test"] == []
    tried = summary["inference"]["tried"]
    assert tried[0]["group"] == "plain"
    assert len(tried) == 1 + 1 + 4 + 3 + 5 + 1 + 3 + 4
    assert sum(t["kept"] for t in tried[1:]) <= 7
    assert [len(d) for d in tried[0]["val_dice_per_image"]] == \
        [len(study.val[k][0]) for k in range(2)]
    reports = folder / "reports"
    quality.draw_worst_three(summary, study, reports)
    quality.write_quality_report(summary, reports)
    text = (reports / "quality.md").read_text()
    assert "| transfer |" in text and "| self-training |" in text
    assert "| all-pseudo |" in text
    minutes = ladder_seconds(summary) / 60
    assert minutes > 0 and f"All the ladder's training: {minutes:.0f} min" \
        in text
    # The photos that move most from step to step, from the runs' scores.
    found = summary["validation_photos"]
    first = found["photos"][0]
    fold = first["fold"]
    assert first["name"] in study.fold_names(fold)
    assert len(study.fold_names(fold)) == len(study.val[fold][0])
    index = study.fold_names(fold).index(first["name"])
    dice = [step["runs"][fold]["val_dice_per_image"][index]
            for step in summary["steps"]]
    assert first["lowest"] == min(dice) and first["highest"] == max(dice)
    assert first["range"] == max(p["range"] for p in found["photos"])
    for step in summary["steps"]:
        for run in step["runs"]:
            assert run["val_dice"] == pytest.approx(
                np.mean(run["val_dice_per_image"]))
    assert [f["fold"] for f in found["folds"]] == [0, 1]
    assert f"| {first['name']} | {fold} |" in text
    assert "decide the ladder" in text


def test_a_ladder_on_scenes_chooses_by_the_choosing_score(
        folder, shapes_dir, monkeypatch):
    from tests.study.test_scenes_report import write_frames

    with pytest.raises(CatunetError, match="also a paste background"):
        climb(folder, shapes_dir, monkeypatch, ["mosaic"], final_seeds=0,
              scenes_frames=folder / "horses")
    with pytest.raises(CatunetError, match="needs --negative-photos"):
        climb(folder, shapes_dir, monkeypatch, ["negatives"], final_seeds=0)
    frames = folder / "davis"
    if not frames.exists():
        write_frames(frames)
    summary, _ = climb(folder, shapes_dir, monkeypatch, ["mosaic"],
                       final_seeds=0, scenes_frames=frames)
    transfer, step = summary["steps"]
    assert step["runs"][0]["config"]["mosaic"] == 0.5
    for run in transfer["runs"] + step["runs"]:
        assert run["score"] == pytest.approx(
            (run["val_dice"] + run["scenes"]["dice"]) / 2)
    assert step["kept"] == bool(
        np.mean([r["score"] for r in step["runs"]])
        > np.mean([r["score"] for r in transfer["runs"]]))
    tried = summary["inference"]["tried"]
    assert all(len(t["scene_dice"]) == 2 for t in tried)
    kept = [t for t in tried if t["kept"]]  # each raised the score
    assert [quality.by_score(t) for t in kept] == sorted(
        quality.by_score(t) for t in kept)
    assert summary["inference"]["chosen"] == kept[-1]["settings"]
    assert summary["scenes"]["frames"] == str(frames)
    reports = folder / "scene-reports"
    reports.mkdir()
    quality.write_quality_report(summary, reports)
    text = (reports / "quality.md").read_text()
    assert "raises the mean *choosing score*" in text
    assert "| validation scenes | choosing score |" in text
    row = next(line for line in text.splitlines()
               if line.startswith("| mosaic |"))
    assert row.count("|") == 10 and "95% CI" in row


def test_continuing_a_recorded_ladder(folder, shapes_dir, monkeypatch):
    recorded, _ = climb(folder, shapes_dir, monkeypatch, ["self-training"],
                        final_seeds=0)
    # Whatever the tiny runs measured, continue as if it had been kept.
    recorded["steps"][1]["kept"] = True
    # ... and as if it had trained its final recipe on two seeds.
    recorded["final"] = [{"seed": s, "test_dice": d, "seconds": 60.0,
                          "folder": f"runs/elsewhere/final-s{s}",
                          "config": {"precision": "mixed_bfloat16"}}
                         for s, d in ((0, 0.61), (1, 0.65))]
    summary, study = climb(folder, shapes_dir, monkeypatch,
                           ["round-ensemble"], final_seeds=0,
                           recorded=recorded)
    steps = summary["steps"]
    assert [s["name"] for s in steps] == [
        "transfer", "self-training", quality.RETRAINED_TRANSFER,
        quality.RETRAINED_RECIPE, "round-ensemble"]
    assert [bool(s.get("recorded")) for s in steps] == [True] * 2 + [False] * 3
    assert steps[1]["runs"] == recorded["steps"][1]["runs"]
    teachers, baseline, averaged = (steps[i]["runs"] for i in (2, 3, 4))
    for seed in range(2):
        # The kept recipe, retrained: taught by this ladder's transfer runs.
        assert baseline[seed]["config"]["teacher"] == \
            f"{teachers[seed]['folder']}/cats.keras"
        assert baseline[seed]["config"]["round_ensemble"] == 1
        # The new step on top of it: the same parts, averaged.
        assert averaged[seed]["config"]["round_ensemble"] == 2
        assert averaged[seed]["config"]["unlabelled"] == \
            baseline[seed]["config"]["unlabelled"]
        record = json.loads((Path(averaged[seed]["folder"]) / "run.json")
                            .read_text())
        assert all(part["reused"] for part in record["parts"])
    assert summary["continues"]["kept"] == ["self-training"]
    assert summary["continues"]["seconds"] == ladder_seconds(recorded)
    own = [r for s in steps[2:] for r in s["runs"]]
    assert ladder_seconds(summary) <= sum(r["seconds"] for r in own) + sum(
        p["seconds"] for p in summary["pretrained"].values())

    reports = folder / "continued"
    quality.draw_worst_three(summary, study, reports)
    quality.write_quality_report(summary, reports)
    text = (reports / "quality.md").read_text()
    assert "This ladder continues an earlier one: its first 2 rows" in text
    assert "kept steps (self-training) were not validated again" in text
    chosen = ", ".join(f"{k} {v}" for k, v in
                       recorded["inference"]["chosen"].items())
    assert ("Its final recipe, trained there on all the training photos, "
            "scored test Dice 0.630 ± 0.028 (per seed 0.610, 0.650; "
            f"mixed_bfloat16; inference {chosen})") in text
    # The retrained transfer row has no paired row above it; the steps
    # after it are paired with the retrained recipe.
    row = next(line for line in text.splitlines()
               if line.startswith(f"| {quality.RETRAINED_TRANSFER} |"))
    assert "CI" not in row
    row = next(line for line in text.splitlines()
               if line.startswith("| round-ensemble |"))
    assert "CI" in row


def test_a_step_climbed_a_fold_at_a_time(folder, shapes_dir, monkeypatch):
    from catunet.study import folds

    recorded, _ = climb(folder, shapes_dir, monkeypatch, ["self-training"],
                        final_seeds=0)
    recorded["steps"][1]["kept"] = True
    at_once, _ = climb(folder, shapes_dir, monkeypatch, ["round-ensemble"],
                       final_seeds=0, recorded=recorded)
    book = folder / "folds" / folds.FOLDS_FILE
    book.parent.mkdir(exist_ok=True)
    records = []
    for fold in (1, 0):  # any order
        record, study = climb(folder, shapes_dir, monkeypatch,
                              ["round-ensemble"], final_seeds=0,
                              recorded=recorded, fold=fold)
        assert record["fold"] == fold
        assert [r["run"]["config"]["val_fold"] for r in record["rows"]] == \
            [fold] * 3
        record["command"] = f"python -m catunet.study.quality --fold {fold}"
        records.append(record)
        merged = folds.merge(book, record)
    assert folds.missing(json.loads(book.read_text())) == []
    assert list(merged["folds"]) == ["0", "1"]
    # The first fold's record alone leaves the other to train.
    assert folds.missing({"folds": {"1": records[0]}}) == [0]
    summary = quality.assemble(merged, recorded, study)
    # The same rows as the ladder climbed at once: the same runs (found by
    # key in the run store), so the same decision.
    ours = [s for s in summary["steps"] if not s.get("recorded")]
    theirs = [s for s in at_once["steps"] if not s.get("recorded")]
    assert [s["name"] for s in ours] == [s["name"] for s in theirs]
    assert [s["kept"] for s in ours] == [s["kept"] for s in theirs]
    for mine, other in zip(ours, theirs):
        assert [r["val_dice"] for r in mine["runs"]] == \
            [r["val_dice"] for r in other["runs"]]
    assert summary["inference"]["chosen"] == recorded["inference"]["chosen"]
    assert summary["command"].endswith("--fold S (S = 0, 1)")
    assert ladder_seconds(summary) == sum(
        f["seconds"] for f in summary["folds"]) > 0
    reports = folder / "folds"
    quality.write_quality_report(summary, reports)
    text = (reports / "quality.md").read_text()
    assert "Climbed a fold per sitting (`--fold S`)" in text
    assert "one CPU and precision: fold 0 on " in text and "; fold 1 on " in text
    assert "not chosen again here" in text
    assert "| round-ensemble |" in text and "**The final recipe**" not in text
    # The assembled ladder is itself a recorded ladder to continue: its
    # kept recipe (the last kept row) is the next step's baseline.
    assert "recipe_steps" not in summary
    last_kept = [s for s in summary["steps"] if s["kept"]][-1]
    again, _ = climb(folder, shapes_dir, monkeypatch, ["schedule"],
                     final_seeds=0, recorded=summary, fold=0)
    assert [r["name"] for r in again["rows"]] == [
        quality.RETRAINED_TRANSFER, quality.RETRAINED_RECIPE, "schedule"]
    assert again["rows"][1]["run"]["val_dice"] == last_kept["runs"][0]["val_dice"]
    # Continued with no steps, every fold's kept model is found by key and
    # the inference settings are chosen again on them all.
    chosen, _ = climb(folder, shapes_dir, monkeypatch, [], final_seeds=0,
                      recorded=summary)
    assert [s["name"] for s in chosen["steps"] if not s.get("recorded")] == \
        [quality.RETRAINED_TRANSFER, quality.RETRAINED_RECIPE]
    assert [r["val_dice"] for r in chosen["steps"][-1]["runs"]] == \
        [r["val_dice"] for r in last_kept["runs"]]
    assert not chosen["inference"].get("from_recorded")
    assert chosen["inference"]["tried"][0]["group"] == "plain"
    # REPORT.md shows a ladder continued in a folder of its own.
    from catunet.study import report
    lines = report.later_ladders_lines(folder)
    assert "### The ladder continued: `reports/folds`" in lines
    assert any(line.startswith("| round-ensemble |") for line in lines)
    # A fold of another ladder is refused, not mixed in.
    other = {**records[0], "fold": 0, "steps_climbed": ["mosaic"]}
    with pytest.raises(CatunetError, match="other steps_climbed"):
        folds.merge(book, other)
    # Nor is a fold the ladder cannot climb alone.
    with pytest.raises(CatunetError, match="the folds are 0 to 1"):
        quality.check_fold(2, 2, recorded, ["mosaic"])
    with pytest.raises(CatunetError, match="exactly one --steps"):
        quality.check_fold(0, 2, recorded, ["mosaic", "schedule"])
    with pytest.raises(CatunetError, match="give --from-recorded"):
        quality.check_fold(0, 2, None, ["mosaic"])


def test_a_ladder_continues_only_what_it_can_compare_with():
    recorded = {"split": {"fingerprint": "a"}, "seeds": 3,
                "settings": {"width": 8, "epochs": 80},
                "steps": [{"name": "transfer", "kept": True},
                          {"name": "self-training", "kept": True},
                          {"name": "capacity", "kept": False},
                          {"name": quality.RETRAINED_RECIPE, "kept": True}]}
    same = {key: recorded[key] for key in ("split", "seeds", "settings")}
    assert quality.continue_from(recorded, same, ["second-round"]) == \
        ["self-training"]
    other = {**same, "settings": {"width": 16, "epochs": 80}}
    with pytest.raises(CatunetError, match="width 8 there, 16 here"):
        quality.continue_from(recorded, other, ["second-round"])
    with pytest.raises(CatunetError, match="other split"):
        quality.continue_from(recorded, {**same, "split": {"fingerprint": "b"}},
                              ["second-round"])
    with pytest.raises(CatunetError, match="already climbed capacity"):
        quality.continue_from(recorded, same, ["capacity"])
    renamed = {**recorded, "steps": recorded["steps"] +
               [{"name": "gone-step", "kept": True}]}
    with pytest.raises(CatunetError, match="does not have: gone-step"):
        quality.continue_from(renamed, same, ["second-round"])


def test_a_ladder_recorded_before_a_setting_existed_trained_with_it_off():
    recorded = {"split": {"fingerprint": "a"}, "seeds": 3,
                "settings": {"width": 8},
                "steps": [{"name": "transfer", "kept": True}]}
    newer = {**recorded, "settings": {"width": 8, "round_ensemble": 1}}
    assert quality.continue_from(recorded, newer, ["second-round"]) == []
    on = {**recorded, "settings": {"width": 8, "round_ensemble": 2}}
    with pytest.raises(CatunetError,
                       match="round_ensemble 1 there, 2 here"):
        quality.continue_from(recorded, on, ["second-round"])


def test_recorded_ladder_must_be_a_copy_of_a_summary(tmp_path):
    assert quality.load_recorded(None, tmp_path) is None
    with pytest.raises(CatunetError, match="not found"):
        quality.load_recorded(tmp_path / "none.json", tmp_path)
    (tmp_path / "quality.json").write_text('{"steps": [{"runs": []}]}')
    with pytest.raises(CatunetError, match="from a copy"):
        quality.load_recorded(tmp_path / "quality.json", tmp_path)
    (tmp_path / "other.json").write_text('{"runs": []}')
    with pytest.raises(CatunetError, match="not a quality ladder"):
        quality.load_recorded(tmp_path / "other.json", tmp_path)
    assert quality.load_recorded(tmp_path / "quality.json", tmp_path / "x") \
        == {"steps": [{"runs": []}]}


def test_fold_on_the_command_line_needs_a_recorded_ladder(tmp_path, capsys):
    with pytest.raises(SystemExit, match="give --from-recorded"):
        quality.main(["--pretrain-dir", str(tmp_path), "--unlabelled",
                      str(tmp_path), "--steps", "mosaic", "--fold", "0",
                      "--report", str(tmp_path)])
    assert not (tmp_path / "quality-folds.json").exists()


def test_the_command_line_recorded_can_be_run_again():
    args = argparse.Namespace(
        from_recorded="reports/quality-4.json", final_seeds=0,
        scenes_frames="../davis", report="reports/ladder-inference",
        fold=None, negative_photos=None)
    assert quality.command_of(args, []) == (
        "python -m catunet.study.quality --from-recorded "
        "reports/quality-4.json --steps '' --final-seeds 0 --scenes-frames "
        "../davis --report reports/ladder-inference")
    args.negative_photos = "../davis/images/hike_*,../people"
    assert ("--steps negatives --final-seeds 0 --scenes-frames ../davis "
            "--negative-photos '../davis/images/hike_*,../people' --report"
            in quality.command_of(args, ["negatives"]))
