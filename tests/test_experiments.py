import json

import numpy as np
import pytest

from catunet import experiments
from catunet.config import TrainConfig
from tests.conftest import ROOT


def tiny_study(tmp_path, shapes_dir):
    return experiments.Study.load(
        str(shapes_dir), seeds=2, split=str(tmp_path / "split.json"),
        width=2, depth=2, epochs=1, batch_size=4, image_size=32)


def test_variants_are_cross_validated_and_reused(tmp_path, shapes_dir,
                                                 monkeypatch):
    monkeypatch.chdir(tmp_path)  # runs/ is searched for earlier results
    study = tiny_study(tmp_path, shapes_dir)
    variants = {"bce": {"loss": "bce"}, "dice": {"loss": "dice"}}
    summary = experiments.run_variants(study, variants, tmp_path / "runs" / "a")
    assert set(summary["results"]) == {"bce", "dice"}
    for runs in summary["results"].values():
        assert [r["config"]["val_fold"] for r in runs] == [0, 1]
        assert all(0 <= r["val_dice"] <= 1 and 0 <= r["test_dice"] <= 1
                   for r in runs)
    assert summary["winner"] == max(
        summary["results"],
        key=lambda k: np.mean([r["val_dice"] for r in summary["results"][k]]))
    assert summary["settings"]["width"] == 2 and "loss" not in summary["settings"]

    # The same configs under another folder are found and not trained again.
    monkeypatch.setattr(experiments, "train", lambda *a, **k: pytest.fail("retrained"))
    again = experiments.run_variants(study, {"bce": {"loss": "bce"}},
                                     tmp_path / "runs" / "b")
    assert again["results"]["bce"] == summary["results"]["bce"]

    experiments.write_losses_report(summary, tmp_path / "reports")
    text = (tmp_path / "reports" / "losses.md").read_text()
    assert "| bce" in text and "mean-mask baseline" in text
    assert (tmp_path / "reports" / "losses.png").stat().st_size > 0
    assert json.loads((tmp_path / "reports" / "losses.json").read_text())[
        "winner"] == summary["winner"]


def test_baselines_by_hand(tmp_path, shapes_dir):
    study = tiny_study(tmp_path, shapes_dir)
    masks = study.test[1].astype(np.float32)
    fg = masks.sum(axis=(1, 2, 3))
    all_cat = np.mean(2 * fg / (fg + masks[0].size))
    assert study.baselines()["all-cat"] == pytest.approx(all_cat, rel=1e-5)


def test_one_seed_is_refused(shapes_dir):
    with pytest.raises(ValueError, match="at least 2"):
        experiments.Study.load(str(shapes_dir), seeds=1)


def test_default_loss_is_the_validation_winner():
    summary = json.loads((ROOT / "reports" / "losses.json").read_text())
    assert TrainConfig().loss == summary["winner"]
    for key in ("width", "epochs", "batch_norm", "learning_rate", "batch_size"):
        assert getattr(TrainConfig(), key) == summary["settings"][key]


def test_augmentation_report_from_tiny_runs(tmp_path, shapes_dir, monkeypatch):
    monkeypatch.chdir(tmp_path)
    study = tiny_study(tmp_path, shapes_dir)
    variants = {"none": {"augment": ""}, "elastic-only": {"augment": "elastic"}}
    summary = experiments.run_variants(study, variants, tmp_path / "runs")
    summary["winner"] = "elastic-only"  # draw the with/without figure too
    summary["rates"] = experiments.pipeline_rates(study)
    assert summary["rates"]["pipeline_images_per_s"] > 0
    assert summary["rates"]["train_images_per_s"] > 0
    experiments.write_augmentation_report(summary, study, tmp_path / "reports")
    text = (tmp_path / "reports" / "augmentation.md").read_text()
    assert "| elastic-only **(winner)**" in text and "`elastic`" in text
    for name in ["augmentation.png", "augmentation-curves.png",
                 "augmentation-techniques.png",
                 "augmentation-test-grid.png", "augmentation-test-large.png"]:
        assert (tmp_path / "reports" / name).stat().st_size > 0


def test_default_augmentation_is_the_validation_winner():
    summary = json.loads((ROOT / "reports" / "augmentation.json").read_text())
    assert TrainConfig().augment == summary["variants"][summary["winner"]]["augment"]
    assert summary["settings"]["loss"] == TrainConfig().loss
