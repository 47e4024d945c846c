"""The quality ladder at tiny widths: steps, the teacher per seed, the
inference choice on validation, the report."""

import json

import pytest

from catunet.study import experiments, quality
from tests.conftest import write_folder

pytestmark = pytest.mark.slow


def test_ladder_from_tiny_runs(tmp_path, shapes_dir, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CATUNET_DATA_DIR", str(shapes_dir))
    monkeypatch.setitem(experiments.TRANSFER_VARIANTS, quality.TRANSFER,
                        {"init": experiments.PRETRAINED, "freeze_epochs": 1,
                         "fine_tune_learning_rate": 3e-3})
    horses = write_folder(tmp_path / "horses", n=10, seed=1)
    unlabelled = write_folder(tmp_path / "unlabelled", n=8, seed=2) / "images"
    summary, study = quality.run_ladder(
        horses, unlabelled, str(shapes_dir), seeds=2, pretrain_epochs=3,
        paste_backgrounds=str(horses), final_seeds=1,
        split=str(tmp_path / "split.json"), width=4, depth=2, epochs=12,
        batch_size=4, image_size=32, pseudo_epochs=1, pseudo_keep=1.0,
        learning_rate=3e-3)
    names = [step["name"] for step in summary["steps"]]
    assert names == ["transfer", "self-training", "copy-paste"]
    last_kept = [s["name"] for s in summary["steps"][:2] if s["kept"]][-1]
    pasted = summary["steps"][2]["runs"][0]["config"]
    assert pasted["copy_paste"] == quality.COPY_PASTE
    assert (pasted["unlabelled"] is not None) == (last_kept == "self-training")
    teacher_runs = summary["steps"][0]["runs"]
    for seed, run in enumerate(summary["steps"][1]["runs"]):
        assert run["config"]["teacher"] == \
            f"{teacher_runs[seed]['folder']}/cats.keras"
        assert run["config"]["val_fold"] == seed
    tried = summary["inference"]["tried"]
    assert tried[0]["group"] == "plain" and len(tried) == 1 + 1 + 4 + 1 + 3
    assert sum(t["kept"] for t in tried[1:]) <= 4

    assert [r["config"]["folds"] for r in summary["final"]] == [0]
    assert all(r["config"]["teacher"] is None for r in summary["final"])
    assert (tmp_path / "runs" / "quality" / "final-s0" / "inference.json"
            ).is_file()
    quality.draw_worst_three(summary, study, tmp_path / "reports")
    quality.write_quality_report(summary, tmp_path / "reports")
    assert (tmp_path / "reports" / "quality-worst.png").stat().st_size > 0
    text = (tmp_path / "reports" / "quality.md").read_text()
    assert "| transfer |" in text and "| self-training |" in text
    assert "| copy-paste |" in text and "The final recipe" in text
    saved = json.loads((tmp_path / "reports" / "quality.json").read_text())
    assert saved["inference"]["chosen"] == summary["inference"]["chosen"]
