"""The encoder ladder's report (``reports/encoder-ladder/ladder.md``), its
changes' (``catunet.study.cheaper``) and README's section on the
``encoder`` recipe, each from its ``ladder.json`` alone."""

import json
from pathlib import Path

from catunet import atomic
from catunet.inference.predict import Settings
from catunet.study import render, stats
from catunet.study.choosing import choosing_score
from catunet.training import machine, recipes

# The best recipe before the encoder, its inference chosen on the same
# validation scenes (the same frames, seed and frames left out).
PREVIOUS = (Path("reports") / "from-scratch" / "ladder-cat-boxes"
            / "quality.json")
KINDS = ("large", "medium", "small", "several")
# The report of the recipe that ships (the ``encoder`` recipe, the model in
# ``catunet/shipped/``): the encoder ladder's, with EfficientNet-Lite2 for
# Lite0, measured against it by ``catunet.study.cheaper``.
SHIPPING = Path("reports") / "encoder-ladder" / "lite2-full-measured"


def kept_inference(summary):
    """The chosen inference option's scores on the kept recipe's folds."""
    return summary["inference"]["best"]


def paired_measures(ours, theirs):
    """Fold-by-fold differences between two recipes' scores with their
    chosen inference (``inference["best"]``, the same folds and scenes):
    ``{measure: {"ours", "theirs", "difference"}}`` for validation Dice,
    scene Dice, each kind of scene and the choosing score."""
    pairs = {"validation photos": (ours["val_dice"], theirs["val_dice"]),
             "scenes": (ours["scene_dice"], theirs["scene_dice"])}
    pairs.update({kind: (ours["scene_kinds"][kind],
                         theirs["scene_kinds"][kind]) for kind in KINDS})
    pairs["choosing score"] = tuple(
        choosing_score(s["val_dice"], s["scene_dice"]) for s in (ours, theirs))
    return {name: {"ours": stats.mean_sd(a)[0], "theirs": stats.mean_sd(b)[0],
                   "difference": stats.paired_difference(a, b)}
            for name, (a, b) in pairs.items()}


def against_previous(summary, previous):
    """``paired_measures`` of this ladder's kept recipe against
    ``previous`` (the from-scratch ladder's summary chosen on the same
    scenes); None when the scenes were not the same."""
    if previous["scenes"].get("scenes_per_fold") != \
            summary["scenes"]["per_fold"]:
        return None
    return paired_measures(kept_inference(summary),
                           previous["inference"]["best"])


def comparison_lines(compared, theirs="previous best"):
    if compared is None:
        return ["The previous best recipe's scenes differ from these: no "
                "fold-by-fold comparison.", ""]
    lines = [f"| measure | this recipe | {theirs} | difference, "
             "paired by fold |", "|---|---|---|---|"]
    for name, c in compared.items():
        lines.append(f"| {name} | {c['ours']:.3f} | {c['theirs']:.3f} | "
                     f"{stats.format_difference(c['difference'])} |")
    return lines + [""]


def readme_section(summary, previous=None):
    """README's text on the pretrained encoder
    (``templates/readme-encoder.md.j2``), from ``summary`` (the report of
    the recipe that ships, ``SHIPPING``, whose rows tell how each change
    on the way was chosen; and the previous best recipe's ladder, for the
    scenes)."""
    comparison = None
    if previous is not None:
        comparison = "\n".join(comparison_lines(
            against_previous(summary, previous))[:-1])
    return render.ENVIRONMENT.get_template("readme-encoder.md.j2").render(
        s=summary, f=summary["final"], previous=PREVIOUS,
        report=SHIPPING.as_posix(),
        encoder=display_name(summary["recipe"]["encoder"]),
        machine=final_machines(summary) or machine.summary(
            summary["machine"]),
        recipe_flags=recipes.as_flags(recipes.from_study(summary["recipe"])),
        folder_flags=" ".join([""] + [
            recipes.as_flags({k: v}) for k, v in summary["recipe"].items()
            if k in recipes.FOLDERS]),
        inference_flags=" ".join(
            render.inference_flags(summary["inference"]["chosen"])),
        comparison=comparison,
        # Minutes of each seed's labelling; None where it was not timed.
        labelling=[r.get("labelling_minutes") for r in
                   (summary["final"] or {}).get("runs", [])])


def display_name(encoder):
    """``efficientnet-lite2`` as a paper names it: EfficientNet-Lite2."""
    return encoder.replace("efficientnet-lite", "EfficientNet-Lite")


# The step name of a ``catunet.study.cheaper`` row: each such row is a step
# of its own (one change, measured against the recipe kept before it), not
# one of a step's alternatives, however many follow each other.
CHANGE = "cheaper"


