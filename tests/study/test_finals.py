"""Training a chosen report's final seeds without its fold runs, seed by
seed and resumable, on made-up seeds against a copy of a committed report
(the real run is python -m catunet.study.finals)."""

import dataclasses
import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

from catunet.inference.predict import Settings
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


@pytest.mark.parametrize("scored_with, again", [
    (Settings(tta=True), False), (Settings(), True)])
def test_a_seed_scored_before_keeps_its_scores_with_the_same_settings(
        monkeypatch, tmp_path, scored_with, again):
    run_folder = tmp_path / "final-x-s0"
    run_folder.mkdir()
    (run_folder / "run.json").write_text(json.dumps({"machine": OTHER}))
    scores = {"mean": {"dice": 0.5, "dice_full_size": 0.4},
              "images": [{"image": "a.jpg", "dice": 0.5}]}
    (run_folder / "eval-test.json").write_text(json.dumps({
        **scores, "inference": dataclasses.asdict(scored_with)}))

    class Run:
        folder, model_path, seconds = run_folder, run_folder / "cats.keras", 60

    monkeypatch.setattr(folds.RunStore, "run", lambda self, config: Run())
    settings = Settings(tta=True)
    if again:  # scored with other settings: scored again with these
        monkeypatch.setattr(folds, "evaluate", lambda path: {
            **scores, "mean": {"dice": 0.7, "dice_full_size": 0.6},
            "inference": dataclasses.asdict(settings)})
    else:
        monkeypatch.setattr(folds, "evaluate", lambda path: pytest.fail(
            "scored the test photos again"))
    result = folds.final_seed(SimpleNamespace(base=TrainConfig()), {},
                              settings, 0, tmp_path, {})
    assert result["test_dice"] == (0.7 if again else 0.5)
    assert result["machine"] == OTHER and result["train_minutes"] == 1
    assert Settings.beside(Run.model_path) == settings
    assert json.loads((run_folder / "eval-test.json").read_text())[
        "inference"] == dataclasses.asdict(settings)


def test_a_folder_that_is_no_report_is_a_clear_error(tmp_path):
    with pytest.raises(SystemExit, match="ladder.json: no such file"):
        finals.run(tmp_path)
