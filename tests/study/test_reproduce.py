"""README's best-model commands, reproduced from a ladder's quality.json:
the comparison's verdict, and a tiny end-to-end run."""

import dataclasses
import json

import pytest

from catunet.data import loading
from catunet.data.split import load_split_for
from catunet.errors import CatunetError
from catunet.inference.evaluate import evaluate
from catunet.inference.predict import Settings
from catunet.study import render, reproduce
from catunet.study.report import readme_best
from catunet.training import machine
from catunet.training.config import TrainConfig
from tests.conftest import write_folder


def test_verdict_follows_the_paired_interval_and_the_ladders_range():
    ladder = {0: 0.845, 1: 0.841, 2: 0.851}
    close = reproduce.compare(ladder, {0: 0.850, 1: 0.838, 2: 0.849})
    assert close["reproduced"] and close["seeds"] == [0, 1, 2]
    assert close["differences"] == pytest.approx([0.005, -0.003, -0.002])
    lower = reproduce.compare(ladder, {0: 0.805, 1: 0.800, 2: 0.812})
    assert not lower["reproduced"] and lower["high"] < 0
    # One seed has no interval: it must lie in the ladder's range widened
    # by the ladder's sample sd (0.005 here).
    assert reproduce.compare(ladder, {1: 0.838})["reproduced"]
    assert not reproduce.compare(ladder, {1: 0.80})["reproduced"]
    # Two scattered seeds: an interval that holds zero is no reproduction
    # while their mean lies outside that range.
    scattered = reproduce.compare(ladder, {0: 0.79, 1: 0.86})
    assert scattered["low"] < 0 < scattered["high"]
    assert scattered["verdict"] == "inconclusive"
    assert not scattered["reproduced"]
    assert close["verdict"] == "reproduced"
    assert lower["verdict"] == "not reproduced"


def _quality(tmp_path, shapes_dir):
    """A quality.json as a tiny ladder would leave it: a final recipe of
    two seeds, its pre-training and the chosen inference settings."""
    tiny = dict(width=2, depth=2, batch_size=4, image_size=32)
    # The cat split exists before the pre-training guards its test photos,
    # as data/splits/cats.json does in the repository.
    *_, manifest = load_split_for(TrainConfig(data_dir=str(shapes_dir)),
                                  loading.find_pairs(shapes_dir), shapes_dir)
    per_image = [0.1 * (i + 1) for i in range(len(manifest["test"]))]
    horses = write_folder(tmp_path / "horses", n=10, seed=1)
    pre = TrainConfig(stage="pretrain", data_dir="elsewhere/horses",
                      epochs=1, precision="mixed_bfloat16",
                      out="runs/old-pretrain", **tiny)
    final = [{"seed": s, "seconds": 60.0 + s, "test_dice": 0.5,
              "test_dice_per_image": per_image,
              "config": {**dataclasses.asdict(TrainConfig(
                  data_dir=str(shapes_dir), epochs=1, seed=s,
                  init="runs/old-pretrain/pretrain.keras",
                  precision="mixed_bfloat16", out=f"runs/old-final-s{s}",
                  **tiny)), "retired_field": 1}}
             for s in (0, 1)]
    quality = {"final": final, "machine": machine.describe(),
               "command": "python -m catunet.study.quality",
               "code_version": "0.2.0",
               "split": {"fingerprint": manifest["fingerprint"]},
               "pretrain": {"model": "runs/w8/pretrain.keras",
                            "seconds": 1.0, "config": {}},
               "pretrained": {"width-2": {
                   "model": "runs/old-pretrain/pretrain.keras",
                   "seconds": 30.0,
                   "config": dataclasses.asdict(pre)}},
               "inference": {"chosen": {"tta": True, "threshold": 0.3,
                                        "fill_holes": False,
                                        "min_area": 0.02}}}
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "quality.json").write_text(json.dumps(quality))
    return quality, reports, horses


