"""The best model again, on this machine: README's best-model commands.

    python -m catunet.study.reproduce

reads the quality ladder's final recipe from ``reports/quality.json``,
trains it here as README's best-model commands do (the pre-training once,
then the recipe once per seed, each from an empty run folder, in the
precision ``--precision auto`` picks on this machine), scores each model on
the test photos with the inference settings chosen on validation, and
compares them seed by seed with what the ladder measured. It writes
``reports/reproduce.json`` and ``reports/reproduce.md``.

The same seed on another machine is not the same run (another precision,
other kernels, other rounding), so "reproduces" means: with several seeds,
the mean here lies within the ladder's range widened by its sample sd and,
with several seeds, the paired differences' 95 % interval holds zero. An
interval that excludes zero is "not reproduced"; one that holds zero while
the mean lies outside that range is "inconclusive" (``compare``).

A recipe longer than one sitting is trained a seed at a time (``--seed 1``,
then ``--seed 2``): each sitting adds its seeds to the report's earlier
ones (``merge``), and each row names the machine and precision it was
trained in.
"""

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np

from catunet import atomic
from catunet.flags import HelpFormatter, flag
from catunet.data.datasets.cats import resolve_data_dir
from catunet.errors import CatunetError
from catunet.inference.evaluate import evaluate
from catunet.inference.predict import Settings
from catunet.study import render, stats
from catunet.study.runstore import RUNS, RunStore, describe
from catunet.training import machine, provenance
from catunet.training.config import TrainConfig

REPORTS = Path("reports")
FIELDS = {f.name for f in dataclasses.fields(TrainConfig)}
DEFAULTS = dataclasses.asdict(TrainConfig())


def _config(recorded, **changes):
    """A ``TrainConfig`` from a recorded one (fields this version no longer
    has are dropped) with ``changes``."""
    known = {k: v for k, v in recorded.items() if k in FIELDS}
    return dataclasses.replace(TrainConfig(**known), **changes)


def pretrain_config(quality, data_dir, pretrain_dir=None,
                    runs_dir=RUNS / "reproduce", precision="auto"):
    """The pre-training the ladder's final recipe starts from, as README's
    first command trains it.

    Args:
        quality: ``reports/quality.json``, loaded.
        data_dir: The cat set, whose test photos the pre-training guards (as
            ``CATUNET_DATA_DIR`` makes README's command guard them).
        pretrain_dir: Where its folder(s) are here; by default where the
            ladder found them.
        precision: ``auto`` lets this machine choose, as README's commands
            do.
    """
    recorded = pretraining_of(quality)["config"]
    return _config(recorded, precision=precision,
                   data_dir=str(pretrain_dir or recorded["data_dir"]),
                   protect=str(data_dir),
                   out=str(Path(runs_dir) / "pretrain"))


def seed_configs(quality, data_dir, init, unlabelled=None,
                 runs_dir=RUNS / "reproduce", precision="auto", changes=None):
    """``{seed: config}`` of the ladder's final recipe, as README's loop
    trains it from the pre-trained model ``init``.

    Args:
        unlabelled: Where the unlabelled photos are here; by default where
            the ladder found them.
        changes: ``TrainConfig`` fields to change in every seed's run
            (``parse_change``), e.g. a step chosen on validation outside
            the ladder.
    """
    configs = {}
    for run in _final(quality):
        recorded = run["config"]
        configs[run["seed"]] = _config(
            recorded, data_dir=str(data_dir), init=str(init),
            precision=precision, teacher=None,
            unlabelled=str(unlabelled) if unlabelled and
            recorded["unlabelled"] else recorded["unlabelled"],
            out=str(Path(runs_dir) / f"best-s{run['seed']}"),
            **(changes or {}))
    return configs


