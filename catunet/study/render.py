"""Templates and the values that fill them.

The words of the study's reports live in Jinja2 templates
(``catunet/study/templates/``): the discussions beside the reports
(``<name>-discussion.md.j2``), README's results prose and REPORT.md. Their
numbers and every data-dependent claim come from the JSON summaries:

* ``{{ losses.winner_val }}`` is the value ``winner_val`` of the namespace
  ``losses``. Values are strings formatted here, one function per report
  (``losses_values``, ``augmentation_values``, ``transfer_values``; the
  benchmark's are in ``bench_report``, the study's in ``report``). A value
  that is missing is an error, never an empty string.
* ``{% if losses.clear_winner %}A{% else %}B{% endif %}`` keeps A when the
  value is true; a claim that could flip when the numbers change sits in
  such a block, or is a sentence built here. ``has_<variant>`` values are
  absent for a variant that was not run: ``| default(false)``.

Filled text is re-wrapped (``reflow``). Observations a person made by
looking at figures (a learning curve, a prediction) cannot be recomputed
from the JSON: they sit in blocks on ``figures_described``, true only for
summaries made by the code version whose figures were looked at
(``curves_observed``: and only where there is no history to compute from
and the curves figure is there to see).
"""

import json
import math
import re
import textwrap
from pathlib import Path

import jinja2
import numpy as np

from catunet.flags import flag
from catunet.study import stats

# Versions made before summaries recorded their code version, and the commit
# that still runs them (the study's modules were then catunet.<name>).
LEGACY = {"0.1.0": "6bd2354"}
# Versions whose scores over images recorded the population sd (ddof=0).
POPULATION_SD = {"0.1.0"}
# The version whose figures the discussions' observations describe.
FIGURES_READ = "0.1.0"
# A run "fails" when its test Dice is less than this above predicting "all
# cat" for every photo: it has learnt nothing the photo tells it.
FAIL_MARGIN = 0.02
# What a person sees in some test photos: descriptions, not measurements.
PHOTO_NOTES = {"cat.13.jpg": "a white cat on a pale green background",
               "cat.26.jpg": "a black cat held against a woman's face"}
LABELS = {"dice": "soft Dice", "bce": "BCE", "mse": "MSE",
          "bce+dice": "BCE + Dice", "none": "no augmentation",
          "recommended": "all techniques (`recommended`)",
          "no-elastic": "all but elastic", "elastic-only": "elastic only",
          "scratch": "from scratch"}

TEMPLATES = Path(__file__).with_name("templates")
ENVIRONMENT = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES), undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True, autoescape=False)


# --- templates ---------------------------------------------------------------

def fill(template, values, source="template"):
    """``template`` (Jinja2 text) filled from ``values`` (``{space: {name:
    value}}``) and re-wrapped; ``source`` is named when a value is
    missing."""
    try:
        text = ENVIRONMENT.from_string(template).render(**values)
    except jinja2.UndefinedError as error:
        raise ValueError(f"{source}: no value for {error.message}") from None
    return reflow(text)


def template(name):
    """The text of the template ``name`` in ``TEMPLATES``."""
    return (TEMPLATES / name).read_text()


_KEEP = ("#", "|", "```", "![", "<!--")
_ITEM = re.compile(r"^(- |\d+\. )")
# A word that would start a list (or quote) if a line began with it.
_MARKER_WORD = re.compile(r" (?=(?:\d+[.)]|[-+*>]) )")


def reflow(text, width=76):
    """Paragraphs and list items re-wrapped at ``width`` (filling leaves
    ragged lines); headings, tables, code and images are kept as they are."""
    blocks = [b for b in re.split(r"\n\s*\n", text.strip()) if b.strip()]
    out = []
    for block in blocks:
        lines = block.splitlines()
        if lines[0].lstrip().startswith(_KEEP):
            out.append(block)
            continue
        items = []
        for line in lines:
            if _ITEM.match(line) or not items:
                items.append(line.strip())
            else:
                items[-1] += " " + line.strip()
        wrapped = []
        for item in items:
            marker = _ITEM.match(item)
            indent = " " * len(marker.group(1)) if marker else ""
            glued = _MARKER_WORD.sub("\u00a0", " ".join(item.split()))
            wrapped.append(textwrap.fill(
                glued, width, subsequent_indent=indent, break_long_words=False,
                break_on_hyphens=False).replace("\u00a0", " "))
        out.append("\n".join(wrapped))
    return "\n\n".join(out) + "\n"


