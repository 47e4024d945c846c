import json

import numpy as np
import pytest

from catunet.errors import CatunetError
from catunet.study import experiments, pretraining, runstore, variants
from catunet.study.model_figures import (draw_augmentation_figures,
                                         draw_transfer_figures)
from catunet.study.reports import (_pretrain_section,
                                   write_augmentation_report,
                                   write_transfer_report)
from catunet.training.config import TrainConfig
from catunet.training.train import run_key_for
from tests.conftest import ROOT, write_folder


def tiny_study(tmp_path, shapes_dir):
    return variants.Study.load(
        str(shapes_dir), seeds=2, split=str(tmp_path / "split.json"),
        width=2, depth=2, epochs=1, batch_size=4, image_size=32)


def test_variants_are_cross_validated_and_reused(tmp_path, shapes_dir,
                                                 monkeypatch):
    monkeypatch.chdir(tmp_path)  # runs/ is searched for earlier results
    study = tiny_study(tmp_path, shapes_dir)
    specs = {"bce": {"loss": "bce"}, "dice": {"loss": "dice"}}
    summary = variants.run_variants(study, specs, tmp_path / "runs" / "a")
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
    monkeypatch.setattr(runstore, "train", lambda *a, **k: pytest.fail("retrained"))
    again = variants.run_variants(study, {"bce": {"loss": "bce"}},
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
        variants.Study.load(str(shapes_dir), seeds=1)


def test_default_loss_is_the_validation_winner():
    summary = json.loads((ROOT / "reports" / "losses.json").read_text())
    assert TrainConfig().loss == summary["winner"]
    for key in ("width", "epochs", "batch_norm", "learning_rate", "batch_size"):
        assert getattr(TrainConfig(), key) == summary["settings"][key]


def test_augmentation_report_from_tiny_runs(tmp_path, shapes_dir, monkeypatch):
    monkeypatch.chdir(tmp_path)
    study = tiny_study(tmp_path, shapes_dir)
    specs = {"none": {"augment": ""}, "elastic-only": {"augment": "elastic"}}
    summary = variants.run_variants(study, specs, tmp_path / "runs")
    summary["winner"] = "elastic-only"  # draw the with/without figure too
    summary["rates"] = experiments.pipeline_rates(study)
    assert summary["rates"]["pipeline_images_per_s"] > 0
    assert summary["rates"]["train_images_per_s"] > 0
    draw_augmentation_figures(summary, study, tmp_path / "reports")
    write_augmentation_report(summary, tmp_path / "reports")
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


def test_transfer_study_from_tiny_runs(tmp_path, shapes_dir, monkeypatch):
    monkeypatch.chdir(tmp_path)  # data/splits and runs/ land here
    monkeypatch.setenv("CATUNET_DATA_DIR", str(shapes_dir))  # as CI does
    horses = write_folder(tmp_path / "horses", n=10, seed=1)
    monkeypatch.setitem(pretraining.TRANSFER_VARIANTS, "frozen-then-unfrozen",
                        {"init": pretraining.PRETRAINED, "freeze_epochs": 1,
                         "fine_tune_learning_rate": 1e-4})
    settings = dict(split=str(tmp_path / "split.json"), width=2, depth=2,
                    epochs=2, batch_size=4, image_size=32)

    def study():
        return pretraining.compare_transfer(
            horses, str(shapes_dir), seeds=2, runs_dir=tmp_path / "runs",
            pretrain_epochs=1, **settings)

    summary, cats = study()
    source = summary["pretrain"]
    assert source["config"]["stage"] == "pretrain"
    assert source["held_out"]["count"] == 3  # 30% of the 10 horse pairs
    assert source["zero_shot_cats"]["count"] == len(cats.test_pairs)
    assert (tmp_path / "data" / "splits" / "horses.json").is_file()
    assert [r["config"]["init"] for r in summary["results"]["scratch"]] == \
        [None, None]
    for name in ("fine-tune-all", "frozen-then-unfrozen"):
        for run in summary["results"][name]:
            assert run["config"]["init"] == source["model"]
            assert 0 <= run["test_dice"] <= 1
    frozen = summary["results"]["frozen-then-unfrozen"][0]["config"]
    assert frozen["freeze_epochs"] == 1

    # Tiny runs all score about 0, so either may win: the discussion is
    # written for both.
    for winner in ("scratch", "frozen-then-unfrozen"):
        summary["winner"] = winner
        write_transfer_report(summary, tmp_path / "reports")
        text = (tmp_path / "reports" / "transfer.md").read_text()
        assert ("Training from scratch wins" in text) == (winner == "scratch")
    draw_transfer_figures(summary, cats, tmp_path / "reports")
    write_transfer_report(summary, tmp_path / "reports")
    text = (tmp_path / "reports" / "transfer.md").read_text()
    assert "Pre-training source: **horses**" in text
    assert "encoder frozen for epochs 1–1" in text and "0.0001" in text
    assert "no VOC number is claimed" in text
    for name in ["transfer.png", "transfer-curves.png", "transfer-pretrain.png",
                 "transfer-before-after.png"]:
        assert (tmp_path / "reports" / name).stat().st_size > 0

    # A second call trains nothing; a changed pre-trained file is not reused.
    with monkeypatch.context() as m:
        m.setattr(runstore, "train", lambda *a, **k: pytest.fail("retrained"))
        again, _ = study()
    assert again["results"] == summary["results"]
    config = TrainConfig.from_dict(
        summary["results"]["fine-tune-all"][0]["config"])
    store = runstore.RunStore(tmp_path / "runs")
    assert store.find(run_key_for(config)) is not None
    with open(source["model"], "ab") as f:
        f.write(b"changed")
    assert store.find(run_key_for(config)) is None


def test_transfer_needs_one_source(tmp_path, shapes_dir):
    with pytest.raises(CatunetError, match="either"):
        pretraining.compare_transfer(None, str(shapes_dir))
    with pytest.raises(CatunetError, match="either"):
        pretraining.compare_transfer(shapes_dir, str(shapes_dir),
                                     pretrained="x.keras")
    with pytest.raises(CatunetError, match="not found"):
        pretraining.pretrained_model(tmp_path / "voc.keras")


def test_pretrained_voc_model_is_named_and_not_scored():
    source = {"model": "runs/voc/voc.keras", "seconds": 0.0,
              "config": TrainConfig(stage="voc").to_dict()}
    text = "\n".join(_pretrain_section(source))
    assert "Pascal VOC 2012" in text and "not measured here" in text