def parse_change(text):
    """``FIELD=VALUE`` (``--add``) as ``{field: value}``, the value read as
    the ``TrainConfig`` field's type; a clear error for an unknown field, a
    field that is not the recipe's, or a value of the wrong type."""
    field, _, value = text.partition("=")
    field = field.strip().replace("-", "_")
    if not _ or field not in FIELDS:
        raise CatunetError(f"--add {text}: expected FIELD=VALUE with a "
                           "training setting as FIELD (mosaic=0.5, say)")
    if field in NOT_RECIPE and field not in FOLDERS:
        raise CatunetError(f"--add {text}: {field} is not part of the "
                           "recipe")
    kind = type(DEFAULTS[field]) if DEFAULTS[field] is not None else str
    try:
        if kind is bool:
            if value.lower() not in ("true", "false", "1", "0"):
                raise ValueError(value)
            return {field: value.lower() in ("true", "1")}
        return {field: kind(value)}
    except ValueError:
        raise CatunetError(f"--add {text}: {value!r} is not a "
                           f"{kind.__name__}") from None


def pretraining_of(quality):
    """The ladder's pre-training that its final recipe starts from (width
    8, or a network step's own)."""
    init = _final(quality)[0]["config"]["init"]
    return next((p for p in quality.get("pretrained", {}).values()
                 if p["model"] == init), quality["pretrain"])


# Where a run's files are (``provenance.NOT_IN_KEY``), its seed and what
# this machine picks: not the recipe.
NOT_RECIPE = (*provenance.NOT_IN_KEY, "protect", "seed", "precision")
# Folders of photos: the recipe says whether they are used, not where.
FOLDERS = ("unlabelled", "paste_backgrounds", "negative_photos")


def changes_since(reproduced, quality):
    """How the ladder's final recipe differs from the one ``reproduced``
    (a ``reproduce.json``) retrained, as short phrases (``--round-ensemble
    2``, ``inference threshold 0.2``); empty when it retrained this one."""
    changes = []
    for prefix, ours, theirs in (
            ("pre-training ", pretraining_of(quality)["config"],
             reproduced["pretrain"]["config"]),
            ("", _final(quality)[0]["config"],
             reproduced["runs"][0]["config"])):
        ours, theirs = _recipe(ours), _recipe(theirs)
        changes += [prefix + " ".join(flag(k, v)) for k, v in ours.items()
                    if theirs[k] != v]
    chosen = Settings.as_dict(quality["inference"]["chosen"])
    theirs = Settings.as_dict(reproduced["inference"])
    changes += [f"inference {k.replace('_', ' ')} {v}"
                for k, v in chosen.items() if theirs[k] != v]
    return changes


def _recipe(config):
    """A recorded config's recipe: a field it lacks (added since) at its
    off value (``provenance.OFF_UNLESS_SET``), as the run key counts it."""
    recipe = {k: config.get(k, provenance.OFF_UNLESS_SET.get(k, v))
              for k, v in DEFAULTS.items()
              if k not in NOT_RECIPE or k in FOLDERS}
    return {**recipe, **{k: bool(recipe[k]) for k in FOLDERS}}


def _ladder_photo(quality, seed, image):
    """The ladder's final-recipe Dice on one test photo for ``seed``; None
    where its summary does not say."""
    names = render.test_names(quality) if quality.get("split") else None
    run = next(r for r in quality["final"] if r["seed"] == seed)
    if not names or image not in names or "test_dice_per_image" not in run:
        return None
    return run["test_dice_per_image"][names.index(image)]


def _final(quality):
    """The ladder's final-recipe runs, or a clear error."""
    if not quality.get("final"):
        raise CatunetError("quality.json has no final recipe: run "
                           "python -m catunet.study.quality without "
                           "--final-seeds 0 first")
    return quality["final"]


def compare(ladder, here):
    """Seed-by-seed comparison of the ladder's final runs with this
    machine's.

    Args:
        ladder, here: ``{seed: test Dice}``, the same seeds.

    Returns:
        ``stats.paired_difference`` (here − ladder) plus ``verdict``:
        ``not reproduced`` where the paired interval excludes zero (with
        one seed, where the seed lies outside the ladder's range widened by
        its sample sd); ``reproduced`` where the mean here lies within that
        widened range (and, with several seeds, the interval holds zero);
        else ``inconclusive``: seeds too scattered to tell, as two seeds
        often are. ``reproduced`` is the verdict as a bool.
    """
    seeds = sorted(here)
    difference = stats.paired_difference([here[s] for s in seeds],
                                         [ladder[s] for s in seeds])
    values = list(ladder.values())
    spread = stats.mean_sd(values)[1] if len(values) > 1 else 0.0
    mean = np.mean([here[s] for s in seeds])
    within = min(values) - spread <= mean <= max(values) + spread
    several = difference["n"] > 1
    if several and not difference["low"] <= 0 <= difference["high"]:
        verdict = "not reproduced"
    elif within:
        verdict = "reproduced"
    else:
        verdict = "inconclusive" if several else "not reproduced"
    return {**difference, "seeds": seeds, "verdict": verdict,
            "reproduced": verdict == "reproduced"}


