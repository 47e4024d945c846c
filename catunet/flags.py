"""The flags the commands share, each explained by its ``--help``:
``catunet train``'s, one per ``TrainConfig`` field (typed and documented
from the field), and the inference and runtime flags of ``evaluate``,
``predict`` and ``serve``. Parsing them never starts TensorFlow."""

import argparse
import dataclasses
import re
import types
import typing

from catunet.checks import SettingError
from catunet.training.config import (ENCODERS, LOSSES, PRECISIONS, STAGES,
                                     STRATEGIES, TrainConfig, field_help)
from catunet.training.recipes import DEFAULT, RECIPES, as_flags

CHOICES = {"stage": STAGES, "precision": PRECISIONS, "encoder": ENCODERS,
           "recipe": tuple(RECIPES),
           "strategy": STRATEGIES}


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each flag's default, except where there is none to show (the
    help text then says what happens without the flag)."""

    def _get_help_string(self, action):
        if action.default is None or action.default == "" or \
                action.default is argparse.SUPPRESS:
            return action.help
        return super()._get_help_string(action)


def _plain(text):
    return text.replace("``", "'")


def add_config_flags(parser, defaults=TrainConfig()):
    """Adds ``--field-name`` for every field of ``TrainConfig``, typed and
    documented from the field itself."""
    helps = field_help(type(defaults))
    choices = {**CHOICES, "loss": tuple(LOSSES)}
    hints = typing.get_type_hints(type(defaults))
    for field in dataclasses.fields(defaults):
        flag = "--" + field.name.replace("_", "-")
        default = getattr(defaults, field.name)
        kind = hints[field.name]
        if isinstance(kind, types.UnionType):  # e.g. str | None
            kind = next(k for k in typing.get_args(kind) if k is not type(None))
        options = dict(default=default, help=_plain(helps[field.name]))
        if kind is bool:
            options["action"] = argparse.BooleanOptionalAction
        else:
            options["type"] = kind
            options["metavar"] = field.name.upper()
        if field.name in choices:
            options["choices"] = choices[field.name]
            options.pop("metavar")
        if field.name == "recipe":  # the CLI's default; TrainConfig's is paper
            options["default"] = DEFAULT
        if field.name == "augment":  # --augment alone: the recommended set
            options.update(nargs="?", const="recommended", metavar="SPEC")
        parser.add_argument(flag, **options)


def flags_for(config, skip=("out", "data_dir", "split", "protect")):
    """The ``train`` flags that give ``config`` (a dict), those that differ
    from the defaults; ``skip`` names fields left to the caller."""
    defaults = dataclasses.asdict(TrainConfig())
    flags = []
    for key, value in config.items():
        if key in skip or key not in defaults or value == defaults[key]:
            continue
        flags += flag(key, value)
    return flags


def flag(key, value):
    """The ``train`` flag that sets field ``key`` to ``value``, as
    arguments (``["--width", "16"]``, ``["--no-tta"]``)."""
    name = "--" + key.replace("_", "-")
    if isinstance(value, bool):
        return [name if value else "--no-" + name[2:]]
    return [name, str(value)]


def config_from_args(args):
    """The ``TrainConfig`` of parsed ``train`` flags.

    Raises:
        SettingError: The settings do not go together; where the message
            names a value ``--recipe`` gave, it says so.
    """
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    values = {k: v for k, v in vars(args).items() if k in names}
    try:
        return TrainConfig(**values)
    except SettingError as error:
        given = RECIPES.get(values.get("recipe"), {})
        named = {k: v for k, v in given.items() if values.get(k) == v and
                 re.search(rf"--{k.replace('_', '-')}\b", str(error))}
        if not named:
            raise
        raise SettingError(f"{error} (--recipe {values['recipe']} gives "
                           f"{as_flags(named)})") from None


def _zoom(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"zoom must be 1 or more, not {text}")
    return value


def _area(text):
    value = float(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(
            f"an area is a fraction of the photo above 0 and at most 1, "
            f"not {text}")
    return value


def add_inference_flags(p):
    from catunet.inference.predict import ZOOM_MERGES

    p.add_argument("--tta", action=argparse.BooleanOptionalAction,
                   default=None, help="average each photo's prediction with "
                   "its mirror image's (default: as inference.json beside the "
                   "model says, else off)")
    p.add_argument("--threshold", type=float, default=None,
                   help="probability above which a pixel is foreground "
                   "(default: inference.json, else 0.5)")
    p.add_argument("--fill-holes", action=argparse.BooleanOptionalAction,
                   default=None, help="fill background enclosed by "
                   "foreground (default: inference.json, else off)")
    p.add_argument("--min-area", type=float, default=None,
                   help="drop regions smaller than this fraction of the photo, "
                   "but never the largest (default: inference.json, else 0: "
                   "keep all)")
    p.add_argument("--zoom", type=_zoom, default=None,
                   help="also predict the photo this many times closer, in "
                   "overlapping square tiles, and average that with the "
                   "whole photo's prediction: small cats fill more of a tile "
                   "((2 zoom - 1)^2 tiles for a square photo, more for a "
                   "wide one, each one more forward pass; default: "
                   "inference.json, else 1: the whole photo only)")
    p.add_argument("--zoom-merge", choices=ZOOM_MERGES, default=None,
                   help="how --zoom's tiles and the whole photo are put "
                   "together: mean (each view votes) or max (a pixel either "
                   "view is sure of stays; default: inference.json, else "
                   "mean)")
    p.add_argument("--zoom-max-area", type=_area, default=None,
                   help="zoom only photos whose whole-photo foreground is "
                   "below this fraction of the photo: a cat seen large needs "
                   "no closer look (default: inference.json, else 1: every "
                   "photo)")


def add_runtime_flag(p):
    from catunet.inference.runtimes import RUNTIMES

    p.add_argument("--runtime", choices=RUNTIMES, default="auto",
                   help="what runs the network: keras, openvino (Intel's "
                   "CPU inference engine) or onnx (ONNX Runtime); the model "
                   "is converted once and cached beside it; auto takes the "
                   "fastest installed: openvino, else onnx, else keras")


def inference_settings(args):
    """The model's saved settings with the flags given on top."""
    from catunet.inference.predict import Settings

    saved = Settings.beside(args.model)
    given = {f.name: getattr(args, f.name)
             for f in dataclasses.fields(Settings)
             if getattr(args, f.name) is not None}
    return dataclasses.replace(saved, **given)
