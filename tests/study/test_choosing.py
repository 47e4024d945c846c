"""How the study chooses: the validation-cat scenes of each fold, the
choosing score, the greedy inference search."""

import dataclasses

import cv2
import numpy as np
import pytest

from catunet.data import scenes
from catunet.errors import CatunetError
from catunet.inference.predict import Settings, predict_photo_masks
from catunet.study import choosing, variants

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
    frames = choosing.load_frames(write_frames(tmp_path / "davis"))
    assert [name for name, _, _ in frames] == [f"seq{g}_00001.jpg"
                                                for g in range(6)]
    assert all(mask.sum() == 64 for _, _, mask in frames)
    plain = choosing.load_frames(write_frames(tmp_path / "plain",
                                            with_masks=False))
    assert len(plain) == 18 and all(not m.any() for _, _, m in plain)


def test_frames_of_sequences_a_run_trained_on_are_left_out(tmp_path):
    davis = write_frames(tmp_path / "davis")
    frames = choosing.load_frames(davis)
    trained = [davis / "images" / "seq2_00000.jpg",
               davis / "images" / "seq4_00002.jpg"]
    kept = choosing.frames_apart(frames, trained)
    assert [name for name, _, _ in kept] == [
        f"seq{g}_00001.jpg" for g in (0, 1, 3, 5)]
    with pytest.raises(CatunetError, match="every scene frame"):
        choosing.frames_apart(frames, [f"seq{g}_00009.png" for g in range(6)])


def test_scenes_of_a_fold_hold_only_that_folds_cats(tmp_path, shapes_dir):
    study = variants.Study.load(str(shapes_dir), seeds=2,
                                   split=str(tmp_path / "split.json"))
    frames = [("f.jpg", np.zeros((36, 64, 3), np.uint8),
               np.zeros((36, 64), np.uint8))]
    made = choosing.fold_scenes(study, frames, seed=0)
    for k, fold in enumerate(made):
        names = set(study.fold_names(k))
        assert {cat for scene in fold for cat in scene.cats} <= names
        assert len(fold) == len(names) * len(scenes.KINDS)
    test = {p.image.name for p in study.test_pairs}
    assert not test & {c for fold in made for s in fold for c in s.cats}


def test_the_choosing_score_is_the_mean_of_photos_and_scenes():
    assert choosing.choosing_score(0.8, 0.4) == pytest.approx(0.6)
    assert choosing.choosing_score([0.8, 0.6], [0.4, 0.2]) == \
        pytest.approx([0.6, 0.4])


def test_greedy_inference_keeps_a_group_only_when_it_raises_the_criterion():
    # A made-up score: best at threshold 0.3, helped by filling holes and
    # most by zoom 2, hurt by test-time augmentation and by dropping specks.
    def measure(settings):
        value = (-abs(settings.threshold - 0.3) + 0.1 * settings.fill_holes
                 - 0.1 * settings.tta - settings.min_area
                 + {1: 0, 2: 0.05, 3: 0.02}[settings.zoom])
        return {"settings": dataclasses.asdict(settings), "value": value}

    chosen = choosing.greedy_inference(measure, lambda r: r["value"])
    assert chosen["chosen"] == dataclasses.asdict(
        Settings(threshold=0.3, fill_holes=True, zoom=2))
    kept = [t["group"] for t in chosen["tried"] if t["kept"]]
    assert kept == ["plain", "zoom", "threshold", "fill holes"]


def test_a_remembered_model_runs_each_batch_once():
    class Counting:
        input_shape = (None, 8, 8, 3)
        passes = 0

        def predict_on_batch(self, batch):
            Counting.passes += 1
            return np.asarray(batch, np.float32)[..., :1] / 255

    photo = np.zeros((20, 30, 3), np.uint8)
    photo[5:15, 5:15, 0] = 255
    model = choosing.Remembered(Counting())
    first = predict_photo_masks(model, [photo], Settings(zoom=2))
    passes = Counting.passes
    again = predict_photo_masks(model, [photo],
                                Settings(zoom=2, threshold=0.3))
    assert Counting.passes == passes > 0
    assert first[0].sum() <= again[0].sum()
    other = predict_photo_masks(model, [photo[:, ::-1].copy()], Settings())
    assert Counting.passes > passes and other[0].shape == (20, 30)