def discussion(name, values):
    """The discussion ``<name>-discussion.md.j2`` filled from ``values``."""
    return fill(template(f"{name}-discussion.md.j2"), values,
                f"{name}-discussion.md.j2")


# --- what made the numbers ---------------------------------------------------

def code_version(summary):
    """The catunet version that made a summary (0.1.0 before they said)."""
    return summary.get("code_version", "0.1.0")


def provenance(summary):
    version = code_version(summary)
    if version in LEGACY:
        commit = LEGACY[version]
        return (f"catunet {version} (git commit {commit} or earlier; "
                f"`git checkout {commit}` to rerun the exact command)")
    return f"catunet {version}"


def module(summary, name):
    """The study module ``name`` as it was called by the summary's code."""
    package = "catunet" if code_version(summary) in LEGACY else "catunet.study"
    return f"{package}.{name}"


def image_sd(scored, summary):
    """Sample sd of Dice over the images of an evaluation (``count``,
    ``std``), whichever sd the summary's version recorded."""
    n, sd = scored["count"], scored["std"]["dice"]
    if code_version(summary) in POPULATION_SD and n > 1:
        sd *= math.sqrt(n / (n - 1))
    return sd


def machine_text(machine):
    """What a summary recorded of its machine, as one phrase: two CPUs of
    one name (an AVX2-only and an AVX-512 "AMD EPYC") differ by their
    instruction sets, so those that decide the fast paths are named."""
    if isinstance(machine, dict):
        flags = machine.get("notable_flags")
        cores = f"{machine['cores']} cores" if machine.get("cores") else None
        if cores and flags:
            cores += f" ({', '.join(flags)})"
        parts = [machine.get("cpu"), cores, machine.get("system")]
        return ", ".join(p for p in parts if p)
    return str(machine)


def made_by(summary):
    """The closing line of a study report: the catunet version, the
    machine and the command that made its numbers."""
    return (f"Made by catunet {summary['code_version']} on "
            f"{machine_text(summary['machine'])}; command "
            f"`{summary['command']}`.")


# --- results of a step -------------------------------------------------------

def inference_flags(settings, since=None):
    """``evaluate.py``'s flags for the inference ``settings`` (a dict) that
    differ from ``since`` (default: the plain settings), one string each
    (``--tta``, ``--threshold 0.4``)."""
    from catunet.inference.predict import Settings

    since = Settings.as_dict(since or {})
    return [" ".join(flag(k, v)) for k, v in Settings.as_dict(settings).items()
            if since[k] != v]


def key(name):
    """A variant's name as part of a value's name: bce+dice -> bce_dice."""
    return re.sub(r"\W", "_", name)


def label(summary, name):
    """A variant's name for readers, e.g. ``horses → fine-tune all layers``."""
    spec = summary.get("variants", {}).get(name) or {}
    if not spec.get("init"):
        return LABELS.get(name, name)
    text = f"{source_name(summary['pretrain'])} → "
    if spec.get("freeze_epochs"):
        rate = spec.get("fine_tune_learning_rate")
        return text + (f"encoder frozen {spec['freeze_epochs']} epochs, then "
                       "all layers" + (f" at {rate:g}" if rate else ""))
    rate = spec.get("learning_rate")
    return text + "fine-tune all layers" + (f" at {rate:g}" if rate else "")


def source_name(source):
    """Name of a transfer study's pre-training source."""
    config = source.get("config")
    if "held_out" in source:
        return Path(config["data_dir"]).name
    return "Pascal VOC 2012" if config and config["stage"] == "voc" \
        else source["model"]


def scores(summary, name, metric="val_dice"):
    return [run[metric] for run in summary["results"][name]]


def _by_seed(runs):
    return {run["config"].get("seed", k): run for k, run in enumerate(runs)}


def paired(summary, a, b, metric="val_dice"):
    """Paired difference ``a − b`` over the seeds both variants ran."""
    runs_a, runs_b = (_by_seed(summary["results"][n]) for n in (a, b))
    seeds = sorted(set(runs_a) & set(runs_b))
    return stats.paired_difference([runs_a[s][metric] for s in seeds],
                                   [runs_b[s][metric] for s in seeds])


