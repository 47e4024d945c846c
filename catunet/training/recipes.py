"""Named recipes: one word for the settings a measured result was trained
with, KerasHub-preset style.

    catunet train --recipe encoder --data-dir ../shared/data/cats

expands ``encoder`` to its flags (printed, and saved as the run's
``recipe`` beside every value in ``config.json``); a flag given on the
command line overrides the recipe's value. The inference settings chosen
with it (``INFERENCE``) are saved beside the model. A recipe is a dict of
``TrainConfig`` fields:

* ``paper``: the seed's U-Net of Ronneberger et al., trained from scratch
  (``TrainConfig``'s defaults; the study's losses, augmentation and
  transfer steps).
* ``quick``: the U-Net over EfficientNet-Lite0 at 128 px, a few minutes
  on two cores: what ``catunet train`` trains without ``--recipe``
  (``DEFAULT``), chosen over ``paper`` on validation by
  ``python -m catunet.study.defaults`` (``reports/defaults/defaults.md``).
* ``encoder``: the U-Net over EfficientNet-Lite2 with ImageNet weights, as
  chosen on the validation folds and scenes: its recipe by
  ``python -m catunet.study.encoder_ladder`` over Lite0
  (``reports/encoder-ladder/ladder.md``), then Lite2 for Lite0 by
  ``python -m catunet.study.cheaper``
  (``reports/encoder-ladder/lite2-full-measured/ladder.md``; a test checks
  this table against that report's JSON). It self-trains on the photos
  without masks that ``--unlabelled`` names; without them it trains on the
  labelled photos alone (and says so).
"""

from catunet.errors import CatunetError

# What ``catunet train`` trains when no --recipe is given: chosen against
# ``paper`` on the validation folds and scenes by
# ``python -m catunet.study.defaults`` (``reports/defaults/``).
DEFAULT = "quick"

RECIPES = {
    "quick": {"encoder": "efficientnet-lite0", "image_size": 128,
              "epochs": 40, "learning_rate": 3e-4, "schedule": "cosine"},
    "encoder": {"encoder": "efficientnet-lite2", "image_size": 256,
                "epochs": 40, "learning_rate": 3e-4, "schedule": "cosine",
                "augment": "recommended,saturation,hue,grayscale",
                "mosaic": 0.5, "mosaic_grids": "2,3", "pseudo_keep": 0.2},
    "paper": {},
}


# The inference settings each recipe's models were chosen with on
# validation (``catunet.inference.predict.Settings`` fields), saved beside a model
# trained with the recipe as ``inference.json``, so predict and serve use
# them: ``quick``'s by ``python -m catunet.study.defaults``, ``encoder``'s by
# the report of the recipe that ships (tests check both against the
# reports' JSON).
INFERENCE = {
    "quick": {"tta": True, "threshold": 0.7, "zoom": 2},
    "encoder": {"tta": True, "zoom": 2, "fill_holes": True},
    "paper": {},
}


# The fields of a study's chosen recipe that name the folders it trained
# on, not settings (the encoder ladder self-trained on 2,400 pet photos): a
# recipe leaves them to the command line (``--unlabelled FOLDER``).
FOLDERS = ("unlabelled",)


def from_study(fields):
    """A study's chosen recipe (its ``ladder.json``'s ``recipe``) as a
    recipe: its settings, without the folders it trained on."""
    return {k: v for k, v in fields.items() if k not in FOLDERS}


def recipe(name):
    """The fields of recipe ``name``.

    Raises:
        CatunetError: No recipe has that name.
    """
    if name not in RECIPES:
        raise CatunetError(f"unknown recipe {name!r}; choose from "
                           f"{', '.join(RECIPES)}")
    return dict(RECIPES[name])


def flags(name):
    """Recipe ``name`` as the ``train`` flags it stands for."""
    return as_flags(recipe(name))


def as_flags(fields):
    """``TrainConfig`` fields (a recipe, or a change to one) as ``train``
    flags: ``--image-size 256 --epochs 40``; a field set to None is a flag
    left out, a True or False one a switch (``--batch-norm``,
    ``--no-batch-norm``)."""

    def flag(key, value):
        name = key.replace("_", "-")
        if isinstance(value, bool):
            return f"--{name}" if value else f"--no-{name}"
        return f"--{name} {value}"

    return " ".join(flag(key, value) for key, value in fields.items()
                    if value is not None)