def reproduce(quality, data_dir=None, pretrain_dir=None, unlabelled=None,
              seeds=None, runs_dir=RUNS / "reproduce", precision="auto",
              changes=None, only=None, inference=None):
    """Trains (or reuses, by key) README's best-model runs here and scores
    them; returns the summary ``write_reproduce_report`` writes.

    Args:
        seeds: How many of the final recipe's seeds to train, first ones
            first; default all.
        changes: ``{field: value}`` added to the final recipe
            (``seed_configs``); the comparison is then with the ladder's
            recipe without them.
        only: These seeds of the final recipe instead (``--seed``), for a
            recipe too long for one sitting: ``merge`` adds them to the
            seeds trained before.
        inference: ``(path, settings dict)``: score with the inference
            settings another ladder chose on validation (``--inference``)
            instead of ``quality``'s.
    """
    final = {r["seed"]: r for r in _final(quality)}
    unknown = sorted(set(only or ()) - set(final))
    if unknown:
        raise CatunetError(
            f"--seed {unknown[0]}: the final recipe has seeds "
            + ", ".join(str(s) for s in sorted(final)))
    data_dir = resolve_data_dir(data_dir)
    settings = Settings(**(inference[1] if inference
                           else quality["inference"]["chosen"]))
    print("== pre-training", flush=True)
    pretrained = RunStore().run(pretrain_config(quality, data_dir,
                                                pretrain_dir, runs_dir,
                                                precision))
    # From wherever the store found it (README's runs/best-pretrain, say).
    configs = seed_configs(quality, data_dir, pretrained.model_path,
                           unlabelled, runs_dir, precision, changes)
    pretrain = {k: v for k, v in describe(pretrained).items()
                if k != "history"}
    runs = []
    chosen = sorted(only) if only else sorted(configs)[:seeds]
    for seed in chosen:
        print(f"== best model, seed {seed}", flush=True)
        run = RunStore().run(configs[seed])
        settings.save_beside(run.model_path)
        scored = evaluate(run.model_path, settings=settings)
        worst = min(scored["images"], key=lambda row: row["dice"])
        runs.append({**{k: v for k, v in describe(run).items()
                        if k != "history"},
                     "seed": seed, "test_dice": scored["mean"]["dice"],
                     "pretrain": _run_pretrain(pretrain),
                     "ladder": {"test_dice": final[seed]["test_dice"],
                                "seconds": final[seed]["seconds"]},
                     "worst": {"image": worst["image"],
                               "dice": worst["dice"],
                               "ladder_dice": _ladder_photo(
                                   quality, seed, worst["image"])}})
    ladder = {s: r["test_dice"] for s, r in final.items()}
    return {
        "command": "python -m catunet.study.reproduce",
        "changes": dict(changes or {}),
        "runs_dir": str(runs_dir),
        "machine": machine.describe(),
        "precision": runs[0]["config"]["precision"] if runs else None,
        "inference": dataclasses.asdict(settings),
        "inference_from": str(inference[0]) if inference else None,
        "pretrain": pretrain,
        "runs": runs,
        "ladder": {"machine": quality["machine"],
                   "inference": quality["inference"]["chosen"],
                   "precision": quality["final"][0]["config"]["precision"],
                   "pretrain_seconds": pretraining_of(quality)["seconds"]},
        "comparison": compare(ladder, {r["seed"]: r["test_dice"]
                                       for r in runs}) if runs else None,
    }