def ranking(summary):
    """Variant names by mean validation Dice, best first."""
    return sorted(summary["results"],
                  key=lambda n: -np.mean(scores(summary, n)))


def comparisons(summary, control=None):
    """The pairs ``(a, b)`` a step report compares: every variant against
    ``control`` (or the winner against every other), and the winner against
    the runner-up on validation."""
    names, winner = list(summary["results"]), summary["winner"]
    if control in names:
        pairs = [(n, control) for n in names if n != control]
    else:
        pairs = [(winner, n) for n in names if n != winner]
    ranked = ranking(summary)
    if len(ranked) > 1:
        runner_up = next(n for n in ranked if n != winner)
        if (winner, runner_up) not in pairs and (runner_up, winner) not in pairs:
            pairs.append((winner, runner_up))
    return pairs


def effect_words(difference):
    """How a paired difference reads: its sign, if its interval tells one."""
    return {1: "higher (95% interval above zero)",
            -1: "lower (95% interval below zero)",
            0: "not measurably different (95% interval includes zero)"}[
        stats.direction(difference)]


def test_names(summary, splits=Path("data/splits")):
    """Test photo names in the order of ``test_dice_per_image``, from the
    committed split manifest with the summary's fingerprint (None if none)."""
    for path in sorted(Path(splits).glob("*.json")):
        manifest = json.loads(path.read_text())
        if manifest.get("fingerprint") == summary["split"]["fingerprint"]:
            return [image for image, _ in manifest["test"]]
    return None


def photo_name(summary, index):
    names = test_names(summary)
    return names[index] if names else f"test photo {index + 1}"


def per_image(summary, name):
    """Per-photo test Dice of a variant, averaged over its seeds."""
    return np.mean([run["test_dice_per_image"]
                    for run in summary["results"][name]], axis=0)


def history(run):
    """A run's per-epoch metrics as its summary recorded them, else None.

    Never read from the run folder: the folder may since hold another run
    (a newer code version trains into the same names)."""
    return run.get("history") or None


def curve_facts(runs):
    """Last-epoch training and validation Dice, best validation Dice and
    its epoch, averaged over runs; None when a run has no history."""
    curves = [history(run) for run in runs]
    if not all(curves) or not all("val_dice_coefficient" in c[0]
                                  for c in curves):
        return None
    val = [[row["val_dice_coefficient"] for row in c] for c in curves]
    best = [int(np.argmax(v)) for v in val]
    return {
        "train_last": np.mean([c[-1]["dice_coefficient"] for c in curves]),
        "val_last": np.mean([v[-1] for v in val]),
        "val_best": np.mean([max(v) for v in val]),
        "best_epoch": int(np.median(best)) + 1,
    }


def curve_sentence(facts):
    return (f"training Dice ends at {facts['train_last']:.2f} and validation "
            f"Dice at {facts['val_last']:.2f} (best {facts['val_best']:.2f}, "
            f"around epoch {facts['best_epoch']}; means over seeds)")


def _folder(run):
    return run.get("folder") or run["config"]["out"]


def _seconds(values):
    return f"{np.mean(values):.0f} s"


