"""The quality ladder at tiny widths: steps, the teacher per seed, the
inference choice on validation, the report.

The two ladder tests share one runs folder, so the second reuses the
first's pre-training and transfer runs (``RunStore``). The second-round
step's mechanism is tested in ``tests/test_selftrain.py``, and a later
round's reuse of the earlier rounds in ``tests/study/test_runstore.py``."""

import json
from pathlib import Path

import pytest

from catunet.study import experiments, quality
from catunet.study.reports import ladder_seconds
from tests.conftest import write_folder

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("ladder")


def climb(folder, shapes_dir, monkeypatch, steps, final_seeds):
    monkeypatch.chdir(folder)
    monkeypatch.setenv("CATUNET_DATA_DIR", str(shapes_dir))
    monkeypatch.setitem(experiments.TRANSFER_VARIANTS, quality.TRANSFER,
                        {"init": experiments.PRETRAINED, "freeze_epochs": 1,
                         "fine_tune_learning_rate": 3e-3})
    monkeypatch.setitem(quality.ARCHITECTURE, "capacity", {"width": 6})
    monkeypatch.setitem(quality.ARCHITECTURE, "capacity-32", {"width": 8})
    horses, unlabelled = folder / "horses", folder / "unlabelled"
    if not horses.exists():  # the first test of the module writes them
        write_folder(horses, n=10, seed=1)
        write_folder(unlabelled, n=12, seed=2)
    unlabelled = unlabelled / "images"
    return quality.run_ladder(
        horses, unlabelled, str(shapes_dir), seeds=2, pretrain_epochs=3,
        paste_backgrounds=str(horses), final_seeds=final_seeds, steps=steps,
        split=str(folder / "split.json"), width=4, depth=2, epochs=12,
        batch_size=4, image_size=32, pseudo_epochs=1, pseudo_keep=0.5,
        learning_rate=3e-3)


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
    assert tried[0]["group"] == "plain" and len(tried) == 1 + 1 + 4 + 1 + 3
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


def test_capacity_schedule_and_copy_paste_steps(folder, shapes_dir,
                                                monkeypatch):
    summary, study = climb(folder, shapes_dir, monkeypatch,
                           ["capacity", "schedule", "copy-paste",
                            "copy-paste-on-cats", "capacity-32",
                            "batch-norm"],
                           final_seeds=1)
    names = [step["name"] for step in summary["steps"]]
    assert names == ["transfer", "capacity", "schedule", "copy-paste",
                     "copy-paste-on-cats", "capacity-32", "batch-norm"]
    kept = {s["name"] for s in summary["steps"] if s["kept"]}
    wider = summary["steps"][1]["runs"][0]["config"]
    assert wider["width"] == 6 and wider["init"] == \
        summary["pretrained"]["width-6"]["model"]
    assert summary["pretrained"]["width-6"]["config"]["width"] == 6
    cosine = summary["steps"][2]["runs"][0]["config"]
    assert cosine["schedule"] == "cosine"
    assert cosine["width"] == (6 if "capacity" in kept else 4)
    pasted = summary["steps"][3]["runs"][0]["config"]
    assert pasted["copy_paste"] == quality.COPY_PASTE
    assert pasted["schedule"] == ("cosine" if "schedule" in kept
                                  else "constant")
    assert pasted["paste_backgrounds"]
    on_cats = summary["steps"][4]["runs"][0]["config"]
    assert on_cats["copy_paste"] == quality.COPY_PASTE
    assert on_cats["paste_backgrounds"] is None
    widest = summary["steps"][5]["runs"][0]["config"]
    assert widest["width"] == 8 and widest["init"] == \
        summary["pretrained"]["width-8"]["model"]
    # Batch norm: the kept recipe's width, from its own pre-training.
    normed = summary["steps"][6]["runs"][0]["config"]
    width = 8 if "capacity-32" in kept else 6 if "capacity" in kept else 4
    assert normed["batch_norm"] and normed["width"] == width
    pretrained = summary["pretrained"][f"width-{width}-bn"]
    assert normed["init"] == pretrained["model"]
    assert pretrained["config"]["batch_norm"]

    # The final recipe: the kept steps on all training photos, named after
    # them, with the inference settings chosen on validation beside it.
    kept_steps = [s["name"] for s in summary["steps"][1:] if s["kept"]] \
        or ["transfer"]
    final = summary["final"][0]
    assert final["config"]["folds"] == 0 and final["config"]["teacher"] is None
    assert Path(final["folder"]).name == f"final-{'+'.join(kept_steps)}-s0"
    chosen = json.loads((Path(final["folder"]) / "inference.json").read_text())
    assert chosen == summary["inference"]["chosen"]
    reports = folder / "reports"
    quality.draw_worst_three(summary, study, reports)
    quality.write_quality_report(summary, reports)
    assert (reports / "quality-worst.png").stat().st_size > 0
    text = (reports / "quality.md").read_text()
    assert "| capacity |" in text and "| schedule |" in text
    assert "| copy-paste |" in text and "| copy-paste-on-cats |" in text
    assert "| batch-norm |" in text
    assert "The final recipe" in text
    saved = json.loads((reports / "quality.json").read_text())
    assert saved["inference"]["chosen"] == summary["inference"]["chosen"]