def merge(earlier, summary):
    """``summary`` with the runs of ``earlier`` (a ``reproduce.json``) of
    other seeds kept, when both trained the same recipe (the same changes)
    against the same ladder and scored it with the same inference
    settings; else ``summary`` as it is. Each run keeps its own machine,
    precision and pre-training, so the seeds of one report may have been
    trained in several sittings, on several machines."""
    def ladder(s):
        return {r["seed"]: r["ladder"]["test_dice"] for r in s["runs"]}
    same_ladder = all(ladder(earlier).get(seed, dice) == dice
                      for seed, dice in ladder(summary).items())
    if (not earlier.get("runs") or earlier.get("changes", {}) !=
            summary["changes"] or Settings.as_dict(earlier["inference"]) !=
            Settings.as_dict(summary["inference"]) or not same_ladder):
        return summary
    trained = {r["seed"] for r in summary["runs"]}
    kept = [{**r, "pretrain": r.get("pretrain")
             or _run_pretrain(earlier["pretrain"])}
            for r in earlier["runs"] if r["seed"] not in trained]
    runs = sorted(kept + summary["runs"], key=lambda r: r["seed"])
    there = {**ladder(earlier), **ladder(summary)}
    return {**summary, "runs": runs,
            "comparison": compare(there, {r["seed"]: r["test_dice"]
                                          for r in runs})}


def _run_pretrain(pretrain):
    """What a run keeps of the pre-training it started from."""
    return {k: pretrain[k] for k in ("key", "folder", "seconds", "machine")}


def trained_on(summary):
    """``[(machine phrase, precision, [seeds])]``: where the runs were
    trained, in the order of their first seed."""
    groups = {}
    for run in summary["runs"]:
        place = (render.machine_text(run.get("machine",
                                             summary["machine"])),
                 run["config"]["precision"])
        groups.setdefault(place, []).append(run["seed"])
    return [(*place, seeds) for place, seeds in groups.items()]


def _seeds_text(seeds):
    return (f"seed{'s' if len(seeds) > 1 else ''} "
            + ", ".join(str(s) for s in seeds))


def _pretrain_seconds(summary, run):
    return (run.get("pretrain") or summary["pretrain"])["seconds"]


