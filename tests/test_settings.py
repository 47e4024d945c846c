"""Settings that check themselves (``catunet.checks``), and property-based
tests (Hypothesis) of every way a setting comes in: the library's
dataclasses, the command line, a saved config."""

import dataclasses
import json
import math
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from catunet import checks, cli, flags
from catunet.checks import SettingError
from catunet.errors import CatunetError
from catunet.inference.predict import SETTING_RULES, Settings
from catunet.models import losses
from catunet.training.config import LOSSES, RULES, TrainConfig
from tests.conftest import ROOT

FIELDS = [f.name for f in dataclasses.fields(TrainConfig)]
# Any value a caller might pass: right and wrong types, out of range,
# empty, not finite.
ANY = st.one_of(
    st.none(), st.booleans(), st.integers(-(2 ** 40), 2 ** 40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12), st.sampled_from(["", "0", "-3", "nan", "2,3"]))


def valid_values(rule):
    """Values ``rule`` allows, drawn from its own type and range."""
    if isinstance(rule, checks.Whole):
        values = st.integers(rule.low, rule.high if rule.high is not None
                             else rule.low + 1000)
    elif isinstance(rule, checks.Number):
        values = st.floats(rule.low, rule.high if rule.high is not None
                           else 1e6, allow_nan=False).filter(rule.allows)
    elif isinstance(rule, checks.Choice):
        values = st.sampled_from(rule.options)
    elif isinstance(rule, checks.Flag):
        values = st.booleans()
    else:
        values = st.text(min_size=0 if rule.empty else 1, max_size=8)
    return st.one_of(values, st.none()) \
        if getattr(rule, "optional", False) else values


def test_every_field_has_a_rule_and_losses_agree():
    assert list(RULES) == FIELDS
    assert list(SETTING_RULES) == [f.name for f in
                                   dataclasses.fields(Settings)]
    assert tuple(losses.LOSSES) == LOSSES


@pytest.mark.parametrize("field", FIELDS)
def test_each_rule_allows_the_default(field):
    assert RULES[field].allows(getattr(TrainConfig(), field))


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(FIELDS), ANY, max_size=4))
def test_a_config_is_made_or_refused_naming_a_flag(values):
    """Random values of random fields: the config is made, every value
    within its rule, or the package's own error names a flag; never
    another exception."""
    try:
        config = TrainConfig(**values)
    except CatunetError as error:
        assert "--" in str(error), str(error)
        return
    for name, rule in RULES.items():
        assert rule.allows(getattr(config, name)), name


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_a_value_its_rule_allows_is_only_refused_in_a_combination(data):
    """A field set alone to a value its own rule allows makes a config,
    unless a combination rule names the flag and another one."""
    field = data.draw(st.sampled_from(FIELDS))
    value = data.draw(valid_values(RULES[field]))
    try:
        TrainConfig(**{field: value})
    except SettingError as error:
        assert checks.flag(field) in str(error) and str(error).count("--") \
            >= 1, str(error)
    except CatunetError as error:  # a spec that parses as text
        assert field in ("augment", "mosaic_grids"), str(error)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(list(SETTING_RULES)), ANY,
                       max_size=3))
def test_inference_settings_are_made_or_refused_naming_a_flag(values):
    try:
        made = Settings(**values)
    except SettingError as error:
        assert str(error).startswith("--"), str(error)
        return
    for name, rule in SETTING_RULES.items():
        assert rule.allows(getattr(made, name)), name


FLAG_VALUES = st.one_of(
    st.text(max_size=8), st.sampled_from(["-3", "0", "1", "0.5", "nan",
                                          "inf", "1e9", "", "true"]))


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(FIELDS), FLAG_VALUES),
                max_size=3))
