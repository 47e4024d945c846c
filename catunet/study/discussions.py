"""The values each step's discussion is filled from
(``templates/<step>-discussion.md.j2``): one function per step, reading
nothing but the step's summary (and whether a figure is drawn beside it).
"""

import math
from pathlib import Path

import numpy as np

from catunet.study import stats
from catunet.study.render import (FAIL_MARGIN, FIGURES_READ, PHOTO_NOTES,
                                  code_version, curve_facts, curve_sentence,
                                  effect_words, key, label, machine_text,
                                  paired, per_image, photo_name, provenance,
                                  ranking, scores, source_name)


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
    v["scratch_wins"] = winner == "scratch"
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
