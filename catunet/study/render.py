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
# How the templates write numbers: ``{{ runs | mean_sd }}`` (0.700 ± 0.018),
# ``{{ d | difference }}`` (a paired difference with its interval),
# ``{{ x | f(3) }}`` (0.700), ``{{ xs | each(2) }}`` (0.54, 0.61, 0.42).
ENVIRONMENT.filters.update(
    mean_sd=stats.format_mean_sd, difference=stats.format_difference,
    mean=lambda values: float(np.mean(values)),
    f=lambda value, digits=3: f"{value:.{digits}f}",
    each=lambda values, digits=3: ", ".join(f"{v:.{digits}f}" for v in values))


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
    (``--tta``, ``--threshold 0.4``); a removed setting recorded on
    (``--cat-gate 0.2``) is among them."""
    from catunet.inference.predict import Settings

    since = Settings.as_dict(since or {})
    return [" ".join(flag(k, v)) for k, v in Settings.as_dict(settings).items()
            if since.get(k) != v]


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
