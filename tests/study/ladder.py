"""The quality ladder at tiny widths, shared by the ladder's test modules.

Tests that climb in one runs folder reuse one another's pre-training and
transfer runs (``RunStore``); the ladder's two test modules climb in
folders of their own, so xdist's loadscope runs them on different
workers."""

from catunet.study import experiments, quality
from tests.conftest import write_folder


def climb(folder, shapes_dir, monkeypatch, steps, final_seeds,
          recorded=None, scenes_frames=None, fold=None):
    """Climbs ``steps`` in ``folder`` at tiny widths (2 seeds, 32 px);
    returns ``run_ladder``'s ``(summary, study)``."""
    monkeypatch.chdir(folder)
    monkeypatch.setenv("CATUNET_DATA_DIR", str(shapes_dir))
    monkeypatch.setitem(experiments.TRANSFER_VARIANTS, quality.TRANSFER,
                        {"init": experiments.PRETRAINED, "freeze_epochs": 1,
                         "fine_tune_learning_rate": 3e-3})
    monkeypatch.setitem(quality.ARCHITECTURE, "capacity", {"width": 6})
    horses, unlabelled = folder / "horses", folder / "unlabelled"
    if not horses.exists():  # the folder's first climb writes them
        write_folder(horses, n=10, seed=1)
        write_folder(unlabelled, n=12, seed=2)
    unlabelled = unlabelled / "images"
    return quality.run_ladder(
        horses, unlabelled, str(shapes_dir), seeds=2, pretrain_epochs=3,
        paste_backgrounds=str(horses), final_seeds=final_seeds, steps=steps,
        recorded=recorded, scenes_frames=scenes_frames, fold=fold,
        split=str(folder / "split.json"), width=4, depth=2, epochs=12,
        batch_size=4, image_size=32, pseudo_epochs=1, pseudo_keep=0.5,
        learning_rate=3e-3)
