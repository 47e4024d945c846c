"""The encoder ladder's report (``reports/encoder-ladder/ladder.md``) and
README's section on the ``encoder`` recipe, from ``ladder.json`` alone."""

import json
from pathlib import Path

import numpy as np

from catunet.inference.predict import Settings
from catunet.study import stats
from catunet.training import machine

# The best recipe before the encoder, its inference chosen on the same
# validation scenes (the same frames, seed and frames left out).
PREVIOUS = (Path("reports") / "from-scratch" / "ladder-cat-boxes"
            / "quality.json")
KINDS = ("large", "medium", "small", "several")


def _cell(values):
    return stats.format_mean_sd(values)


def kept_inference(summary):
    """The chosen inference option's scores on the kept recipe's folds."""
    return summary["inference"]["best"]


def against_previous(summary, previous):
    """Fold-by-fold differences between this ladder's kept recipe (with
    its chosen inference) and ``previous`` (the from-scratch ladder's
    summary chosen on the same scenes): ``{measure: paired difference}``
    for validation Dice, scene Dice and each kind of scene; None when the
    scenes were not the same."""
    if previous["scenes"].get("scenes_per_fold") != \
            summary["scenes"]["per_fold"]:
        return None
    ours, theirs = kept_inference(summary), previous["inference"]["best"]
    pairs = {"validation photos": (ours["val_dice"], theirs["val_dice"]),
             "scenes": (ours["scene_dice"], theirs["scene_dice"])}
    pairs.update({kind: (ours["scene_kinds"][kind],
                         theirs["scene_kinds"][kind]) for kind in KINDS})
    return {name: {"ours": stats.mean_sd(a)[0], "theirs": stats.mean_sd(b)[0],
                   "difference": stats.paired_difference(a, b)}
            for name, (a, b) in pairs.items()}


def comparison_lines(summary, previous):
    compared = against_previous(summary, previous)
    if compared is None:
        return ["The previous best recipe's scenes differ from these: no "
                "fold-by-fold comparison.", ""]
    lines = ["| measure | this recipe | previous best | difference, "
             "paired by fold |", "|---|---|---|---|"]
    for name, c in compared.items():
        lines.append(f"| {name} | {c['ours']:.3f} | {c['theirs']:.3f} | "
                     f"{stats.format_difference(c['difference'])} |")
    return lines + [""]


def inference_flags(chosen):
    """The inference flags of chosen settings that differ from plain."""
    plain = Settings()
    return " ".join(
        (f"--{k.replace('_', '-')}" if v is True else
         f"--{k.replace('_', '-')} {v}")
        for k, v in chosen.items() if v != getattr(plain, k))


def recipe_flags(recipe):
    return " ".join(f"--{k.replace('_', '-')} {v}" for k, v in recipe.items())


def readme_section(summary, previous=None):
    """README's lines on the pretrained encoder, from ``summary`` (and the
    previous best recipe's ladder, for the scenes)."""
    f = summary["final"]
    lines = [
        "The U-Net over EfficientNet-Lite0 with ImageNet weights, its "
        "recipe chosen on the validation folds and validation-cat scenes "
        "only ([reports/encoder-ladder/ladder.md]"
        "(reports/encoder-ladder/ladder.md)), is the `encoder` recipe:", "",
        "```bash",
        "catunet train --stage cats --data-dir ../shared/data/cats "
        "--recipe encoder", "```", "",
        f"It stands for `{recipe_flags(summary['recipe'])}`, and its models "
        "predict with the inference settings chosen on the same folds "
        f"(`{inference_flags(summary['inference']['chosen'])}`, saved "
        "beside the model).", ""]
    if f:
        low, high = f["photo_interval"]
        lines += [
            f"Trained on all {summary['split']['train']} training photos "
            f"with {len(f['runs'])} seeds it scores "
            f"**{stats.format_mean_sd([r['test_dice'] for r in f['runs']])}"
            "** test Dice (per seed "
            + ", ".join(f"{r['test_dice']:.3f}" for r in f["runs"])
            + f"; 95% bootstrap interval over the {summary['split']['test']}"
            f" photos {low:.3f} to {high:.3f}; worst photo per seed "
            + ", ".join(f"{w:.2f}" for w in f["worst_photo"])
            + "; at each photo's own size, as `catunet predict` answers, "
            + stats.format_mean_sd([r["test_dice_full_size"]
                                    for r in f["runs"]])
            + ") and trains in "
            + ", ".join(f"{r['train_minutes']:.1f}" for r in f["runs"])
            + f" min a seed ({machine.summary(summary['machine'])}).", ""]
    if previous is not None:
        lines += ["On the same validation scenes, fold by fold, against "
                  "the best recipe before it (horse pre-training, "
                  "self-training, mosaics, cat boxes; "
                  f"[{PREVIOUS.parent.name}]"
                  f"({PREVIOUS.parent.as_posix()}/quality.md)):", ""]
        lines += comparison_lines(summary, previous)
    return "\n".join(lines)