def step_values(summary, folder, name):
    """Values every step's discussion may use (``name``: the step's)."""
    s, split, seeds = summary["settings"], summary["split"], summary["seeds"]
    fold = split["train"] / seeds
    per_run = split["train"] - round(fold)
    values = {
        "version": provenance(summary), "machine": machine_text(summary["machine"]),
        "seeds": seeds, "epochs": s["epochs"], "width": s["width"],
        "batch_size": s["batch_size"], "learning_rate": f"{s['learning_rate']:g}",
        "train_photos": split["train"], "test_photos": split["test"],
        "fold_photos": f"{fold:.0f}" if fold == round(fold) else f"about {fold:.0f}",
        "train_per_run": per_run,
        "steps_per_run": s["epochs"] * math.ceil(per_run / s["batch_size"]),
        "total_minutes": f"{summary['train_seconds_total'] / 60:.0f}",
        "winner": summary["winner"], "winner_label": label(summary, summary["winner"]),
        "winner_val": stats.format_mean_sd(scores(summary, summary["winner"])),
        "winner_test": stats.format_mean_sd(
            scores(summary, summary["winner"], "test_dice")),
        "figures_described": code_version(summary) == FIGURES_READ,
    }
    for baseline, value in summary["baselines"].items():
        values[key(baseline)] = f"{value:.3f}"
    names = list(summary["results"])
    for variant in names:
        k = key(variant)
        values[f"has_{k}"] = True
        values[f"val_{k}"] = stats.format_mean_sd(scores(summary, variant))
        values[f"test_{k}"] = stats.format_mean_sd(
            scores(summary, variant, "test_dice"))
        values[f"seconds_{k}"] = _seconds(scores(summary, variant, "seconds"))
        for a in names:
            if a != variant:
                for metric, short in (("val_dice", "val"), ("test_dice", "test")):
                    values[f"{key(a)}_vs_{k}_{short}"] = stats.format_difference(
                        paired(summary, a, variant, metric))
    ranked = ranking(summary)
    if len(ranked) > 1:
        runner_up = next(n for n in ranked if n != summary["winner"])
        values["runner_up"], values["runner_up_label"] = \
            runner_up, label(summary, runner_up)
        for metric, short in (("val_dice", "val"), ("test_dice", "test")):
            difference = paired(summary, summary["winner"], runner_up, metric)
            values[f"winner_vs_runner_up_{short}"] = \
                stats.format_difference(difference)
            values[f"clear_winner_{short}"] = stats.direction(difference) == 1
    facts = {n: curve_facts(summary["results"][n]) for n in names}
    values["has_history"] = all(facts.values())
    if values["has_history"]:
        for n, f in facts.items():
            values[f"curves_{key(n)}"] = curve_sentence(f)
            values[f"memorises_{key(n)}"] = f["train_last"] - f["val_last"] > 0.1
        values["winner_curves"] = curve_sentence(facts[summary["winner"]])
        values["memorises_winner"] = values[
            f"memorises_{key(summary['winner'])}"]
    # Observations of the curves figure stand in for numbers only when there
    # are none, and only beside that figure.
    values["curves_observed"] = values["figures_described"] and \
        not values["has_history"] and \
        (Path(folder) / f"{name}-curves.png").exists()
    return values


def _spread(summary, name, metric):
    return stats.mean_sd(scores(summary, name, metric))[1]


def _steadiest(summary, name):
    """Whether ``name`` has the smallest spread on validation and test."""
    return all(_spread(summary, name, m) <= min(_spread(summary, n, m)
                                               for n in summary["results"])
               for m in ("val_dice", "test_dice"))


def _and_list(items):
    items = list(items)
    return items[0] if len(items) == 1 else \
        ", ".join(items[:-1]) + " and " + items[-1]


# --- the three steps ---------------------------------------------------------

