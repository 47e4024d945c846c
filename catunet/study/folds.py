"""A ladder step climbed a fold at a time: ``python -m catunet.study.quality
--from-recorded JSON --steps STEP --fold S``.

A step on the full recipe trains, for each validation fold, the fold's
teacher, the recorded ladder's kept recipe and the recipe with the step:
hours on two cores, more than one sitting, and ``runs/`` does not outlive
a sitting. So each sitting trains one fold's three runs on one machine (the
step and its baseline paired on the same CPU and precision), and its
record joins the other sittings' in ``quality-folds.json`` (``merge``).
The sitting that records the last fold puts the ladder together
(``assemble``) and its report is written as any ladder's.

What it cannot do: choose the inference settings again, which needs every
fold's model at once (``quality.choose_inference``); the recorded ladder's
settings are kept and the report says so. Nor train the final recipe:
``python -m catunet.study.reproduce`` does, a seed per sitting.
"""

import json
from pathlib import Path

from catunet import atomic
from catunet.errors import CatunetError

FOLDS_FILE = "quality-folds.json"
# What every fold's sitting must share to be put together.
SHARED = ("split", "seeds", "settings", "unlabelled", "paste_backgrounds",
          "negative_photos", "steps_climbed", "continues")


def merge(path, record):
    """Adds one fold's record to the book at ``path`` (replacing an earlier
    record of the same fold) and writes it.

    Raises:
        CatunetError: The book's other folds differ in what they must share
            (``SHARED``, the scenes' frames, the rows' names): they belong
            to another ladder.
    """
    path = Path(path)
    book = json.loads(path.read_text()) if path.is_file() else {"folds": {}}
    for other in book["folds"].values():
        if other["fold"] == record["fold"]:
            continue
        differ = [key for key in SHARED if other[key] != record[key]]
        if _frames(other) != _frames(record):
            differ.append("scenes frames")
        if names(other) != names(record):
            differ.append("rows")
        if differ:
            raise CatunetError(
                f"{path}: fold {other['fold']} was recorded with other "
                f"{', '.join(differ)}; record this ladder elsewhere "
                "(--report) or remove that file")
    book["folds"][str(record["fold"])] = record
    book["folds"] = dict(sorted(book["folds"].items(), key=lambda f: int(f[0])))
    atomic.write_json(path, book)
    return book


def _frames(record):
    return (record["scenes"] or {}).get("frames")


def names(record):
    return [row["name"] for row in record["rows"]]


def missing(book):
    """The folds the book still lacks, in order."""
    seeds = next(iter(book["folds"].values()))["seeds"]
    return [k for k in range(seeds) if str(k) not in book["folds"]]
