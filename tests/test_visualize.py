"""visualize.py: outlines on the test photos and predictions on any photo."""

import json

import cv2
import numpy as np
import pytest

from catunet import visualize
from tests.training.test_train import run_cli


def test_test_mode_outlines_at_original_size(tiny_model):
    items = visualize.outline_test_set(tiny_model)
    assert len(items) == 4  # 30% of 12
    for item in items:
        assert item.photo.shape == (48, 64, 3)  # not the model's 32 x 32
        assert item.predicted.shape == item.truth.shape == (48, 64)
        assert 0.0 <= item.dice <= 1.0


def test_samples_are_best_median_worst():
    picks = visualize.pick_samples(np.array([0.8, 0.3, 0.9, 0.6, 0.7]))
    assert picks == [("best", 2), ("median", 4), ("worst (failure)", 1)]
    picks = visualize.pick_samples(np.array([0.8, 0.9, 0.7]))
    assert picks[-1] == ("worst", 2)  # 0.7 is not a failure


def test_dice_of_outlined_masks():
    truth = np.zeros((10, 10), np.uint8)
    truth[:5] = 1
    predicted = np.zeros_like(truth)
    predicted[:, :5] = 1
    item = visualize.Outlined("x", np.zeros((10, 10, 3), np.uint8), predicted,
                              truth)
    assert item.dice == pytest.approx(0.5)  # 25 of 50 + 50 pixels


def test_cli_test_mode_end_to_end(tiny_model, tmp_path):
    result = run_cli("visualize.py", "--model", str(tiny_model), "--out",
                     str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    assert "best" in result.stdout and "median" in result.stdout
    summary = json.loads((tmp_path / "out" / "samples.json").read_text())
    assert summary["count"] == 4 and len(summary["dice_per_image"]) == 4
    assert summary["mean_dice"] == pytest.approx(
        np.mean(list(summary["dice_per_image"].values())))
    for name in ("samples.png", "contact-sheet.png"):
        assert cv2.imread(str(tmp_path / "out" / name)) is not None


def test_cli_without_a_model_says_how_to_get_one(tmp_path, monkeypatch,
                                                 capsys):
    """Without --model, predict uses the shipped model (tests/test_shipped);
    an install that lacks it says how to get a model."""
    from catunet import shipped
    from catunet.cli import run_command

    monkeypatch.setattr(shipped, "MODEL", tmp_path / "missing.keras")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit:
        run_command("predict", [], prog="visualize.py")
    assert exit.value.code != 0
    message = str(exit.value.code)
    assert "python train.py" in message and "Traceback" not in message


def write_photos(folder):
    folder.mkdir()
    rng = np.random.default_rng(0)
    cv2.imwrite(str(folder / "colour.jpg"), rng.integers(0, 255, (90, 120, 3),
                                                          dtype=np.uint8))
    cv2.imwrite(str(folder / "grey.png"), rng.integers(0, 255, (40, 30),
                                                       dtype=np.uint8))
    cv2.imwrite(str(folder / "alpha.png"), rng.integers(0, 255, (50, 50, 4),
                                                        dtype=np.uint8))
    cv2.imwrite(str(folder / "colour.bmp"), rng.integers(0, 255, (20, 70, 3),
                                                         dtype=np.uint8))
    (folder / "notes.txt").write_text("not a photo")  # ignored in a folder
    return folder


def test_predict_any_photo_at_its_size(tiny_model, tmp_path):
    photos = write_photos(tmp_path / "photos")
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a jpeg")
    saved, failed = visualize.predict_photos(
        tiny_model, [photos, broken], tmp_path / "out", progress=False)
    assert failed == [broken] and len(saved) == 4
    # Folders are read in sorted order; a second photo with the same stem
    # gets its extension added.
    sizes = {"colour": (20, 70), "colour-jpg": (90, 120), "grey": (40, 30),
             "alpha": (50, 50)}
    for stem, shape in sizes.items():
        mask = cv2.imread(str(tmp_path / "out" / f"{stem}-mask.png"),
                          cv2.IMREAD_UNCHANGED)
        assert mask.shape == shape and set(np.unique(mask)) <= {0, 255}
        outline = cv2.imread(str(tmp_path / "out" / f"{stem}-outline.jpg"))
        assert outline.shape == (*shape, 3)


def test_cli_predict_reports_a_bad_file_in_one_line_and_goes_on(
        tiny_model, tmp_path):
    photos = write_photos(tmp_path / "photos")
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"")
    result = run_cli("visualize.py", "--model", str(tiny_model), str(broken),
                     str(photos / "colour.jpg"), "--out", str(tmp_path / "out"))
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines()
              if line.startswith("error:")]
    assert len(errors) == 1 and "broken.png" in errors[0]
    assert "Traceback" not in result.stderr
    assert (tmp_path / "out" / "colour-mask.png").is_file()
    assert "Saved masks and outlines of 1 photos" in result.stdout


def test_help_explains_every_flag():
    out = run_cli("visualize.py", "--help").stdout
    for flag in ["PHOTO", "--model", "--data-dir", "--split", "--no-truth",
                 "--out"]:
        assert flag in out
