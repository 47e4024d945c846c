"""The report of what fold models mark on the scenes' own foreground."""

import json

from catunet.study import mistaken


def ladder_with(tmp_path, steps):
    """A recorded ladder whose steps' fold models are files (or not)."""
    recorded = {"seeds": 2, "steps": []}
    for name, folder, present in steps:
        runs = []
        for fold in range(2):
            run = tmp_path / f"{folder}-s{fold}"
            if present:
                run.mkdir(exist_ok=True)
                (run / "cats.keras").write_bytes(b"model")
            runs.append({"config": {"val_fold": fold}, "folder": str(run)})
        recorded["steps"].append({"name": name, "runs": runs})
    return recorded


def test_steps_on_disk_are_scored_once_by_their_last_name(tmp_path):
    recorded = ladder_with(tmp_path, [("colour", "c", True),
                                      ("gone", "g", False),
                                      ("kept recipe, retrained", "c", True),
                                      ("paste-negatives", "p", True)])
    found = mistaken.scored_steps(recorded)
    assert list(found) == ["kept recipe, retrained", "paste-negatives"]
    assert found["paste-negatives"] == [
        (0, tmp_path / "p-s0" / "cats.keras"),
        (1, tmp_path / "p-s1" / "cats.keras")]


def test_markdown_pairs_the_marked_share_with_the_kept_recipe():
    def step(name, marked):
        return {"name": name, "folds": [
            {"fold": k, "dice": 0.4, "marked": m} for k, m in enumerate(marked)]}

    summary = {"ladder": "q.json", "frames": "davis", "frame_count": 30,
               "machine": {"cpu": "a CPU", "cores": 2}, "code_version": "0.2.0",
               "command": "python -m catunet.study.mistaken ...",
               "steps": [step("kept recipe, retrained", [0.5, 0.6, 0.7]),
                         step("paste-negatives", [0.2, 0.4, 0.4])]}
    text = mistaken.markdown(summary)
    assert "| kept recipe, retrained | 0.400 ± 0.000 | 0.600 ± 0.100 |  |" \
        in text
    assert ("| paste-negatives | 0.400 ± 0.000 | 0.333 ± 0.115 | -0.267 "
            "(95% CI") in text


def test_inference_rows_are_the_kept_options_each_against_the_row_above():
    recorded = {"inference": {"tried": [
        {"group": "plain", "kept": True, "settings": {}},
        {"group": "zoom", "kept": False, "settings": {"zoom": 2}},
        {"group": "test-time augmentation", "kept": True,
         "settings": {"tta": True}},
        {"group": "cat boxes", "kept": True,
         "settings": {"tta": True, "cat_boxes": 0.1}}]}}
    assert mistaken.inference_rows(recorded) == [
        ("kept recipe, retrained, test-time augmentation", {"tta": True}),
        ("kept recipe, retrained, cat boxes", {"tta": True,
                                               "cat_boxes": 0.1})]

    def row(name, marked, inference=False):
        return {"name": name, "inference": inference, "folds": [
            {"fold": k, "dice": 0.4, "marked": m}
            for k, m in enumerate(marked)]}

    summary = {"ladder": "q.json", "frames": "davis", "frame_count": 30,
               "machine": {"cpu": "a CPU", "cores": 2}, "code_version": "0",
               "command": "python -m catunet.study.mistaken ...",
               "steps": [row("kept recipe, retrained", [0.5, 0.6, 0.7]),
                         row("paste-negatives", [0.2, 0.4, 0.4]),
                         row("kept recipe, retrained, tta", [0.6, 0.7, 0.8],
                             True),
                         row("kept recipe, retrained, cat boxes",
                             [0.3, 0.4, 0.5], True)]}
    text = mistaken.markdown(summary)
    assert "| kept recipe, retrained, tta | 0.400 ± 0.000 | 0.700 ± 0.100 " \
        "| +0.100 (95% CI" in text
    assert "| kept recipe, retrained, cat boxes | 0.400 ± 0.000 | " \
        "0.400 ± 0.100 | -0.300 (95% CI" in text


def test_step_names_keep_a_comma_that_is_part_of_a_name():
    assert mistaken.step_names("kept recipe, retrained,paste-negatives") == [
        "kept recipe, retrained", "paste-negatives"]
    assert mistaken.step_names("colour") == ["colour"]


def test_a_ladder_without_models_on_disk_is_a_clear_error(tmp_path, capsys):
    path = tmp_path / "quality.json"
    path.write_text(json.dumps(ladder_with(tmp_path, [("gone", "g", False)])))
    assert mistaken.main(["--ladder", str(path), "--frames",
                          str(tmp_path)]) == 2
    assert "none of its steps' fold models" in capsys.readouterr().err
