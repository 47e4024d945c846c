"""REPORT.md assembly: the table and the time come from the step summaries."""

import pytest

from catunet import report


def run(out, test, seconds):
    return {"config": {"out": out}, "test_dice": test, "seconds": seconds,
            "val_dice": test}


@pytest.fixture
def steps():
    shared = run("runs/losses/bce+dice-s0", 0.7, 60)
    return {
        "losses": {"baselines": {"all-cat": 0.6}, "winner": "bce+dice",
                   "split": {"train": 57, "test": 24, "seed": 0},
                   "results": {"bce+dice": [shared], "dice": [
                       run("runs/losses/dice-s0", 0.2, 60)]}},
        "augmentation": {"winner": "none", "results": {"none": [shared]}},
        "transfer": {"winner": "fine-tune-all",
                     "pretrain": {"model": "runs/transfer/pretrain/p.keras",
                                  "seconds": 120},
                     "results": {"fine-tune-all": [
                         run("runs/transfer/fine-tune-all-s0", 0.8, 30),
                         run("runs/transfer/fine-tune-all-s1", 0.9, 90)]}},
    }


DEFAULT = {"config": {"out": "runs/default"}, "train_seconds": 300,
           "test": {"mean": {"dice": 0.77}}}
CONTOURS = {"mean_dice": 0.76, "samples": {
    "best": {"image": "cat.1.jpg", "dice": 0.9},
    "worst (failure)": {"image": "cat.2.jpg", "dice": 0.2}}}


def test_table_has_every_step_with_mean_std_seeds_and_time(steps):
    table = "\n".join(report.results_table(steps, DEFAULT, CONTOURS))
    assert "| 0 baseline | all-cat (ignores the photo) | 0.600 |" in table
    assert "| 1 loss | bce+dice **(winner)** | 0.700 ± 0.000 | 1 | 1.0 min" in table
    assert "| 3 transfer | fine-tune-all **(winner)** | 0.850 ± 0.050 | 2 | " \
        "1.0 min" in table
    assert "| 4 contours |" in table and "0.760" in table


def test_runs_shared_between_steps_are_counted_once(steps):
    seconds = report.unique_runs(steps, DEFAULT)
    assert len(seconds) == 6  # 2 loss runs (one shared), 2 transfer,
    assert sum(seconds.values()) == 60 + 60 + 30 + 90 + 120 + 300  # pre, default


def test_report_is_written_with_time_and_samples(steps, tmp_path, monkeypatch):
    monkeypatch.setattr(report, "REPORT", tmp_path / "REPORT.md")
    monkeypatch.setattr(report, "REPORTS", tmp_path / "reports")
    report.write_report(steps, DEFAULT, CONTOURS, 42.0, {"width": 8,
                                                         "epochs": 80})
    text = (tmp_path / "REPORT.md").read_text()
    assert "6 distinct training runs at width 8, 80 epochs" in text
    assert "11 min of training from scratch" in text
    assert "This call took 0.7 min" in text
    assert "worst (failure): cat.2.jpg, Dice 0.200" in text


def test_core_study_counts_only_its_variants(steps):
    seconds = report.unique_runs(steps, DEFAULT, report.CORE)
    assert "runs/losses/dice-s0" not in seconds
    assert len(seconds) == 5