def losses_values(summary, folder):
    """Values of ``losses-discussion.md``."""
    v = step_values(summary, folder, "losses")
    results, winner = summary["results"], summary["winner"]
    all_cat = summary["baselines"]["all-cat"]
    mean_mask = summary["baselines"]["mean-mask"]
    test_means = {n: np.mean(scores(summary, n, "test_dice")) for n in results}
    v["winner_best_test"] = max(test_means, key=test_means.get) == winner
    v["winner_steadiest"] = _steadiest(summary, winner)
    v["bce_dice_wins"] = winner == "bce+dice"
    winner_margin = stats.paired_difference(
        scores(summary, winner, "test_dice"), [mean_mask] * len(results[winner]))
    v["winner_vs_mean_mask"] = stats.format_difference(winner_margin)
    v["small_margin"] = winner_margin["mean"] < 0.1
    v["margins"] = ", ".join(
        f"{label(summary, n)} {test_means[n] - mean_mask:+.3f}"
        for n in sorted(results, key=test_means.get))

    def failed(name):
        return [r for r in results[name]
                if r["test_dice"] < all_cat + FAIL_MARGIN]
    v["fail_margin"] = f"{FAIL_MARGIN:.2f}"
    if "dice" in results:
        runs = results["dice"]
        v["dice_failed"], v["dice_runs"] = len(failed("dice")), len(runs)
        v["dice_fails_always"] = len(failed("dice")) == len(runs)
        near = [r for r in runs if abs(r["test_dice"] - all_cat) <= FAIL_MARGIN]
        below = [r for r in runs if r["test_dice"] < all_cat - FAIL_MARGIN]
        parts = []
        for group, one, many in (
                (near, "ends at about the \"all cat\" score",
                 "end at about the \"all cat\" score"),
                (below, "falls far below it", "fall far below it")):
            if group:
                seeds = _and_list(str(r["config"].get("seed")) for r in group)
                dice = ", ".join(f"{r['test_dice']:.3f}" for r in group)
                parts.append(f"seed {seeds} {one}" if len(group) == 1 else
                             f"seeds {seeds} {many}")
                parts[-1] += f" ({dice})"
        v["dice_seeds"] = "; ".join(parts) or "no seed is near it"
    with_bce = [n for n in results if "bce" in n.split("+")]
    v["bce_failures"] = sum(len(failed(n)) for n in with_bce)
    if "mse" in results and "dice" in results:
        d = paired(summary, "mse", "dice", "test_dice")
        v["mse_beats_dice"] = stats.direction(d) == 1
        v["mse_ahead_of_dice"] = d["mean"] > 0
    if "mse" in results and "bce" in results:
        d_val, d_test = (paired(summary, "mse", "bce", m)
                         for m in ("val_dice", "test_dice"))
        v["mse_ahead_of_bce"] = d_val["mean"] > 0 and d_test["mean"] > 0
        v["mse_vs_bce_effect"] = (f"on validation {effect_words(d_val)}, "
                                  f"on test {effect_words(d_test)}")
    seconds = [r["seconds"] for runs in results.values() for r in runs]
    v["seconds_min"], v["seconds_max"], v["seconds_median"] = (
        f"{f(seconds):.0f}" for f in (np.min, np.max, np.median))
    s = summary["settings"]
    v["batch_norm"] = "batch-norm" if s["batch_norm"] else "no batch-norm"
    v["augment"] = f"augmentation `{s['augment']}`" if s.get("augment") \
        else "no augmentation"
    return v


def augmentation_values(summary, folder):
    """Values of ``augmentation-discussion.md``."""
    v = step_values(summary, folder, "augmentation")
    results, winner, control = summary["results"], summary["winner"], "none"
    others = [n for n in results if n != control]
    if control in results:
        differences = {n: [paired(summary, n, control, m)
                           for m in ("val_dice", "test_dice")] for n in others}
        v["null_result"] = all(stats.direction(d) == 0
                               for pair in differences.values() for d in pair)
        v["effects"] = "; ".join(
            f"`{n}` moves validation Dice by {stats.format_difference(val)} "
            f"and test Dice by {stats.format_difference(test)}"
            for n, (val, test) in differences.items())
        v["control_label"] = "no augmentation"
        slower = [n for n in others if np.mean(scores(summary, n, "seconds"))
                  > np.mean(scores(summary, control, "seconds"))]
        v["augmented_slower"] = slower == others
        v["augmented_seconds"] = _and_list(
            f"{_seconds(scores(summary, n, 'seconds'))} (`{n}`)" for n in others)
    v["winner_is_control"] = winner == control
    v["winner_spec"] = summary["variants"][winner].get("augment") or "none"
    if control in results and winner != control:
        v["winner_vs_control_val"], v["winner_vs_control_test"] = (
            stats.format_difference(paired(summary, winner, control, m))
            for m in ("val_dice", "test_dice"))
    if "recommended" in results and "no-elastic" in results:
        pair = [paired(summary, "recommended", "no-elastic", m)
                for m in ("val_dice", "test_dice")]
        v["elastic_unclear"] = all(stats.direction(d) == 0 for d in pair)
    rates = summary["rates"]
    headroom = rates["pipeline_images_per_s"] / rates["train_images_per_s"]
    v["headroom"] = f"{headroom:.0f}" if headroom >= 2 else f"{headroom:.1f}"
    v["pipeline_fast"] = headroom > 1
    v["rates_augment"] = rates["augment"]
    v["longer_epochs"] = 200
    v["longer_factor"] = f"{200 / summary['settings']['epochs']:.1f}"
    if winner != control:
        worst = int(np.argmin(results[winner][0]["test_dice_per_image"]))
        v["worst_photo"] = photo_name(summary, worst)
        v["worst_note"] = PHOTO_NOTES.get(v["worst_photo"], "")
    v["large_figure"] = (Path(folder) / "augmentation-test-large.png").exists() \
        and winner != control
    return v


