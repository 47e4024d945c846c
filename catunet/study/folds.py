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
        if _names(other) != _names(record):
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


def _names(record):
    return [row["name"] for row in record["rows"]]


def missing(book):
    """The folds the book still lacks, in order."""
    seeds = next(iter(book["folds"].values()))["seeds"]
    return [k for k in range(seeds) if str(k) not in book["folds"]]


def assemble(book, recorded, study):
    """The ladder's summary (as ``quality.run_ladder`` returns) from every
    fold's record: each row's runs in fold order, the step kept by the
    recorded ladder's rule over all folds, the recorded ladder's inference
    settings, no final recipe.

    Args:
        book: ``merge``'s book, every fold recorded.
        recorded: The recorded ladder the folds continue.
        study: The ``experiments.Study`` (fold photo names).
    """
    from catunet.study import quality

    folds = [book["folds"][str(k)] for k in range(len(book["folds"]))]
    first = folds[0]
    key = "score" if first["scenes"] else "val_dice"
    climbed, best = [], None
    for i, name in enumerate(_names(first)):
        runs = [fold["rows"][i]["run"] for fold in folds]
        kept = best is None or name in (quality.RETRAINED_TRANSFER,
                                        quality.RETRAINED_RECIPE) or \
            quality.keeps(runs, best, key)
        climbed.append((name, runs, kept, first["rows"][i]["adds"]))
        if kept:
            best = runs
    summary = quality.ladder_summary(
        first["command"].rsplit(" --fold ", 1)[0]
        + " --fold S (S = " + ", ".join(str(f["fold"]) for f in folds) + ")",
        first,
        {f"fold {f['fold']} {name}": pre for f in folds
         for name, pre in f["pretrained"].items()},
        quality.ladder_rows(recorded, climbed),
        {"tried": [], "chosen": recorded["inference"]["chosen"],
         "from_recorded": True},
        quality.decisive_photos(study, climbed), None, recorded)
    summary["folds"] = [
        {"fold": f["fold"], "machine": f["machine"],
         "code_version": f["code_version"],
         "precision": f["rows"][-1]["run"]["config"]["precision"],
         "seconds": _seconds(f)} for f in folds]
    return summary


def _seconds(record):
    """Training seconds of one fold's sitting, each part once."""
    from catunet.study.runstore import total_seconds

    return total_seconds([*record["pretrained"].values(),
                          *(row["run"] for row in record["rows"])])

