"""The model that ships with catunet: predict and serve use it when no
--model is given, and it scores what its record says."""

import json
import os
import subprocess
import sys

import pytest

from catunet import shipped
from catunet.data import loading
from catunet.inference import runtimes
from catunet.inference.evaluate import full_size_dice, model_test_pairs
from catunet.inference.predict import Settings
from catunet.models.saving import load_model
from tests.conftest import ROOT, SHARED_CATS


def test_it_is_small_enough_to_ship_and_says_what_it_is():
    assert shipped.model_path().stat().st_size <= 25 * 2**20
    for name in shipped.FILES:
        assert (shipped.FOLDER / name).is_file(), name
    assert "test Dice" in shipped.describe()


@pytest.mark.skipif(not SHARED_CATS.is_dir(), reason="needs the cat set")
def test_it_scores_a_test_photo_as_recorded_beside_it():
    scores = json.loads((shipped.FOLDER / "eval-test.json").read_text())
    pairs = model_test_pairs(shipped.model_path(), SHARED_CATS)[1]
    first = pairs[0]
    row = next(r for r in scores["images"] if r["image"] == first.image.name)
    model = load_model(shipped.model_path(), compile=False)
    settings = Settings.beside(shipped.model_path())
    dice = full_size_dice(model, [first], settings)[0]
    assert dice == pytest.approx(row["dice_full_size"], abs=1e-3)
    images, masks = loading.load_pairs([first], model.input_shape[1],
                                    loading.IMAGE_SIZE)
    from catunet.inference.evaluate import score

    assert score(model, images, masks, settings)["dice"][0] == \
        pytest.approx(row["dice"], abs=1e-3)


@pytest.mark.slow
@pytest.mark.skipif(not SHARED_CATS.is_dir(), reason="needs the cat set")
def test_predict_without_a_model_uses_it(tmp_path):
    photo = sorted((SHARED_CATS / "images").iterdir())[0]
    result = subprocess.run(
        [sys.executable, "-m", "catunet.cli", "predict", str(photo)],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "predictions" / f"{photo.stem}-mask.png").is_file()
    assert not (shipped.FOLDER / "predictions").exists()


def test_help_names_the_shipped_model():
    from catunet.cli import make_parser

    text = make_parser("catunet predict", only="predict").format_help()
    assert "ships with catunet" in " ".join(text.split())


def test_conversions_of_the_shipped_model_are_cached_elsewhere(
        tmp_path, monkeypatch):
    monkeypatch.setenv("CATUNET_RUNTIME_DIR", str(tmp_path / "cache"))
    own = tmp_path / "run" / "cats.keras"
    own.parent.mkdir()
    own.write_bytes(b"a model")
    assert runtimes.converted_path(own, "onnx").parent.parent == own.parent
    assert runtimes.converted_path(shipped.model_path(), "onnx") \
        .parent.parent == tmp_path / "cache"
    monkeypatch.setattr(shipped.os, "access", lambda path, mode: False)
    assert runtimes.converted_path(own, "onnx").parent.parent == \
        tmp_path / "cache"  # a folder it cannot write