@pytest.mark.slow
def test_trains_the_final_recipe_here_and_compares(tmp_path, shapes_dir,
                                                   monkeypatch):
    monkeypatch.chdir(tmp_path)
    quality, reports, horses = _quality(tmp_path, shapes_dir)
    reproduce.main(["--data-dir", str(shapes_dir), "--pretrain-dir",
                    str(horses), "--seeds", "1", "--report", str(reports)])
    summary = json.loads((reports / "reproduce.json").read_text())
    [run] = summary["runs"]
    pretrain = summary["pretrain"]
    assert pretrain["config"]["data_dir"] == str(horses)
    assert pretrain["config"]["protect"] == str(shapes_dir)
    assert pretrain["config"]["width"] == 2
    assert run["seed"] == 0 and run["folder"] == "runs/reproduce/best-s0"
    assert run["config"]["init"] == "runs/reproduce/pretrain/pretrain.keras"
    # The machine picks the precision, as README's commands let it.
    assert summary["precision"] == run["config"]["precision"] == \
        machine.best_precision()
    scored = evaluate(tmp_path / run["folder"] / "cats.keras")
    assert scored["inference"] == Settings.as_dict(quality["inference"]["chosen"])
    assert run["test_dice"] == pytest.approx(scored["mean"]["dice"])
    assert run["worst"]["dice"] == min(r["dice"] for r in scored["images"])
    # The ladder's Dice on that photo, found by name in the split.
    names = [image for image, _ in json.loads(
        (tmp_path / "data/splits/shapes.json").read_text())["test"]]
    assert run["worst"]["ladder_dice"] == pytest.approx(
        0.1 * (names.index(run["worst"]["image"]) + 1))
    assert summary["comparison"]["differences"] == \
        pytest.approx([run["test_dice"] - 0.5])
    text = (reports / "reproduce.md").read_text()
    assert f"| 0 | 0.500 | {run['test_dice']:.3f} |" in text
    assert "| 1 |" not in text
    # README's best-model section says it, after what the ladder measured.
    best = readme_best(quality, summary)
    assert best.startswith(readme_best(quality))
    assert "Retrained by `python -m catunet.study.reproduce`" in best
    assert "over seed 0, against 0.500" in best
    assert "earlier final recipe" not in best
    # A ladder whose final recipe changed since: the reproduction is of the
    # earlier one, and the section says so.
    changed = {**quality, "inference": {"chosen": {
        **quality["inference"]["chosen"], "threshold": 0.2}}}
    assert "earlier final recipe, without what the ladder has changed " \
        "since (inference threshold 0.2)" in readme_best(changed, summary)
    # A rerun finds the pre-training and the seed's run by key, even in
    # another folder (README's commands write runs/best-pretrain).
    (tmp_path / "runs/reproduce/pretrain").rename(tmp_path / "runs/moved")
    again = reproduce.reproduce(quality, str(shapes_dir), str(horses), seeds=1)
    assert again["pretrain"]["folder"] == "runs/moved"
    assert again["pretrain"]["seconds"] == pretrain["seconds"]
    assert again["runs"][0]["seconds"] == run["seconds"]
    # A change chosen elsewhere on validation: trained with it, into its own
    # report, compared with the ladder's recipe without it.
    reproduce.main(["--data-dir", str(shapes_dir), "--pretrain-dir",
                    str(horses), "--seeds", "1", "--report", str(reports),
                    "--add", "mosaic=0.5", "--runs", "runs/mosaic",
                    "--out", str(tmp_path / "mosaic")])
    added = json.loads((tmp_path / "mosaic/reproduce.json").read_text())
    assert added["changes"] == {"mosaic": 0.5}
    assert added["runs"][0]["config"]["mosaic"] == 0.5
    assert added["runs"][0]["key"] != run["key"]
    assert added["pretrain"]["seconds"] == pretrain["seconds"]
    assert added["command"].endswith(
        f"--add mosaic=0.5 --runs runs/mosaic --out {tmp_path / 'mosaic'}")
    text = (tmp_path / "mosaic/reproduce.md").read_text()
    assert text.startswith("# The best model with --mosaic 0.5")
    assert "With `--mosaic 0.5` added, trained by" in text
    assert "commands into `runs/mosaic`" in text
    assert "reproduced" not in text.split("With `--mosaic")[1]
    # reports/ keeps the reproduction without the change.
    assert json.loads((reports / "reproduce.json").read_text())["runs"][0][
        "key"] == run["key"]
    # The next seed in another sitting: the report keeps seed 0's run.
    reproduce.main(["--data-dir", str(shapes_dir), "--pretrain-dir",
                    str(horses), "--seed", "1", "--report", str(reports),
                    "--add", "mosaic=0.5", "--runs", "runs/mosaic",
                    "--out", str(tmp_path / "mosaic")])
    both = json.loads((tmp_path / "mosaic/reproduce.json").read_text())
    assert [r["seed"] for r in both["runs"]] == [0, 1]
    assert both["runs"][0]["key"] == added["runs"][0]["key"]
    assert both["runs"][1]["config"]["seed"] == 1
    assert both["runs"][1]["pretrain"]["key"] == added["pretrain"]["key"]
    assert both["comparison"]["n"] == 2
    assert both["command"] == added["command"]
    assert "over seeds 0, 1" in (tmp_path / "mosaic/reproduce.md").read_text()
    # Another recipe into that report would lose its seeds: refused.
    with pytest.raises(SystemExit, match="its seeds are of another recipe"):
        reproduce.main(["--data-dir", str(shapes_dir), "--pretrain-dir",
                        str(horses), "--seed", "1", "--report", str(reports),
                        "--add", "mosaic=0.25", "--runs", "runs/quarter",
                        "--out", str(tmp_path / "mosaic")])
    assert json.loads((tmp_path / "mosaic/reproduce.json").read_text()) == \
        both
    with pytest.raises(SystemExit, match="--seed 5: the final recipe has "
                       "seeds 0, 1"):
        reproduce.main(["--data-dir", str(shapes_dir), "--seed", "5",
                        "--report", str(reports)])


