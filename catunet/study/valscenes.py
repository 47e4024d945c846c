"""Steps aimed at users' scenes, chosen on scenes of *validation* cats:
``python -m catunet.study.valscenes``.

    python -m catunet.study.valscenes --pretrain-dir ../shared/data/horses \\
        --frames ../shared/data/davis \\
        --paste-backgrounds ../shared/data/horses

The quality ladder chooses on validation photos that each hold one large
cat, so a step aimed at several cats or small cats cannot win there
(copy-paste and a wider zoom lost on them). Here every fold run is scored
on its validation photos *and* on scenes made of that fold's own
validation cats, pasted large, medium, small and three at a time onto
frames of ``--frames`` (``catunet.data.scenes``, as ``catunet.study.scenes``
does with the test cats). No test photo takes part in any choice; the
test photos are scored and reported only.

The variants change the transfer recipe (the ladder's first step: width 8,
pre-trained on ``--pretrain-dir``, fine-tuned frozen-then-unfrozen) one at
a time, each against the recipe itself: the ladder's copy-paste steps
(onto the other cat photos; onto ``--paste-backgrounds``), its wider zoom,
its mosaics, and its self-training on ``--unlabelled``; and self-training
with mosaics, against self-training, also with every pseudo-mask kept (the
ladder's ``more-unlabelled``, as in its final recipe) (``variants``). A variant wins when
it raises the mean over the seeds of its *choosing score*: the mean of its
validation photo Dice and its validation scene Dice (the four kinds
averaged), a rule fixed before the first run. Differences are paired per
seed.

The frames are never paste backgrounds: a variant that pasted onto them
would be scored on scenes whose backgrounds it trained on.
"""

import argparse
import sys
from pathlib import Path

import numpy as np

from catunet import atomic
from catunet.flags import HelpFormatter
from catunet.data import scenes
from catunet.errors import CatunetError
from catunet.inference.predict import Settings
from catunet.study import experiments, quality, render, stats
from catunet.study.quality import greedy_inference
from catunet.study.runstore import RUNS
from catunet.study.scenes import (check_frames_apart, fold_scenes,
                                  kinds_text, load_frames, settings_measure,
                                  with_scene_scores)
from catunet.training import machine

REPORTS = Path("reports")
TRANSFER = quality.TRANSFER


def variants(paste_backgrounds=None, unlabelled=None, teachers=None):
    """What each variant adds to the transfer recipe: the quality ladder's
    steps of the same names (``quality.step_settings``).

    Args:
        paste_backgrounds: Comma-separated cat-free photo folders for the
            ``copy-paste`` variant (None leaves that variant out).
        unlabelled: Unlabelled photos for the ``self-training`` variant
            (None leaves it out), taught by ``teachers``, each seed's
            transfer run (``experiments.PerSeed``).
    """
    steps = quality.step_settings(unlabelled, teachers, paste_backgrounds)
    names = ["copy-paste-on-cats", "wider-zoom", "mosaic"]
    names += ["copy-paste"] if paste_backgrounds else []
    names += ["self-training", "self-training+mosaic",
              "self-training+more-unlabelled",
              "self-training+more-unlabelled+mosaic"] if unlabelled else []
    return {name: {k: v for part in name.split("+")
                   for k, v in steps[part].items()} for name in names}


def against(name):
    """What a variant is compared with: a combination ``a+b`` with ``a``,
    any other the transfer recipe."""
    return name.rsplit("+", 1)[0] if "+" in name else "transfer"


def choose_inference(study, runs, made):
    """The ladder's greedy choice of inference settings
    (``quality.greedy_inference``) on one variant's fold runs, twice: by
    validation photo Dice alone (the ladder's rule) and by the choosing
    score.

    Args:
        runs: The variant's fold runs; ``made``: every fold's scenes.

    Returns:
        ``{"photos": choice, "score": choice}``; every setting tried holds
        per-seed validation photo, scene (by kind) and test Dice.
    """
    measure = settings_measure(study, runs, made)
    return {"photos": greedy_inference(measure, quality.by_photos),
            "score": greedy_inference(measure, quality.by_score)}


