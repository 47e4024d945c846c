"""Training a chosen report's final seeds without its fold runs, seed by
seed and resumable, on made-up seeds against a copy of a committed report
(the real run is python -m catunet.study.finals)."""

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

from catunet.study import finals, folds
from catunet.training.config import TrainConfig

LADDER = Path(__file__).resolve().parents[2] / "reports" / "encoder-ladder"
SCORED = LADDER / "lite2-full-measured"
OTHER = {"cpu": "Other CPU", "cores": 2, "notable_flags": ["avx2"]}


def copied(tmp_path, name, **changes):
    """A committed report's folder copied to ``tmp_path``, its JSON with
    ``changes``."""
    folder = tmp_path / name
    shutil.copytree(LADDER / name, folder)
    summary = {**json.loads((folder / "ladder.json").read_text()), **changes}
    (folder / "ladder.json").write_text(json.dumps(summary))
    return folder


@pytest.mark.parametrize("name, reason", [
    ("lite2-full-measured", "already scored"),
    ("shorter-training-measured", "does not ship")])
def test_a_report_scored_or_not_shipping_is_refused(tmp_path, name, reason):
    with pytest.raises(SystemExit, match=reason):
        finals.run(copied(tmp_path, name))


def test_the_seeds_resume_after_those_done_and_name_their_machine(
        monkeypatch, tmp_path):
    shipped = json.loads((SCORED / "ladder.json").read_text())
    runs = shipped["final"]["runs"]
    # Seed 0 done in an earlier session, on the report's own machine.
    folder = copied(tmp_path, "lite2-full-measured", final=None,
                    final_pending=True, final_seeds=3,
                    final_runs=[{**runs[0], "machine": shipped["machine"]}])
    trained, seen = [], []

    def fake_seed(study, recipe, settings, seed, *a):
        assert recipe == shipped["recipe"]
        assert settings.zoom == shipped["inference"]["chosen"]["zoom"]
        trained.append(seed)
        seen.append((json.loads((folder / "ladder.json").read_text()),
                     (folder / "ladder.md").read_text()))
        return {**runs[seed], "machine": OTHER}

    monkeypatch.setattr(finals.Study, "load", lambda *a: None)
    monkeypatch.setattr(folds, "final_seed", fake_seed)
    summary = finals.run(folder, seeds=3, command="finals cmd")
    assert trained == [1, 2]
    # After seed 1, before seed 2: two seeds kept, none summarised.
    during, text = seen[1]
    assert len(during["final_runs"]) == 2 and during["final"] is None
    assert "not all trained yet (2 of 3" in text
    assert "## The finished recipe on the test photos" not in text
    assert summary["final"]["test_dice"] == pytest.approx(
        shipped["final"]["test_dice"])
    assert "final_runs" not in summary and not summary["final_pending"]
    on_disk = json.loads((folder / "ladder.json").read_text())
    assert on_disk["final"] == summary["final"]
    text = (folder / "ladder.md").read_text()
    assert "Command: `finals cmd`" in text
    # Seed 0's machine and the other one, both named.
    assert "min a seed (Intel" in text and " and Other CPU, 2 cores " \
        "(avx2))" in text


def test_a_seed_scored_before_keeps_its_scores(monkeypatch, tmp_path):
    run_folder = tmp_path / "final-x-s0"
    run_folder.mkdir()
    (run_folder / "run.json").write_text(json.dumps({"machine": OTHER}))
    (run_folder / "eval-test.json").write_text(json.dumps({
        "mean": {"dice": 0.5, "dice_full_size": 0.4},
        "images": [{"image": "a.jpg", "dice": 0.5}]}))

    class Run:
        folder, model_path, seconds = run_folder, run_folder / "cats.keras", 60

    saved = []
    monkeypatch.setattr(folds.RunStore, "run", lambda self, config: Run())
    monkeypatch.setattr(folds, "evaluate", lambda path: pytest.fail(
        "scored the test photos again"))

    class Settings:
        def save_beside(self, path):
            saved.append(path)

    result = folds.final_seed(SimpleNamespace(base=TrainConfig()), {},
                              Settings(), 0, tmp_path, {})
    assert result["test_dice"] == 0.5 and result["machine"] == OTHER
    assert result["train_minutes"] == 1 and saved == [Run.model_path]