def markdown(summary):
    """The report, every number from ``summary``."""
    lines = [
        "# The recipe over the pretrained encoder (validation only)", "",
        f"Command: `{summary['command']}`", "",
        f"Machine: {machine.summary(summary['machine'])}; precision "
        f"{summary['precision']}; catunet {summary['code_version']}. "
        f"{summary['seeds']} validation folds of the "
        f"{summary['split']['train']} training photos (seed *s* validates "
        "on fold *s*); scenes: each fold's own cats on "
        f"{summary['scenes']['frames']} frames "
        f"({', '.join(map(str, summary['scenes']['per_fold']))} a fold). "
        "Choosing score = mean of validation photo Dice (masks at 128 px) "
        "and scene Dice; mean ± sample sd over the folds. The test photos "
        "are not scored by any row here.", "",
        "| step | change | kept | validation Dice | scene Dice | large | "
        "medium | small | several | choosing score | train min / fold |",
        "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in summary["steps"]:
        change = ", ".join(f"`{k}={v}`" for k, v in r["change"].items())
        kinds = r["scene_kinds"]
        lines.append(
            f"| {r['step']} | {change} | {'yes' if r['kept'] else 'no'} | "
            f"{_cell(r['val_dice'])} | {_cell(r['scene_dice'])} | "
            + " | ".join(_cell(kinds[k]) for k in
                         ("large", "medium", "small", "several"))
            + f" | {_cell(r['score'])} | {np.mean(r['train_minutes']):.1f} |")
    lines += ["", "## Inference options (the kept recipe's fold models)", "",
              "| group | settings | validation Dice | scene Dice | "
              "choosing score | kept |", "|---|---|---|---|---|---|"]
    for t in summary["inference"]["tried"]:
        changed = {k: v for k, v in t["settings"].items()
                   if v != getattr(Settings(), k)}
        lines.append(
            f"| {t['group']} | {changed or 'plain'} | {_cell(t['val_dice'])}"
            f" | {_cell(t['scene_dice'])} | "
            f"{_cell(np.add(t['val_dice'], t['scene_dice']) / 2)} | "
            f"{'yes' if t['kept'] else 'no'} |")
    lines += ["", f"Chosen recipe: `{recipe_flags(summary['recipe'])}`; "
              f"inference: {summary['inference']['chosen']}.", ""]
    if PREVIOUS.is_file():
        lines += ["## Against the previous best recipe (validation only)",
                  ""] + comparison_lines(
                      summary, json.loads(PREVIOUS.read_text()))
    f = summary["final"]
    if f:
        low, high = f["photo_interval"]
        lines += [
            "## The finished recipe on the test photos (scored once)", "",
            f"Trained on all {summary['split']['train']} training photos, "
            f"{len(f['runs'])} seeds: test Dice "
            f"{_cell([r['test_dice'] for r in f['runs']])} (per seed "
            + ", ".join(f"{r['test_dice']:.3f}" for r in f["runs"])
            + f"); 95% bootstrap interval over the "
            f"{summary['split']['test']} photos {low:.3f} to {high:.3f}; "
            "worst photo per seed "
            + ", ".join(f"{w:.2f}" for w in f["worst_photo"])
            + "; training "
            + ", ".join(f"{r['train_minutes']:.1f}" for r in f["runs"])
            + " min a seed. At each photo's own size, as `catunet predict` "
            "answers: "
            + _cell([r["test_dice_full_size"] for r in f["runs"]]) + ".", ""]
    return "\n".join(lines)