def run(pretrain_dir, frames_dir, paste_backgrounds=None, unlabelled=None,
        data_dir=None, seeds=3, names=None, pretrain_epochs=40,
        runs_dir=RUNS / "valscenes", scene_seed=0, **settings):
    """Trains (or reuses) the recipe and its variants, scores every run on
    its fold's photos and scenes; returns the summary.

    Args:
        names: Which of ``variants(...)`` to train (default: all).
        scene_seed: Seed of the scenes (fold ``k``'s use ``scene_seed + k``).
        settings: ``TrainConfig`` fields of every run.
    """
    check_frames_apart(frames_dir, paste_backgrounds)
    offered = variants(paste_backgrounds, unlabelled)
    unknown = set(names or ()) - set(offered)
    if unknown:
        raise CatunetError(f"unknown variants {', '.join(sorted(unknown))}; "
                           f"choose from {', '.join(offered)}")
    chosen = names or list(offered)
    missing = {against(n) for n in chosen} - set(chosen) - {"transfer"}
    if missing:
        raise CatunetError(f"a combination is compared with its first part: "
                           f"train {', '.join(sorted(missing))} too")
    transfer, study = experiments.compare_transfer(
        pretrain_dir, data_dir, seeds, runs_dir=RUNS / "transfer",
        variants=(TRANSFER,), pretrain_epochs=pretrain_epochs, **settings)
    teachers = experiments.PerSeed(
        [str(Path(r["folder"]) / "cats.keras")
         for r in transfer["results"][TRANSFER]],
        f"the seed's {TRANSFER} model")
    adds = variants(paste_backgrounds, unlabelled, teachers)
    adds = {name: adds[name] for name in names or adds}
    recipe = dict(experiments.TRANSFER_VARIANTS[TRANSFER],
                  init=transfer["pretrain"]["model"])
    trained = experiments.run_variants(
        study, {name: {**recipe, **add} for name, add in adds.items()},
        runs_dir) if adds else {"results": {}}
    results = {"transfer": transfer["results"][TRANSFER],
               **trained["results"]}
    frames = load_frames(frames_dir)
    made = fold_scenes(study, frames, scene_seed)
    for name, runs in results.items():
        print(f"== scenes: {name}", flush=True)
        with_scene_scores(runs, made)
    print("== inference settings, chosen twice", flush=True)
    inference = choose_inference(study, results["transfer"], made)
    verdicts = {}
    for name in adds:
        ours = [r["score"] for r in results[name]]
        base = [r["score"] for r in results[against(name)]]
        verdicts[name] = {"against": against(name),
                          "wins": bool(np.mean(ours) > np.mean(base)),
                          "score": stats.paired_difference(ours, base)}
    return {
        "command": "python -m catunet.study.valscenes",
        "pretrain": transfer["pretrain"], "frames": {
            "folder": str(frames_dir), "count": len(frames)},
        "paste_backgrounds": paste_backgrounds, "unlabelled": unlabelled,
        "scene_seed": scene_seed,
        "scenes_per_fold": [len(m) for m in made],
        "kinds": {k: {"cats": n, "scale": list(s)}
                  for k, (n, s) in scenes.KINDS.items()},
        "adds": {name: {k: str(v) for k, v in add.items()}
                 for name, add in adds.items()},
        "settings": transfer["settings"], "seeds": seeds,
        "split": transfer["split"], "baselines": transfer["baselines"],
        "machine": machine.describe(), "code_version": transfer["code_version"],
        "results": results, "verdicts": verdicts, "inference": inference}


def _scores(runs, *keys):
    values = []
    for r in runs:
        for key in keys:
            r = r[key]
        values.append(r)
    return values


def _kind_cell(runs, kind):
    dice = [r["scenes"]["kinds"][kind]["dice"] for r in runs]
    found = sum(r["scenes"]["kinds"][kind]["found"] for r in runs)
    cats = sum(r["scenes"]["kinds"][kind]["cats"] for r in runs)
    return f"{stats.format_mean_sd(dice)} ({100 * found / cats:.0f}% found)"


def _paired(summary, name, *keys):
    return stats.format_difference(stats.paired_difference(
        _scores(summary["results"][name], *keys),
        _scores(summary["results"][against(name)], *keys)))


