"""The ``--mosaic-grids`` setting read without NumPy or OpenCV, so that
``catunet.training.config`` checks it as the command line starts."""

from catunet.checks import SettingError

GRIDS = (2, 3, 4)


def parse_grids(text):
    """``"2,3"`` as ``(2, 3)``; ``SettingError`` for anything but grid
    sides of ``GRIDS``."""
    try:
        grids = tuple(int(part) for part in str(text).split(","))
    except ValueError:
        grids = ()
    if not grids or any(g not in GRIDS for g in grids):
        raise SettingError(f"--mosaic-grids must be grid sides among "
                           f"{', '.join(map(str, GRIDS))}, "
                           f"comma-separated; got {text!r}")
    return grids
