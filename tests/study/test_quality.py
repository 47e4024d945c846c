"""The quality ladder at tiny widths: the self-training steps, the teacher
per seed, the inference choice on validation, the report. The steps that
change the network and copy-paste are in ``test_quality_network.py``; the
schedule step only sets what ``tests/test_train.py`` trains with.

The second-round step's mechanism is tested in ``tests/test_selftrain.py``,
and a later round's reuse of the earlier rounds in
``tests/study/test_runstore.py``."""

import json
from pathlib import Path

import numpy as np
import pytest

from catunet import augment
from catunet.study import quality
from catunet.study.reports import ladder_seconds
from tests.study.ladder import climb

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("ladder")


def test_every_step_changes_training_settings():
    from catunet.config import TrainConfig

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
    assert adds["shorter-fine-tune"] == {"epochs": 40, "freeze_epochs": 10}
    assert augment.parse_spec(adds["wider-zoom"]["augment"]) == {
        **augment.parse_spec("recommended"), "zoom": 0.4}


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
    assert tried[0]["group"] == "plain" and len(tried) == 1 + 1 + 5 + 1 + 3
    assert sum(t["kept"] for t in tried[1:]) <= 4
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