def write_report(summary, folder=REPORTS):
    """Writes ``valscenes.json`` and ``valscenes.md`` into ``folder``."""
    folder = Path(folder)
    atomic.write_json(folder / "valscenes.json", summary)
    kinds = list(summary["kinds"])
    results = summary["results"]
    lines = [
        "# Steps aimed at users' scenes, chosen on validation scenes", "",
        "Every fold run of the transfer recipe (the quality ladder's first "
        "step) and of each variant below is scored on its validation photos "
        "and on scenes made of the same fold's validation cats, each pasted "
        "onto a frame of "
        f"`{summary['frames']['folder']}` ({summary['frames']['count']} "
        "frames, one per video) once for every kind: "
        + kinds_text(summary["kinds"]) + f" ({', '.join(map(str, summary['scenes_per_fold']))} scenes per "
        "fold). Dice leaves out the frame's own foreground where no cat "
        f"covers it; a cat is *found* when {scenes.FOUND:.0%} of its visible "
        "pixels are predicted. No test photo is in any scene.", "",
        "**The rule, fixed before the runs:** a variant wins when it raises "
        "the mean *choosing score*, the mean of validation photo Dice and "
        "validation scene Dice (the four kinds averaged). Test Dice is "
        "reported, never used to choose.", "",
        "| variant | validation photos | " + " | ".join(kinds)
        + " | scenes | choosing score | test photos |",
        "|---|---|" + "---|" * len(kinds) + "---|---|---|"]
    for name, runs in results.items():
        lines.append(
            f"| {name} | {stats.format_mean_sd(_scores(runs, 'val_dice'))} | "
            + " | ".join(_kind_cell(runs, k) for k in kinds)
            + f" | {stats.format_mean_sd(_scores(runs, 'scenes', 'dice'))}"
            f" | {stats.format_mean_sd(_scores(runs, 'score'))}"
            f" | {stats.format_mean_sd(_scores(runs, 'test_dice'))} |")
    lines += ["", "Dice mean ± sd over seeds " + ", ".join(
        str(r["config"]["seed"]) for r in results["transfer"])
        + " (seed *s* validated on fold *s*); found: the share of the "
        "folds' cats found, all seeds together. Each variant against "
        "`transfer` (a combination `a+b` against `a`), paired by seed:",
        ""]
    for name, verdict in summary["verdicts"].items():
        lines.append(
            f"- **{name}** against {verdict['against']} ({', '.join(f'{k}={v}' for k, v in summary['adds'][name].items())}): "
            f"{'wins' if verdict['wins'] else 'does not win'}; choosing "
            f"score {stats.format_difference(verdict['score'])}; validation "
            f"photos {_paired(summary, name, 'val_dice')}; validation scenes "
            f"{_paired(summary, name, 'scenes', 'dice')}; small "
            f"{_paired(summary, name, 'scenes', 'kinds', 'small', 'dice')}; "
            f"several {_paired(summary, name, 'scenes', 'kinds', 'several', 'dice')}; "
            f"test photos {_paired(summary, name, 'test_dice')}.")
    lines += inference_lines(summary)
    lines += ["", f"Made by {render.provenance(summary)} on "
              f"{render.machine_text(summary['machine'])}; pre-trained on "
              f"`{summary['pretrain']['config']['data_dir']}`; settings of "
              "every run in `valscenes.json`."]
    atomic.write_text(folder / "valscenes.md", "\n".join(lines) + "\n")


def _settings_text(settings):
    changed = {k: v for k, v in settings.items()
               if v != getattr(Settings(), k)}
    return ", ".join(f"{k}={v}" for k, v in changed.items()) or "plain"


def inference_lines(summary):
    """The report's section on the inference settings chosen by each
    rule, and every setting the choosing score tried."""
    choices = summary.get("inference")
    if not choices:
        return []
    kinds = list(summary["kinds"])

    def row(label, scored):
        return (f"| {label} | {_settings_text(scored['settings'])} | "
                f"{stats.format_mean_sd(scored['val_dice'])} | "
                f"{stats.format_mean_sd(scored['scene_dice'])} | "
                + " | ".join(stats.format_mean_sd(scored["scene_kinds"][k])
                             for k in kinds)
                + f" | {stats.format_mean_sd(scored['test_dice'])} |")

    header = ("| {} | settings | validation photos | scenes | "
              + " | ".join(kinds) + " | test photos |")
    rule = "|---|---|---|---|" + "---|" * len(kinds) + "---|"
    lines = ["", "## Inference settings, chosen by each rule", "",
             "The quality ladder's greedy choice of test-time augmentation, "
             "threshold, filling holes and dropping specks (one group at a "
             "time, kept only if it raises the rule's number) on the "
             "transfer recipe's fold runs, once by validation photo Dice "
             "alone (the ladder's rule) and once by the choosing score. "
             "Dice mean ± sd over the seeds.", "",
             header.format("rule"), rule,
             row("plain", choices["photos"]["tried"][0]),
             row("validation photos (the ladder's rule)",
                 choices["photos"]["best"]),
             row("choosing score", choices["score"]["best"]),
             "", "Every setting the choosing score tried, each added to the "
             "last one kept:", "", header.format("group"), rule]
    lines += [row(f"{t['group']}{' (kept)' if t['kept'] else ''}", t)
              for t in choices["score"]["tried"]]
    return lines


