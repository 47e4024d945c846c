"""The model that ships with catunet: ``catunet predict`` and ``catunet
serve`` use it when no ``--model`` is given, so a photo can be segmented
right after ``pip install``, without training.

The folder holds what its run folder held: ``cats.keras``, ``run.json``
(how, where and with what it was trained), ``config.json``,
``split.json``, ``inference.json`` (the inference settings chosen on
validation) and ``eval-test.json`` (its scores on the test photos). It is
copied there by ``python -m catunet.study.encoder_ladder --ship SEED
--report FOLDER`` from the final run of that seed which the report of the
recipe that ships (``catunet.study.encoder_report.SHIPPING``) records.
"""

import json
import os
from pathlib import Path

from catunet.errors import CatunetError

FOLDER = Path(__file__).parent
MODEL = FOLDER / "cats.keras"
FILES = ("cats.keras", "run.json", "config.json", "split.json",
         "inference.json", "eval-test.json")


def model_path():
    """The shipped model's path.

    Raises:
        CatunetError: This install has none (a source checkout whose model
            file was left out).
    """
    if not MODEL.is_file():
        raise CatunetError(f"{MODEL}: the shipped model is missing from this "
                           "install; train one with python train.py (catunet "
                           "train) and pass --model")
    return MODEL


def describe():
    """One line on what the shipped model is and how good it measured."""
    try:
        config = json.loads((FOLDER / "config.json").read_text())
        scores = json.loads((FOLDER / "eval-test.json").read_text())["mean"]
        version = json.loads((FOLDER / "run.json").read_text())[
            "key_inputs"]["code_version"]
    except (OSError, ValueError, KeyError):
        return "the model that ships with catunet (missing from this install)"
    return (f"the model that ships with catunet: a U-Net over "
            f"{config['encoder']} at {config['image_size']} px (seed "
            f"{config['seed']}, trained by catunet {version}), test Dice "
            f"{scores['dice']:.3f} at 128 px and "
            f"{scores.get('dice_full_size', float('nan')):.3f} at each "
            "photo's own size")


def keeps_out(folder):
    """Whether nothing should be written into ``folder`` beside a model:
    the shipped model's own folder (an installed package), or any folder
    this process cannot write."""
    folder = Path(folder).resolve()
    return folder == FOLDER.resolve() or not os.access(folder, os.W_OK)
