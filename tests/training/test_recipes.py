"""Named recipes: one word for a measured result's settings."""

import dataclasses
import json
from pathlib import Path

import pytest

from catunet.cli import parse
from catunet.errors import CatunetError
from catunet.checks import SettingError
from catunet.flags import config_from_args
from catunet.study import encoder_report
from catunet.training import recipes
from catunet.training.config import TrainConfig
from catunet.training.provenance import key_inputs
from tests.conftest import ROOT


def test_a_recipe_fills_what_no_flag_gives():
    config = config_from_args(parse("train", ["--recipe", "encoder",
                                              "--epochs", "7"]))
    assert config.recipe == "encoder" and config.epochs == 7  # flag wins
    for key, value in recipes.recipe("encoder").items():
        if key != "epochs":
            assert getattr(config, key) == value
    assert config_from_args(parse("train", ["--recipe", "paper"])) == \
        TrainConfig(recipe="paper")


def test_a_flag_at_odds_with_the_recipe_names_what_the_recipe_gave(
        monkeypatch):
    monkeypatch.setitem(recipes.RECIPES, "quick", {
        **recipes.RECIPES["quick"], "freeze_epochs": 5})
    with pytest.raises(SettingError, match=r"--freeze-epochs must be below "
                       r"--epochs \(3\), got 5 \(--recipe quick gives .*"
                       r"--freeze-epochs 5\)$"):
        config_from_args(parse("train", ["--recipe", "quick",
                                         "--epochs", "3"]))
    with pytest.raises(SettingError, match=r"got -3$"):  # the user's value
        config_from_args(parse("train", ["--recipe", "quick",
                                         "--epochs", "-3"]))


def test_without_a_recipe_the_cli_trains_the_default_one():
    """TrainConfig's own defaults stay the paper's U-Net (the study's
    base); ``catunet train`` with no --recipe trains ``recipes.DEFAULT``."""
    assert recipes.DEFAULT == "quick"
    assert config_from_args(parse("train", [])) == TrainConfig(
        **recipes.recipe("quick"), recipe="quick")


def test_a_field_set_to_none_is_a_flag_left_out():
    assert recipes.as_flags({"image_size": 256, "unlabelled": None,
                             "pseudo_keep": 0.5}) == \
        "--image-size 256 --pseudo-keep 0.5"


def test_a_true_or_false_field_is_a_switch_the_cli_reads():
    for value in (True, False):
        flags = recipes.as_flags({"batch_norm": value, "epochs": 3})
        assert flags == ("--batch-norm" if value else "--no-batch-norm") \
            + " --epochs 3"
        assert config_from_args(parse("train", flags.split())).batch_norm \
            == value


def test_paper_is_the_defaults_and_unknown_names_are_refused():
    assert dataclasses.replace(TrainConfig(), **recipes.recipe("paper")) \
        == TrainConfig()
    with pytest.raises(CatunetError, match="unknown recipe 'best'"):
        recipes.recipe("best")
    with pytest.raises(SystemExit):
        parse("train", ["--recipe", "best"])


def test_the_recipe_name_is_not_part_of_the_run_key():
    named = TrainConfig(**recipes.recipe("encoder"), recipe="encoder")
    plain = TrainConfig(**recipes.recipe("encoder"))
    assert key_inputs(named, None) == key_inputs(plain, None)


def test_the_encoder_recipe_is_what_the_report_that_ships_chose():
    summary = json.loads((ROOT / encoder_report.SHIPPING /
                          "ladder.json").read_text())
    assert summary["ships"]  # on validation, by catunet.study.cheaper's rule
    assert recipes.recipe("encoder") == recipes.from_study(summary["recipe"])
    assert recipes.flags("encoder").startswith("--encoder efficientnet-lite2")


def test_a_recipe_that_self_trains_asks_for_the_photos_it_needs(
        monkeypatch):
    monkeypatch.setitem(recipes.RECIPES, "quick", {
        **recipes.RECIPES["quick"], "pseudo_keep": 0.2})
    alone = config_from_args(parse("train", ["--recipe", "quick"]))
    assert any("--unlabelled FOLDER" in note
               for note in alone.without_effect())
    given = config_from_args(parse("train", ["--recipe", "quick",
                                             "--unlabelled", "photos"]))
    assert given.without_effect() == []


@pytest.mark.parametrize("name, report", [
    ("encoder", encoder_report.SHIPPING / "ladder.json"),
    ("quick", Path("reports") / "defaults" / "defaults.json")])
def test_a_recipes_inference_is_what_its_study_chose(name, report):
    from catunet.inference.predict import Settings

    summary = json.loads((ROOT / report).read_text())
    plain = Settings.as_dict({})
    chosen = {k: v for k, v in
              Settings.as_dict(summary["inference"]["chosen"]).items()
              if v != plain.get(k)}
    assert recipes.INFERENCE[name] == chosen


@pytest.mark.slow
def test_a_run_of_a_recipe_keeps_its_inference_settings(tmp_path, shapes_dir,
                                                        monkeypatch):
    from catunet.inference.predict import Settings
    from catunet.training.train import train

    monkeypatch.setitem(recipes.INFERENCE, "paper", {"tta": True,
                                                     "threshold": 0.6})
    run = train(TrainConfig(data_dir=str(shapes_dir), width=2, depth=2,
                            epochs=1, batch_size=4, image_size=32,
                            recipe="paper", split=str(tmp_path / "s.json"),
                            out=str(tmp_path / "run")), verbose=0)
    assert Settings.beside(run.model_path) == Settings(tta=True,
                                                       threshold=0.6)


def test_the_default_recipe_is_what_won_on_validation():
    """``catunet train`` without --recipe trains the recipe that
    ``python -m catunet.study.defaults`` found better on the validation
    folds and scenes (``reports/defaults/defaults.json``)."""
    summary = json.loads((ROOT / "reports" / "defaults" /
                          "defaults.json").read_text())
    assert recipes.DEFAULT == summary["winner"]
    for name, candidate in summary["candidates"].items():
        assert recipes.recipe(name) == candidate["recipe"]
    scores = {name: sum(c["score"]) for name, c in
              summary["candidates"].items()}
    assert max(scores, key=scores.get) == summary["winner"]