def paragraph(summary):
    """README's paragraph: each variant's verdict and paired differences,
    and the inference settings each rule chose."""
    base = summary["results"]["transfer"]
    parts = [
        f"Measured by `{summary['command']}` ({render.provenance(summary)}, "
        f"{render.machine_text(summary['machine'])}; "
        "[reports/valscenes.md](reports/valscenes.md)): the transfer recipe "
        f"scores {stats.format_mean_sd(_scores(base, 'val_dice'))} on the "
        "validation photos and "
        f"{stats.format_mean_sd(_scores(base, 'scenes', 'dice'))} on their "
        "scenes (" + "; ".join(
            f"{kind} {_kind_cell(base, kind)}"
            for kind in summary["kinds"]) + ")."]
    for name, verdict in summary["verdicts"].items():
        parts.append(
            f"*{name}* {'wins' if verdict['wins'] else 'does not win'}"
            f" against *{verdict['against']}*: "
            f"choosing score {stats.format_difference(verdict['score'])}, "
            f"validation photos {_paired(summary, name, 'val_dice')}, scenes "
            f"{_paired(summary, name, 'scenes', 'dice')}; in scenes of "
            "several cats "
            f"{_paired(summary, name, 'scenes', 'kinds', 'several', 'dice')}"
            f" ({_kind_cell(summary['results'][name], 'several')}).")
    choices = summary.get("inference")
    if choices:
        words = []
        for rule, label in (("photos", "validation photos alone"),
                            ("score", "the choosing score")):
            best = choices[rule]["best"]
            words.append(
                f"by {label}, {_settings_text(best['settings'])} (photos "
                f"{stats.format_mean_sd(best['val_dice'])}, scenes "
                f"{stats.format_mean_sd(best['scene_dice'])}, small "
                f"{stats.format_mean_sd(best['scene_kinds']['small'])})")
        parts.append("Inference settings chosen on the transfer recipe's "
                     "fold runs: " + "; ".join(words) + ".")
    return " ".join(parts)


def main(argv=None):
    p = argparse.ArgumentParser(
        prog="python -m catunet.study.valscenes",
        description="Train the transfer recipe and variants aimed at "
        "several and small cats, and choose between them on validation "
        "photos and on scenes made of validation cats.",
        formatter_class=HelpFormatter)
    p.add_argument("--data-dir", default=None,
                   help="the cat set (default: $CATUNET_DATA_DIR, else "
                   "data/cats)")
    p.add_argument("--pretrain-dir", required=True,
                   help="labelled folder(s) to pre-train on, comma-separated")
    p.add_argument("--frames", required=True,
                   help="folder of frames to paste the validation cats onto: "
                   "images/ and masks/ of their own foreground (DAVIS), or "
                   "plain photos")
    p.add_argument("--paste-backgrounds", default=None,
                   help="cat-free photo folders (comma-separated, never the "
                   "--frames) for the copy-paste variant; without it that "
                   "variant is left out")
    p.add_argument("--unlabelled", default=None,
                   help="folder of unlabelled photos for the self-training "
                   "variant; without it that variant is left out")
    p.add_argument("--variants", default=None,
                   help="which variants to train, comma-separated (default: "
                   "copy-paste-on-cats, wider-zoom, mosaic; copy-paste with "
                   "--paste-backgrounds; with --unlabelled self-training, "
                   "self-training+mosaic, self-training+more-unlabelled and "
                   "self-training+more-unlabelled+mosaic)")
    p.add_argument("--seeds", type=int, default=3,
                   help="seeds per variant, also the number of validation "
                   "folds")
    p.add_argument("--pretrain-epochs", type=int, default=40,
                   help="epochs of the pre-training")
    p.add_argument("--scene-seed", type=int, default=0,
                   help="seed of the scenes (fold k's use this + k)")
    p.add_argument("--report", default=str(REPORTS),
                   help="folder of valscenes.md and valscenes.json")
    args = p.parse_args(argv)
    names = [n for n in (args.variants or "").split(",") if n] or None
    try:
        summary = run(args.pretrain_dir, args.frames, args.paste_backgrounds,
                      args.unlabelled, args.data_dir, args.seeds, names,
                      args.pretrain_epochs, scene_seed=args.scene_seed)
    except CatunetError as error:
        sys.exit(f"error: {error}")
    summary["command"] += " " + " ".join(
        f"--{k.replace('_', '-')} {v}" for k, v in [
            ("pretrain_dir", args.pretrain_dir), ("frames", args.frames),
            ("paste_backgrounds", args.paste_backgrounds),
            ("unlabelled", args.unlabelled), ("variants", args.variants),
            ("seeds", args.seeds if args.seeds != 3 else None),
            ("pretrain_epochs",
             args.pretrain_epochs if args.pretrain_epochs != 40 else None),
            ("scene_seed", args.scene_seed or None)] if v)
    Path(args.report).mkdir(parents=True, exist_ok=True)
    write_report(summary, args.report)
    print(f"Wrote {Path(args.report) / 'valscenes.md'}")


if __name__ == "__main__":
    main()
