"""Shared fixtures: small labelled folders drawn by the tests themselves."""

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parents[1]
SHARED_CATS = Path(os.environ.get("CATUNET_DATA_DIR")
                   or ROOT.parent / "shared" / "data" / "cats")


@pytest.fixture(autouse=True)
def _leaves_the_checkout_as_found():
    """A test that writes into the repository's ``data/`` (a split of its
    tiny folder in ``data/splits``, when it forgot to ``chdir``) fails."""
    before = set((ROOT / "data").rglob("*"))
    yield
    added = set((ROOT / "data").rglob("*")) - before
    assert not added, ("the test wrote into the checkout: "
                       + ", ".join(str(p.relative_to(ROOT)) for p in added))


def draw_pair(rng, height=48, width=64):
    """A photo with a bright ellipse on a noisy background, and its mask."""
    mask = np.zeros((height, width), np.uint8)
    center = (int(rng.integers(16, width - 16)), int(rng.integers(16, height - 16)))
    axes = (int(rng.integers(6, 14)), int(rng.integers(6, 12)))
    cv2.ellipse(mask, center, axes, 0, 0, 360, 255, -1)
    photo = rng.integers(0, 60, (height, width, 3), dtype=np.uint8)
    photo[mask > 0] = (200, 180, 90)
    return photo, mask


def write_folder(root, n=12, mask_name="mask_{stem}.png", seed=0):
    """Writes ``n`` pairs into ``root/images`` and ``root/masks``."""
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir(parents=True)
    for i in range(n):
        photo, mask = draw_pair(rng)
        stem = f"shape.{i}"
        cv2.imwrite(str(root / "images" / f"{stem}.jpg"), photo)
        cv2.imwrite(str(root / "masks" / mask_name.format(stem=stem)), mask)
    return root


@pytest.fixture
def shapes_dir(tmp_path):
    """A folder of 12 drawn pairs, masks named with a ``mask_`` prefix."""
    return write_folder(tmp_path / "shapes")


@pytest.fixture
def cats_dir():
    """The real cat set: $CATUNET_DATA_DIR, else ../shared/data/cats."""
    if not SHARED_CATS.is_dir():
        pytest.skip(f"{SHARED_CATS} is not here")
    return SHARED_CATS


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    """A width-2 model trained for one epoch on drawn shapes (64x48 photos),
    with its run folder (config.json, split.json)."""
    from catunet.training.config import TrainConfig
    from catunet.training.train import train

    root = tmp_path_factory.mktemp("tiny")
    shapes = write_folder(root / "shapes", n=12)
    config = TrainConfig(data_dir=str(shapes), split=str(root / "split.json"),
                         width=2, depth=2, epochs=1, batch_size=4,
                         image_size=32, out=str(root / "run"))
    return train(config, verbose=0).model_path