def _summary(seeds, cpu, precision, changes=None):
    """A reproduce.json of ``seeds`` trained on a machine named ``cpu``."""
    where = {"cpu": cpu, "cores": 2, "notable_flags": ["avx2"]}
    pretrain = {"key": cpu, "folder": "runs/p", "seconds": 120.0,
                "machine": where, "config": {}}
    return {"command": "python -m catunet.study.reproduce",
            "changes": changes or {"mosaic": 0.5}, "machine": where,
            "precision": precision, "pretrain": pretrain,
            "inference": {"tta": True},
            "ladder": {"machine": where, "precision": "float32",
                       "pretrain_seconds": 1.0},
            "runs": [{"seed": s, "test_dice": 0.80 + 0.01 * s,
                      "seconds": 600.0 * (1 + s), "machine": where,
                      "pretrain": pretrain,
                      "config": {"precision": precision},
                      "ladder": {"test_dice": 0.8, "seconds": 60.0},
                      "worst": {"image": "cat.1.jpg", "dice": 0.4}}
                     for s in seeds]}


def test_seeds_of_several_sittings_make_one_report(tmp_path):
    earlier = _summary([0], "Xeon A", "mixed_bfloat16")
    del earlier["runs"][0]["pretrain"]  # as recorded before --seed existed
    later = _summary([1, 2], "Xeon B", "float32")
    merged = reproduce.merge(earlier, later)
    assert [r["seed"] for r in merged["runs"]] == [0, 1, 2]
    assert merged["runs"][0]["pretrain"]["key"] == "Xeon A"
    assert merged["comparison"]["differences"] == pytest.approx(
        [0.0, 0.01, 0.02])
    assert [seeds for *_, seeds in reproduce.trained_on(merged)] == \
        [[0], [1, 2]]
    reproduce.write_reproduce_report(merged, tmp_path)
    text = (tmp_path / "reproduce.md").read_text()
    assert "- Seed 0: Xeon A, 2 cores (avx2), mixed_bfloat16" in text
    assert "- Seeds 1, 2: Xeon B, 2 cores (avx2), float32" in text
    assert text.startswith("# The best model with --mosaic 0.5, trained "
                           "on 2 machines")
    assert "(seed 0 on Xeon A, 2 cores (avx2), in mixed_bfloat16; seeds 1, " \
        "2 on Xeon B, 2 cores (avx2), in float32: what `--precision auto` " \
        "picked on each)" in text
    assert "the change and the machines together" in text
    assert "10 min per seed plus 2 min of pre-training on the machine of " \
        "seed 0; 25 min per seed" in text
    assert "measured in those runs" in text
    # Another recipe, or another ladder, is not merged.
    other = _summary([0], "Xeon A", "float32", changes={"mosaic": 0.25})
    assert reproduce.merge(other, later) is later
    moved = _summary([1], "Xeon A", "float32")
    moved["runs"][0]["ladder"]["test_dice"] = 0.7
    assert reproduce.merge(moved, later) is later
    # Nor the same models scored with other inference settings.
    rescored = _summary([0], "Xeon A", "float32")
    rescored["inference"] = {**rescored["inference"], "threshold": 0.4}
    assert reproduce.merge(rescored, later) is later


