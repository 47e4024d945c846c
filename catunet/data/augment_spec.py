"""``--augment`` specs: the techniques, their strengths, and the parser.

Pure data and text, no Keras: ``TrainConfig`` checks a spec where it is
defined, and ``catunet.data.augment`` builds the layers from the parsed spec.
"""

import math

from catunet.errors import CatunetError

# name: (default strength, what the strength means)
TECHNIQUES = {
    "flip": (1.0, "probability-free: mirror left-right half of the time (strength unused)"),
    "rotate": (0.05, "largest rotation as a fraction of a full turn (0.05 = 18 degrees)"),
    "zoom": (0.15, "largest zoom in or out as a fraction of the size"),
    "translate": (0.1, "largest shift as a fraction of the size"),
    "elastic": (4.0, "standard deviation of the displacement, in pixels, on a 3x3 grid"),
    "brightness": (0.15, "largest brightness change as a fraction of the value range"),
    "contrast": (0.2, "largest contrast change as a fraction"),
    "saturation": (0.25, "Keras's factor is drawn from 0.5 +- strength: 0.25 "
                          "scales the saturation by 1/3 to 3"),
    "hue": (0.05, "Keras's factor: the hue turns by up to half of it either "
                  "way (0.05: 9 degrees)"),
    "grayscale": (0.1, "probability of turning the photo grey"),
}
GEOMETRIC = ("flip", "rotate", "zoom", "translate", "elastic")
# The colour techniques are opt-in: the recipes measured before them stay
# what "recommended" means.
COLOUR = ("saturation", "hue", "grayscale")
RECOMMENDED = tuple(n for n in TECHNIQUES if n not in COLOUR)


def parse_spec(spec):
    """Turns ``"flip,rotate=0.1"`` into ``{"flip": 1.0, "rotate": 0.1}``.

    An empty spec or ``"none"`` means no augmentation; ``"recommended"``
    means every technique of ``RECOMMENDED`` at its default strength, and
    may start a list: ``"recommended,hue"`` adds hue to them.
    """
    if not spec or spec == "none":
        return {}
    techniques = {}
    for item in spec.split(","):
        name, _, strength = item.strip().partition("=")
        if name == "recommended" and not strength:
            techniques.update((n, TECHNIQUES[n][0]) for n in RECOMMENDED)
            continue
        if name not in TECHNIQUES:
            raise CatunetError(f"--augment: unknown augmentation {name!r}; "
                               f"choose from "
                               f"{', '.join(TECHNIQUES)} or 'recommended'")
        try:
            value = float(strength) if strength else TECHNIQUES[name][0]
        except ValueError:
            value = math.nan
        if not 0 <= value < math.inf:
            raise CatunetError(f"--augment: the strength of {name} must be a "
                               f"number >= 0, got {strength!r}")
        techniques[name] = value
    return techniques