def write_reproduce_report(summary, folder=REPORTS):
    """Writes ``reproduce.json`` and ``reproduce.md`` into ``folder``."""
    folder = Path(folder)
    atomic.write_json(folder / "reproduce.json", summary)
    ladder, runs = summary["ladder"], summary["runs"]
    there = render.machine_text(ladder["machine"])
    here = render.machine_text(summary["machine"])
    added = changes_text(summary)
    places = trained_on(summary)
    lines = [
        "# The best model, reproduced on another machine" if not added else
        f"# The best model with {added}, trained on "
        + ("this machine" if len(places) < 2 else
           f"{len(places)} machines"), "",
        *([f"The ladder's final recipe with `{added}` added, changes "
           "chosen on validation after that ladder trained its final "
           "recipe (README's best-model section says where each was "
           "chosen). The ladder's column "
           "is its recipe without them, trained on the ladder's machine, so "
           "each difference holds both the changes and the machine.", ""]
          if added else []),
        f"Command: `{summary['command']}`, which trains README's "
        "best-model commands into "
        f"`{summary.get('runs_dir', RUNS / 'reproduce')}` and scores each "
        "model on the 24 test photos with the inference settings chosen on "
        "validation (" + ", ".join(f"{k} {v}" for k, v in
                                   summary["inference"].items()) + ")"
        + (f", as `{summary['inference_from']}` chose them"
           if summary.get("inference_from") else "") + ".", "",
        f"- Ladder (`python -m catunet.study.quality`): {there}, "
        f"{ladder['precision']}.",
    ]
    if len(places) > 1:
        lines += [f"- {_seeds_text(seeds).capitalize()}: {where}, "
                  f"{precision} (what `--precision auto` picked there)."
                  for where, precision, seeds in places]
    else:
        lines.append(f"- This run: {here}, {summary['precision']} (what "
                     "`--precision auto` picked).")
    lines += [
        "",
        "| seed | test Dice, ladder | test Dice, this run | difference | "
        "worst test photo, this run | minutes of training, ladder | "
        "this run |",
        "|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        there_dice = run["ladder"]["test_dice"]
        lines.append(
            f"| {run['seed']} | {there_dice:.3f} | {run['test_dice']:.3f} | "
            f"{run['test_dice'] - there_dice:+.3f} | {run['worst']['image']} "
            f"({run['worst']['dice']:.2f}) | "
            f"{run['ladder']['seconds'] / 60:.1f} | "
            f"{run['seconds'] / 60:.1f} |")
    if runs:
        lines += ["", paragraph(summary)]
    atomic.write_text(folder / "reproduce.md", "\n".join(lines) + "\n")


def changes_text(summary):
    """The changes added to the final recipe as flags (``--mosaic 0.5``),
    then the inference settings that differ from the ladder's
    (``--threshold 0.4``, from ``--inference``), or "" for none."""
    ladder = summary["ladder"].get("inference", summary["inference"])
    return " ".join([" ".join(flag(k, v)) for k, v in
                     summary.get("changes", {}).items()]
                    + render.inference_flags(summary["inference"], ladder))


def paragraph(summary, lead="Retrained"):
    """What the reproduction found, in one paragraph (``reproduce.md``,
    README's best-model section), opening with ``lead`` where nothing was
    added to the ladder's recipe."""
    runs, c = summary["runs"], summary["comparison"]
    here = [r["test_dice"] for r in runs]
    there = [r["ladder"]["test_dice"] for r in runs]
    verdict = c["verdict"]
    widened = "the ladder's range widened by its sd"
    if c["n"] > 1:
        verdict = {
            "reproduced": "reproduced: the paired interval holds zero and "
                          f"the mean lies within {widened}",
            "not reproduced": "**not reproduced**: the paired interval "
                              "excludes zero",
            "inconclusive": "**inconclusive**: the paired interval holds "
                            f"zero, but the mean lies outside {widened} and "
                            "the seeds are too few to tell"}[verdict]
    else:
        verdict = (f"one seed only, within {widened}" if c["reproduced"]
                   else f"**not reproduced**: one seed, outside {widened}")
    seeds = ", ".join(str(s) for s in c["seeds"])
    added = changes_text(summary)
    places = trained_on(summary)
    if added:
        verdict = ("the change and the machine"
                   + ("s" if len(places) > 1 else "")
                   + " together, not a test of either alone")
    if len(places) > 1:
        where = "(" + "; ".join(f"{_seeds_text(s)} on {m}, in {p}"
                                for m, p, s in places) + \
            ": what `--precision auto` picked on each)"
    else:
        where = (f"on {render.machine_text(summary['machine'])}, in "
                 f"{summary['precision']} (what `--precision auto` picked "
                 "there)")
    return (
        (lead if not added else f"With `{added}` added, trained")
        + f" by `{summary['command']}` {where}: "
        f"test Dice {stats.format_mean_sd(here)} over seed"
        f"{'s' if len(runs) > 1 else ''} {seeds}, against "
        f"{stats.format_mean_sd(there)} for the same seed"
        f"{'s' if len(runs) > 1 else ''} on the ladder's machine ("
        f"{render.machine_text(summary['ladder']['machine'])}, "
        f"{summary['ladder']['precision']}); "
        f"difference {stats.format_difference(c)}: {verdict}. Its worst "
        "test photo: " + ", ".join(_worst_text(r) for r in runs)
        + ". Training took " + _minutes_text(summary, places)
        + ", measured in th" + ("ose runs" if len(places) > 1 else
                                  "at run")
        + "; the ladder's minutes were measured on "
        "its own machine, so the two say what the recipe costs on each, not "
        "how much faster one machine is.")


def _minutes_text(summary, places):
    """Minutes of training per seed and of pre-training, per machine."""
    texts = []
    for _, _, seeds in places:
        runs = [r for r in summary["runs"] if r["seed"] in seeds]
        pretrain = np.mean([_pretrain_seconds(summary, r) for r in runs])
        texts.append(
            f"{np.mean([r['seconds'] for r in runs]) / 60:.0f} min per seed "
            f"plus {pretrain / 60:.0f} min of pre-training "
            + ("there" if len(places) == 1 else
               f"on the machine of {_seeds_text(seeds)}"))
    return "; ".join(texts)


def _worst_text(run):
    worst = run["worst"]
    ladder = worst.get("ladder_dice")
    return (f"{worst['image']} ({worst['dice']:.2f}, seed {run['seed']}"
            + (f"; {ladder:.2f} for that seed on the ladder's machine"
               if ladder is not None else "") + ")")


def inference_of(path):
    """``(path, chosen settings)`` of the ladder summary at ``path``
    (``--inference``), None without one, or a clear error."""
    if path is None:
        return None
    try:
        return path, json.loads(Path(path).read_text())["inference"]["chosen"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise CatunetError(f"{path}: no inference settings chosen on "
                           f"validation there ({error!r})") from None


def main(argv=None):
    p = argparse.ArgumentParser(
        prog="python -m catunet.study.reproduce",
        description="Train README's best-model commands on this machine and "
        "compare their test Dice, seed by seed, with the quality ladder's.",
        formatter_class=HelpFormatter)
    p.add_argument("--data-dir", default=None,
                   help="the cat set (default: $CATUNET_DATA_DIR, else "
                   "data/cats)")
    p.add_argument("--pretrain-dir", default=None,
                   help="the pre-training folder(s), comma-separated "
                   "(default: where the ladder found them)")
    p.add_argument("--unlabelled", default=None,
                   help="the unlabelled photos (default: where the ladder "
                   "found them)")
    p.add_argument("--seeds", type=int, default=None,
                   help="train only the first N of the final recipe's seeds "
                   "(default: all)")
    p.add_argument("--seed", type=int, action="append", default=None,
                   help="train only this seed of the final recipe "
                   "(repeatable), for a recipe longer than one sitting: the "
                   "seeds trained before into the same report, with the "
                   "same changes, are kept, each with its own machine")
    p.add_argument("--add", action="append", default=[],
                   metavar="FIELD=VALUE",
                   help="change a setting of the final recipe, e.g. "
                   "mosaic=0.5 for a step chosen on validation outside the "
                   "ladder (repeatable); the ladder's recipe without it is "
                   "what the report compares with")
    p.add_argument("--inference", default=None, metavar="JSON",
                   help="score with the inference settings chosen on "
                   "validation in this quality.json instead of --report's: "
                   "a ladder continued with --steps '' chooses them again "
                   "on the final recipe's own fold models")
    p.add_argument("--out", default=None,
                   help="folder of reproduce.md and reproduce.json "
                   "(default: --report)")
    p.add_argument("--runs", default=str(RUNS / "reproduce"),
                   help="folder of the runs (reused by key when rerun)")
    p.add_argument("--report", default=str(REPORTS),
                   help="folder of quality.json, and of reproduce.md and "
                   "reproduce.json")
    args = p.parse_args(argv)
    try:
        if args.seeds is not None and args.seeds < 1:
            raise CatunetError(f"--seeds must be at least 1, got {args.seeds}")
        if args.seeds is not None and args.seed:
            raise CatunetError("--seeds N and --seed S choose the seeds two "
                               "ways: give one")
        path = Path(args.report) / "quality.json"
        if not path.is_file():
            raise CatunetError(f"{path}: not found; run python -m "
                               "catunet.study.quality first")
        changes = {}
        for text in args.add:
            changes.update(parse_change(text))
        summary = reproduce(json.loads(path.read_text()), args.data_dir,
                            args.pretrain_dir, args.unlabelled, args.seeds,
                            args.runs, changes=changes, only=args.seed,
                            inference=inference_of(args.inference))
    except CatunetError as error:
        sys.exit(f"error: {error}")
    out = Path(args.out or args.report)
    # The command that trains (or finds by key) every seed of the report.
    summary["command"] += "".join(f" --add {t}" for t in args.add) + (
        f" --inference {args.inference}" if args.inference else "") + (
        f" --runs {args.runs} --out {out}" if args.out else "")
    if args.seed and (out / "reproduce.json").is_file():
        earlier = json.loads((out / "reproduce.json").read_text())
        merged = merge(earlier, summary)
        if merged is summary and earlier.get("runs"):
            # Writing would lose the earlier seeds; the runs stay in --runs.
            sys.exit(f"error: {out / 'reproduce.json'}: its seeds are of "
                     "another recipe or ladder; give another --out (this "
                     f"run is kept in {args.runs})")
        summary = merged
    out.mkdir(parents=True, exist_ok=True)
    write_reproduce_report(summary, out)
    print(f"Wrote {out / 'reproduce.md'}")


if __name__ == "__main__":
    main()
