"""The quality ladder at tiny widths: steps, the teacher per seed, the
inference choice on validation, the report.

The two tests share one runs folder, so the second reuses the first's
pre-training and transfer runs (``RunStore``)."""

import json
from pathlib import Path

import pytest

from catunet.study import experiments, quality
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
    monkeypatch.setattr(quality, "CAPACITY", {"capacity": 6,
                                              "capacity-32": 8})
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


def test_self_training_steps_and_final_recipe(folder, shapes_dir,
                                              monkeypatch):
    summary, study = climb(folder, shapes_dir, monkeypatch,
                           ["self-training", "more-unlabelled",
                            "second-round"], final_seeds=1)
    names = [step["name"] for step in summary["steps"]]
    assert names == ["transfer", "self-training", "more-unlabelled",
                     "second-round"]
    teacher_runs = summary["steps"][0]["runs"]
    for seed, run in enumerate(summary["steps"][1]["runs"]):
        assert run["config"]["teacher"] == \
            f"{teacher_runs[seed]['folder']}/cats.keras"
        assert run["config"]["val_fold"] == seed
        assert run["config"]["pseudo_keep"] == 0.5
    more = summary["steps"][2]["runs"][0]
    assert more["config"]["pseudo_keep"] == 1.0
    kept_half, kept_all = (
        json.loads((Path(r["folder"]) / "pseudo-1" / "pseudo-labels.json"
                    ).read_text())["kept"]
        for r in (summary["steps"][1]["runs"][0], more))
    assert kept_all > kept_half
    twice = summary["steps"][3]["runs"][0]
    assert twice["config"]["self_training_rounds"] == 2
    assert twice["config"]["pseudo_keep"] == (
        1.0 if summary["steps"][2]["kept"] else 0.5)
    assert (Path(twice["folder"]) / "student-2" / "cats.keras").is_file()
    kept_steps = [s["name"] for s in summary["steps"][1:] if s["kept"]] \
        or ["transfer"]
    tried = summary["inference"]["tried"]
    assert tried[0]["group"] == "plain" and len(tried) == 1 + 1 + 4 + 1 + 3
    assert sum(t["kept"] for t in tried[1:]) <= 4

    assert [r["config"]["folds"] for r in summary["final"]] == [0]
    assert all(r["config"]["teacher"] is None for r in summary["final"])
    assert Path(summary["final"][0]["folder"]).name == \
        f"final-{'+'.join(kept_steps)}-s0"
    assert (Path(summary["final"][0]["folder"]) / "inference.json").is_file()
    reports = folder / "reports"
    quality.draw_worst_three(summary, study, reports)
    quality.write_quality_report(summary, reports)
    assert (reports / "quality-worst.png").stat().st_size > 0
    text = (reports / "quality.md").read_text()
    assert "| transfer |" in text and "| self-training |" in text
    assert "The final recipe" in text
    saved = json.loads((reports / "quality.json").read_text())
    assert saved["inference"]["chosen"] == summary["inference"]["chosen"]


def test_capacity_schedule_and_copy_paste_steps(folder, shapes_dir,
                                                monkeypatch):
    summary, _ = climb(folder, shapes_dir, monkeypatch,
                       ["capacity", "schedule", "copy-paste",
                        "copy-paste-on-cats", "capacity-32"], final_seeds=0)
    names = [step["name"] for step in summary["steps"]]
    assert names == ["transfer", "capacity", "schedule", "copy-paste",
                     "copy-paste-on-cats", "capacity-32"]
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
    assert summary["final"] is None
    quality.write_quality_report(summary, folder / "reports")
    text = (folder / "reports" / "quality.md").read_text()
    assert "| capacity |" in text and "| schedule |" in text
    assert "| copy-paste |" in text and "| copy-paste-on-cats |" in text
