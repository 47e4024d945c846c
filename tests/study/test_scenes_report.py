"""The scenes report, end to end on a tiny model and drawn frames."""

import json

import cv2
import numpy as np
import pytest

from catunet.errors import CatunetError
from catunet.study import scenes


def write_frames(root, groups=6, per_group=3, with_masks=True):
    """Frames named like DAVIS's (``SEQUENCE_NNNNN``), a bright square of
    their own foreground in each."""
    (root / "images").mkdir(parents=True)
    if with_masks:
        (root / "masks").mkdir()
    rng = np.random.default_rng(0)
    for g in range(groups):
        for k in range(per_group):
            stem = f"seq{g}_{k:05d}"
            photo = rng.integers(0, 255, (36, 64, 3), dtype=np.uint8)
            cv2.imwrite(str(root / "images" / f"{stem}.jpg"), photo)
            if with_masks:
                mask = np.zeros((36, 64), np.uint8)
                mask[2:10, 2:10] = 255
                cv2.imwrite(str(root / "masks" / f"{stem}.png"), mask)
    return root


def test_frames_are_one_per_sequence_and_may_come_without_masks(tmp_path):
    frames = scenes.load_frames(write_frames(tmp_path / "davis"))
    assert [name for name, _, _ in frames] == [f"seq{g}_00001.jpg"
                                                for g in range(6)]
    assert all(mask.sum() == 64 for _, _, mask in frames)
    plain = scenes.load_frames(write_frames(tmp_path / "plain",
                                            with_masks=False))
    assert len(plain) == 18 and all(not m.any() for _, _, m in plain)


def test_frames_of_sequences_a_run_trained_on_are_left_out(tmp_path):
    davis = write_frames(tmp_path / "davis")
    frames = scenes.load_frames(davis)
    trained = [davis / "images" / "seq2_00000.jpg",
               davis / "images" / "seq4_00002.jpg"]
    kept = scenes.frames_apart(frames, trained)
    assert [name for name, _, _ in kept] == [
        f"seq{g}_00001.jpg" for g in (0, 1, 3, 5)]
    with pytest.raises(CatunetError, match="every scene frame"):
        scenes.frames_apart(frames, [f"seq{g}_00009.png" for g in range(6)])


def test_the_report_scores_every_kind_and_pairs_the_groups(
        tmp_path, tiny_model, monkeypatch):
    monkeypatch.chdir(tmp_path)
    frames = write_frames(tmp_path / "davis")
    scenes.main(["--frames", str(frames), "--report", "out",
                 "--model", f"first={tiny_model},{tiny_model}",
                 "--model", f"second={tiny_model},{tiny_model}"])
    summary = json.loads((tmp_path / "out" / "scenes.json").read_text())
    assert summary["command"].endswith("--report out")
    runs = summary["models"]["second"]
    assert summary["frames"]["count"] == 6 and len(runs) == 2
    cats = summary["test_cats"]
    assert len(runs[0]["scenes"]) == cats * 4
    for kind, found in runs[0]["kinds"].items():
        assert found["scenes"] == cats and 0 <= found["dice"] <= 1
        assert found["cats"] == cats * (3 if kind == "several" else 1)
    report = (tmp_path / "out" / "scenes.md").read_text()
    assert "| small |" in report and "never used to choose" in report
    # The same model in both groups: every paired difference is zero.
    assert "second against first, paired by seed" in report
    assert "+0.000 (95% CI" in report
    assert (tmp_path / "out" / "scenes.png").is_file()
    readme = scenes.paragraph(summary)
    assert "*second* (seeds 0, 0)" in readme and "several" in readme


@pytest.mark.parametrize("value", ["nolabel", "=a.keras", "x="])
def test_a_malformed_model_group_is_refused(value, tmp_path):
    with pytest.raises(SystemExit, match="expected LABEL=PATH"):
        scenes.main(["--frames", str(tmp_path), "--model", value])


def test_a_missing_model_is_named(tmp_path):
    with pytest.raises(SystemExit, match="nothing.keras: model not found"):
        scenes.main(["--frames", str(tmp_path), "--model",
                     f"a={tmp_path / 'nothing.keras'}"])



def test_a_remembered_model_runs_each_batch_once():
    from catunet.inference.predict import Settings, predict_photo_masks
    from catunet.study.scenes import Remembered

    class Counting:
        input_shape = (None, 8, 8, 3)
        passes = 0

        def predict_on_batch(self, batch):
            Counting.passes += 1
            return np.asarray(batch, np.float32)[..., :1] / 255

    photo = np.zeros((20, 30, 3), np.uint8)
    photo[5:15, 5:15, 0] = 255
    model = Remembered(Counting())
    first = predict_photo_masks(model, [photo], Settings(zoom=2))
    passes = Counting.passes
    again = predict_photo_masks(model, [photo],
                                Settings(zoom=2, threshold=0.3))
    assert Counting.passes == passes > 0
    assert first[0].sum() <= again[0].sum()
    other = predict_photo_masks(model, [photo[:, ::-1].copy()], Settings())
    assert Counting.passes > passes and other[0].shape == (20, 30)