def transfer_values(summary, folder):
    """Values of ``transfer-discussion.md``."""
    v = step_values(summary, folder, "transfer")
    results, winner, s = summary["results"], summary["winner"], summary["settings"]
    source = summary["pretrain"]
    v["source"] = source_name(source)
    v["source_is_horses"] = v["source"] == "horses"
    v["pretrain_minutes"] = f"{source['seconds'] / 60:.1f}"
    v["pretrain_timed"] = bool(source["seconds"])
    pc = source.get("config") or {}
    v["pretrain_epochs"] = pc.get("epochs", "an unrecorded number of")
    v["has_held_out"] = "held_out" in source
    if "held_out" in source:
        v["held_out_dice"] = f"{source['held_out']['mean']['dice']:.3f}"
        v["held_out_count"] = source["held_out"]["count"]
        v["held_out_outnumbers"] = source["held_out"]["count"] > \
            summary["split"]["train"]
        v["same_recipe"] = all(pc.get(k) == s.get(k)
                               for k in ("width", "depth", "loss", "augment"))
    zero = source.get("zero_shot_cats")
    if zero:
        v["zero_shot"] = f"{zero['mean']['dice']:.3f}"
        v["zero_below_all_cat"] = zero["mean"]["dice"] < \
            summary["baselines"]["all-cat"]
    frozen = summary["variants"].get("frozen-then-unfrozen", {})
    if frozen:
        rate, after = s["learning_rate"], frozen.get("fine_tune_learning_rate")
        v["freeze_epochs"] = frozen["freeze_epochs"]
        v["fine_tune_rate"] = f"{after or rate:g}"
        v["rate_ratio"] = f"{rate / after:g}" if after else "1"
    v["frozen_wins"] = winner == "frozen-then-unfrozen"
    if "scratch" in results and winner != "scratch":
        pair = [paired(summary, winner, "scratch", m)
                for m in ("val_dice", "test_dice")]
        v["winner_vs_scratch_val"], v["winner_vs_scratch_test"] = (
            stats.format_difference(d) for d in pair)
        v["clearly_helps"] = all(stats.direction(d) == 1 for d in pair)
        v["val_helps"] = stats.direction(pair[0]) == 1
        change = per_image(summary, winner) - per_image(summary, "scratch")
        v["improved"], v["worse"] = int((change > 0).sum()), int((change < 0).sum())
        drop = int(np.argmin(change))
        v["has_failure"] = change[drop] < -0.1
        v["failure_photo"] = photo_name(summary, drop)
        v["failure_note"] = PHOTO_NOTES.get(v["failure_photo"], "")
        v["failure_scratch"] = f"{per_image(summary, 'scratch')[drop]:.2f}"
        v["failure_seeds"] = (
            _and_list(f"{r['test_dice_per_image'][drop]:.2f}"
                      for r in results[winner]) + " (seeds "
            + _and_list(str(r["config"].get("seed")) for r in results[winner])
            + ")")
        scratch_homes, winner_homes = ({str(Path(_folder(r)).parent)
                                        for r in results[n]}
                                       for n in ("scratch", winner))
        v["scratch_reused"] = scratch_homes.isdisjoint(winner_homes)
        v["scratch_home"] = ", ".join(f"`{h}`" for h in sorted(scratch_homes))
    if "fine-tune-all" in results and "scratch" in results:
        val, test = (paired(summary, "fine-tune-all", "scratch", m)
                     for m in ("val_dice", "test_dice"))
        v["fine_tune_all_effect"] = (f"on validation {effect_words(val)}, "
                                     f"on test {effect_words(test)}")
        v["fine_tune_all_weakest"] = f"{min(scores(summary, 'fine-tune-all')):.3f}"
    v["winner_steadiest"] = all(
        _spread(summary, winner, "val_dice") <= _spread(summary, n, "val_dice")
        for n in results)
    v["val_spreads"] = _and_list(
        f"{_spread(summary, n, 'val_dice'):.3f} (`{n}`)" for n in results)
    return v