def test_a_change_is_a_recipe_field_of_its_type():
    assert reproduce.parse_change("mosaic=0.5") == {"mosaic": 0.5}
    assert reproduce.parse_change("self-training-rounds=3") == \
        {"self_training_rounds": 3}
    assert reproduce.parse_change("batch_norm=true") == {"batch_norm": True}
    for text, message in (("mosaic", "expected FIELD=VALUE"),
                          ("colour=red", "expected FIELD=VALUE"),
                          ("seed=3", "seed is not part of the recipe"),
                          ("mosaic=lots", "'lots' is not a float"),
                          ("batch_norm=maybe", "'maybe' is not a bool")):
        with pytest.raises(CatunetError, match=message):
            reproduce.parse_change(text)


def test_refuses_what_it_cannot_reproduce(tmp_path):
    with pytest.raises(SystemExit, match="quality.json: not found"):
        reproduce.main(["--report", str(tmp_path)])
    (tmp_path / "quality.json").write_text(json.dumps({"final": None}))
    with pytest.raises(SystemExit, match="no final recipe"):
        reproduce.main(["--report", str(tmp_path), "--data-dir",
                        str(tmp_path)])
    with pytest.raises(SystemExit, match="--seeds must be at least 1"):
        reproduce.main(["--report", str(tmp_path), "--seeds", "0"])
    with pytest.raises(SystemExit, match="give one"):
        reproduce.main(["--report", str(tmp_path), "--seeds", "1",
                        "--seed", "0"])


def test_names_what_the_final_recipe_changed_since_its_reproduction(
        tmp_path, shapes_dir, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the split lands in tmp_path/data/splits
    quality, _, _ = _quality(tmp_path, shapes_dir)
    final = quality["final"][0]["config"]
    reproduced = {
        "inference": dict(quality["inference"]["chosen"]),
        "pretrain": {"config": {**quality["pretrained"]["width-2"]["config"],
                                "data_dir": "here/horses"}},
        # Retrained here: other paths and precision, and recorded before
        # round_ensemble existed.
        "runs": [{"config": {
            **{k: v for k, v in final.items() if k != "round_ensemble"},
            "data_dir": "here/cats", "precision": "float32",
            "out": "runs/reproduce/best-s0"}}]}
    assert reproduce.changes_since(reproduced, quality) == []
    later = json.loads(json.dumps(quality))
    later["final"][0]["config"].update(round_ensemble=2, augment="flip")
    later["pretrained"]["width-2"]["config"]["epochs"] = 40
    later["inference"]["chosen"].update(threshold=0.2, fill_holes=True)
    assert reproduce.changes_since(reproduced, later) == [
        "pre-training --epochs 40", "--augment flip", "--round-ensemble 2",
        "inference threshold 0.2", "inference fill holes True"]


def test_inference_settings_chosen_elsewhere_are_read_and_named(tmp_path):
    chosen = {"tta": True, "threshold": 0.4, "fill_holes": True,
              "min_area": 0.005}
    path = tmp_path / "quality.json"
    path.write_text(json.dumps({"inference": {"chosen": chosen}}))
    assert reproduce.inference_of(path) == (path, chosen)
    assert reproduce.inference_of(None) is None
    (tmp_path / "empty.json").write_text("{}")
    for bad in (tmp_path / "empty.json", tmp_path / "missing.json"):
        with pytest.raises(CatunetError, match="no inference settings"):
            reproduce.inference_of(bad)
    assert render.inference_flags(chosen) == [
        "--tta", "--threshold 0.4", "--fill-holes", "--min-area 0.005"]
    summary = {"changes": {"mosaic": 0.5}, "inference": chosen,
               "ladder": {"inference": {**chosen, "threshold": 0.2}}}
    assert reproduce.changes_text(summary) == "--mosaic 0.5 --threshold 0.4"
    summary["ladder"] = {}  # recorded before --inference existed
    assert reproduce.changes_text(summary) == "--mosaic 0.5"
