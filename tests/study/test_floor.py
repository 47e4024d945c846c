"""The report of the validation photos a ladder leaves below the floor."""

import pytest

from catunet.errors import CatunetError
from catunet.study import floor


def step(name, kept, folder, per_fold):
    """A recorded step: a run per fold with its per-photo Dice."""
    return {"name": name, "kept": kept, "runs": [
        {"folder": f"{folder}-s{k}", "val_dice": sum(d) / len(d),
         "val_dice_per_image": d} for k, d in enumerate(per_fold)]}


NAMES = [["a.jpg", "b.jpg"], ["c.jpg", "d.jpg"]]


def ladder(*steps):
    return {"seeds": 2, "steps": list(steps)}


def test_rows_naming_runs_again_are_counted_once_under_their_first_name():
    recorded = ladder(step("colour", True, "c", [[0.9, 0.4], [0.8, 0.7]]),
                      step("final", False, "f", [[0.9, 0.4]]),  # one seed
                      step("kept recipe, retrained", True, "c",
                           [[0.9, 0.4], [0.8, 0.7]]),
                      step("paste", False, "p", [[0.9, 0.6], [0.2, 0.7]]))
    found = floor.distinct_steps(recorded)
    assert [(name, kept) for name, kept, _ in found] == [("colour", True),
                                                         ("paste", False)]


def test_a_folder_trained_again_with_other_scores_is_its_own_row():
    recorded = ladder(step("transfer", True, "t", [[0.5, 0.5], [0.5, 0.5]]),
                      step("transfer, retrained", True, "t",
                           [[0.6, 0.5], [0.5, 0.5]]))
    assert len(floor.distinct_steps(recorded)) == 2


def test_counts_the_photos_below_the_floor_and_the_best_any_step_did():
    recorded = ladder(step("transfer", True, "t", [[0.9, 0.3], [0.6, 0.2]]),
                      step("mosaic", True, "m", [[0.8, 0.45], [0.7, 0.4]]),
                      step("paste", False, "p", [[0.4, 0.55], [0.7, 0.1]]))
    found = floor.below_floor(recorded, NAMES)
    assert found["kept_recipe"] == "mosaic"
    assert [(r["name"], r["below"], r["photos"]) for r in found["steps"]] == [
        ("transfer", 2, 4), ("mosaic", 2, 4), ("paste", 2, 4)]
    assert found["steps"][1]["worst"] == [0.45, 0.4]
    assert found["photos"] == [
        {"name": "b.jpg", "fold": 0, "kept_recipe": 0.45, "best": 0.55,
         "best_step": "paste", "reaching": 1, "steps": 3},
        {"name": "d.jpg", "fold": 1, "kept_recipe": 0.4, "best": 0.4,
         "best_step": "mosaic", "reaching": 0, "steps": 3}]
    text = floor.markdown({**found, "ladder": "q.json", "code_version": "0",
                           "machine": {"cpu": "a CPU", "cores": 2},
                           "command": "python -m catunet.study.floor ..."})
    assert "| mosaic | yes | 2 of 4 | 0.45, 0.40 |" in text
    assert "| d.jpg | 1 | 0.40 | 0.40 (mosaic) | 0 of 3 |" in text


def test_counts_along_the_kept_inference_options_with_per_photo_dice():
    recorded = ladder(step("mosaic", True, "m", [[0.8, 0.45], [0.7, 0.4]]))
    recorded["inference"] = {"tried": [
        {"group": "plain", "kept": True, "settings": {},
         "val_dice_per_image": [[0.8, 0.45], [0.7, 0.4]]},
        {"group": "zoom", "kept": False, "settings": {"zoom": 2},
         "val_dice_per_image": [[0.9, 0.9], [0.9, 0.9]]},
        {"group": "test-time augmentation", "kept": True,
         "settings": {"tta": True}},  # recorded before per-photo Dice
        {"group": "cat boxes", "kept": True,
         "settings": {"tta": True, "cat_boxes": 0.2},
         "val_dice_per_image": [[0.8, 0.6], [0.7, 0.3]]}]}
    found = floor.below_floor(recorded, NAMES)
    assert [(r["group"], r["below"]) for r in found["inference"]] == [
        ("plain", [{"name": "b.jpg", "fold": 0, "dice": 0.45},
                   {"name": "d.jpg", "fold": 1, "dice": 0.4}]),
        ("cat boxes", [{"name": "d.jpg", "fold": 1, "dice": 0.3}])]
    text = floor.markdown({**found, "ladder": "q.json", "code_version": "0",
                           "machine": {"cpu": "a CPU", "cores": 2},
                           "command": "python -m catunet.study.floor ..."})
    assert found["inference"][0]["moved"] is None
    assert found["inference"][1]["moved"] == {
        "count": 2, "by": 0.01,
        "rise": {"name": "b.jpg", "fold": 0, "before": 0.45, "after": 0.6},
        "fall": {"name": "d.jpg", "fold": 1, "before": 0.4, "after": 0.3}}
    assert ("| cat boxes | --tta --cat-boxes 0.2 | 1 of 4: d.jpg (0.30) | "
            "0.60, 0.30 | 2 photos moved by 0.01 or more; largest rise "
            "b.jpg 0.45 → 0.60, largest fall d.jpg 0.40 → 0.30 |") in text
    recorded["inference"]["tried"][0]["val_dice_per_image"] = [[0.8], [0.7]]
    with pytest.raises(CatunetError, match="other photos"):
        floor.below_floor(recorded, NAMES)


def test_photo_names_that_do_not_match_the_scores_are_a_clear_error():
    recorded = ladder(step("transfer", True, "t", [[0.9], [0.6]]))
    with pytest.raises(CatunetError, match="fold 0: the ladder scored 1"):
        floor.below_floor(recorded, NAMES)


def test_a_missing_ladder_file_is_a_clear_error(tmp_path, capsys):
    assert floor.main(["--ladder", str(tmp_path / "quality.json")]) == 2
    assert "no such ladder file" in capsys.readouterr().err
