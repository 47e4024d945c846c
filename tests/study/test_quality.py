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
    summary = quality.run_ladder(
        horses, unlabelled, str(shapes_dir), seeds=2, pretrain_epochs=3,
        split=str(tmp_path / "split.json"), width=4, depth=2, epochs=12,
        batch_size=4, image_size=32, pseudo_epochs=1, pseudo_keep=1.0,
        learning_rate=3e-3)
    names = [step["name"] for step in summary["steps"]]
    assert names == ["transfer", "self-training"]
    teacher_runs = summary["steps"][0]["runs"]
    for seed, run in enumerate(summary["steps"][1]["runs"]):
        assert run["config"]["teacher"] == \
            f"{teacher_runs[seed]['folder']}/cats.keras"
        assert run["config"]["val_fold"] == seed
    tried = summary["inference"]["tried"]
    assert tried[0]["group"] == "plain" and len(tried) == 1 + 1 + 4 + 1 + 3
    assert sum(t["kept"] for t in tried[1:]) <= 4

    quality.write_quality_report(summary, tmp_path / "reports")
    text = (tmp_path / "reports" / "quality.md").read_text()
    assert "| transfer |" in text and "| self-training |" in text
    saved = json.loads((tmp_path / "reports" / "quality.json").read_text())
    assert saved["inference"]["chosen"] == summary["inference"]["chosen"]