def test_the_train_command_line_parses_or_says_which_flag(pairs):
    """Random flags of ``catunet train`` with random text: argparse refuses
    (exit 2), or the config is made, or a package error names the flag
    (which the command turns into one ``error:`` line and exit 2)."""
    argv = []
    for name, value in pairs:
        argv += [checks.flag(name), value]
    try:
        args = cli.parse("train", argv)
    except SystemExit as stop:
        assert stop.code == 2
        return
    try:
        flags.config_from_args(args)
    except CatunetError as error:
        assert "--" in str(error), str(error)


@pytest.mark.parametrize("values, message", [
    ({"epochs": -3}, "--epochs must be a whole number >= 1, got -3"),
    ({"width": 0}, "--width must be a whole number >= 1, got 0"),
    ({"learning_rate": math.nan}, "--learning-rate must be a number in "
     "(0, 10], got nan"),
    ({"batch_size": 2.5}, "--batch-size must be a whole number >= 1, got 2.5"),
    ({"epochs": True}, "--epochs must be a whole number >= 1, got True"),
    ({"folds": 3, "val_fold": 3}, "--val-fold must be below --folds (3)"),
    ({"folds": 1}, "--folds must be 0 (no validation fold) or at least 2"),
    ({"epochs": 5, "freeze_epochs": 5, "init": "m.keras"},
     "--freeze-epochs must be below --epochs (5), got 5"),
    ({"image_size": 100, "depth": 4}, "--image-size must be a multiple of "
     "2**--depth (16)"),
    ({"encoder": "efficientnet-lite0", "image_size": 96 + 16},
     "--image-size must be a multiple of 32"),
    ({"teacher": "t.keras"}, "--teacher labels the --unlabelled photos"),
    ({"unlabelled": "pets", "out": "runs/a,b"}, "--out runs/a,b: with "
     "--unlabelled the pseudo-labelled photos are written inside --out"),
    ({"augment": "flip,rotate=-1"}, "--augment: the strength of rotate"),
    ({"mosaic": 0.5, "mosaic_grids": "5"}, "--mosaic-grids must be grid "
     "sides among 2, 3, 4"),
])
def test_bad_settings_name_the_flag_the_value_and_what_is_allowed(
        values, message):
    with pytest.raises(CatunetError) as error:
        TrainConfig(**values)
    assert message in str(error.value)


def test_a_saved_config_with_a_bad_value_is_refused_when_loaded(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({**TrainConfig().to_dict(), "epochs": -3}))
    with pytest.raises(SettingError, match="--epochs must be"):
        TrainConfig.load(path)


def test_flags_without_effect_are_named():
    assert TrainConfig().without_effect() == []
    notes = TrainConfig(pseudo_keep=0.9, encoder="efficientnet-lite0",
                        width=16).without_effect()
    assert "--pseudo-keep only shapes self-training, which needs " \
        "--unlabelled: ignored" in notes
    assert "--width shapes the paper's U-Net; --encoder efficientnet-lite0 " \
        "ignores it" in notes
    both = TrainConfig(encoder="efficientnet-lite0", width=16,
                       depth=3).without_effect()
    assert any("--width, --depth shape" in n and "ignores them" in n
               for n in both)


@pytest.mark.slow
@pytest.mark.parametrize("argv, message", [
    (["--stage", "cats", "--epochs", "-3"], "--epochs must be a whole "
     "number >= 1, got -3"),
    (["--stage", "cats", "--width", "0"], "--width must be a whole number "
     ">= 1, got 0"),
])
def test_the_command_gives_one_error_line_exit_2_and_writes_nothing(
        tmp_path, argv, message):
    """The issue's commands, also on a folder that holds a run: the bad
    value is named, not 'other settings'."""
    out = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, "train.py", *argv, "--out", str(out)], cwd=ROOT,
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: {message}"
    assert not out.exists()
    out.mkdir()
    (out / "run.json").write_text(json.dumps(
        {"config": TrainConfig().to_dict(), "key": "x"}))
    result = subprocess.run(
        [sys.executable, "train.py", *argv, "--out", str(out)], cwd=ROOT,
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and message in result.stderr
    assert "other settings" not in result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["run.json"]