def steps_of(rows):
    """Rows grouped into steps: a run of rows with the same step name (the
    alternatives tried for one setting), except that each ``cheaper`` row
    is a step of its own."""
    groups = []
    for r in rows:
        if groups and r["step"] == groups[-1][0]["step"] != CHANGE:
            groups[-1].append(r)
        else:
            groups.append([r])
    return groups


def against_kept(rows):
    """The ladder's rows (``ladder.json``'s ``steps``), each with
    ``against``: its choosing score minus that of the recipe kept before its
    step, paired by fold (None for the base)."""
    if not rows:
        return []
    kept, out = rows[0]["score"], [dict(rows[0], against=None)]
    for group in steps_of(rows[1:]):
        out += [dict(r, against=stats.paired_difference(r["score"], kept))
                for r in group]
        kept = next((r["score"] for r in group if r["kept"]), kept)
    return out


def inference_rows(inference):
    """The inference options a study tried (``greedy_inference``'s
    ``tried``), each with what it changed from plain and its choosing
    score per fold: the rows of the reports' inference tables."""
    plain = Settings.as_dict({})
    return [{**t, "changed": {k: v for k, v in
                              Settings.as_dict(t["settings"]).items()
                              if v != plain.get(k)} or "plain",
             "score": choosing_score(t["val_dice"], t["scene_dice"])}
            for t in inference["tried"]]


def markdown(summary):
    """The report (``templates/encoder-ladder.md.j2``), every number from
    ``summary`` (and the previous best recipe's ladder, where it is)."""
    comparison = None
    if PREVIOUS.is_file():
        comparison = "\n".join(comparison_lines(against_previous(
            summary, json.loads(PREVIOUS.read_text())))[:-1])
    shipped = None
    if summary.get("shipped_inference"):  # catunet.study.cheaper's reports
        shipped = "\n".join(comparison_lines(paired_measures(
            kept_inference(summary), summary["shipped_inference"]),
            "the recipe it changes")[:-1])
    return render.ENVIRONMENT.get_template("encoder-ladder.md.j2").render(
        s=summary, steps=against_kept(summary["steps"]), f=summary["final"],
        kinds=KINDS, tried=inference_rows(summary["inference"]),
        machine=machine.summary(summary["machine"]),
        recipe_flags=recipes.as_flags(summary["recipe"]),
        comparison=comparison, shipped=shipped,
        rows_machine=rows_machine(summary),
        parts=summary.get("part_minutes"),
        part_roles=part_roles(summary),
        final_machines=final_machines(summary))


def part_roles(summary):
    """What each part of a self-training fold run does, in the order of
    its ``part_minutes``: the student is two phases, or one in the recipe
    of ``one-phase-student-measured`` (``one_phase_student``, a flag of
    commit 9a639ff that lost there and was deleted)."""
    one_phase = summary["recipe"].get("one_phase_student")
    roles = {"teacher": "trains the teacher", "pseudo-1": "is its labelling",
             "student-1-pseudo": "the pre-training on its pseudo-masks",
             "student-1": "the student's one phase on its pseudo-masks and "
                          "the labelled photos together" if one_phase
                          else "the fine-tuning"}
    return [(part, roles[part]) for part in summary.get("part_minutes") or {}]


def earlier_machines(summary):
    """The machines the rows above a ``catunet.study.cheaper`` report's
    last were trained on: its ``rows_machine`` (one, or a list) as a list,
    empty for a report whose rows are all its own."""
    rows = summary.get("rows_machine") or []
    return rows if isinstance(rows, list) else [rows]


def rows_machine(summary):
    """``earlier_machines``, named, where one is not the report's own
    (None otherwise)."""
    names = list(dict.fromkeys(
        machine.summary(m) for m in earlier_machines(summary)))
    if any(n != machine.summary(summary["machine"]) for n in names):
        return " and ".join(names)
    return None


def final_machines(summary):
    """The machines the final seeds trained on (each run's ``machine``),
    named where one is not the report's own (None otherwise): seeds
    resumed by ``catunet.study.finals`` may train elsewhere."""
    runs = (summary.get("final") or {}).get("runs", [])
    names = list(dict.fromkeys(machine.summary(r["machine"]) for r in runs
                               if r.get("machine")))
    if any(n != machine.summary(summary["machine"]) for n in names):
        return " and ".join(names)
    return None


def write(summary, report):
    """``ladder.json`` and its ``ladder.md`` in the folder ``report``."""
    atomic.write_json(Path(report) / "ladder.json", summary)
    atomic.write_text(Path(report) / "ladder.md", markdown(summary))
