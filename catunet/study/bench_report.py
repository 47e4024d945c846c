"""``reports/bench.md``, the guide's Speed section and README's speed
summary from the summary ``catunet.study.bench`` measured (``bench.json``),
and from nothing else: every sentence that states a result is chosen by
the numbers. The words are templates (``bench.md.j2``,
``bench-findings.md.j2``, ``readme-speed.md.j2``, ``speed-summary.md.j2``);
here are the values that fill them (``findings_view``, ``compared``) and
the targets' rows (``target_rows``).

A ratio is called faster or slower only when the two configurations'
ranges over the interleaved repeats do not overlap; otherwise it is
"within the spread".
"""

from pathlib import Path

from catunet import atomic
from catunet.study import render
from catunet.training import machine
from catunet.training.recipes import RECIPES

TARGETS = {"pipeline": 10, "train": 1.8, "infer": 2, "export": 1e-3}
TRAIN_FLOPS_PER_FORWARD = 3  # forward + backward (about twice the forward)


def find(summary, task, name, width):
    """The result of one configuration, or None when it was not measured."""
    for row in summary["results"]:
        if (row["task"], row["name"], row["width"]) == (task, name, width):
            return row
    return None


def ratio(a, b, key="images_per_s"):
    """Median of ``a`` over median of ``b``."""
    return a[key]["median"] / b[key]["median"]


def verdict(a, b, key="images_per_s"):
    """``faster``, ``slower`` or ``within the spread`` (module docs)."""
    if a is b:
        return "the baseline"
    if min(len(a[key]["values"]), len(b[key]["values"])) < 2:
        return "one repeat: no spread"
    if a[key]["min"] > b[key]["max"]:
        return "faster"
    if a[key]["max"] < b[key]["min"]:
        return "slower"
    return "within the spread"


def _against(row, base, key="images_per_s"):
    """``row`` with its ``ratio`` to ``base`` and the ``verdict`` on it."""
    return {**row, "ratio": ratio(row, base, key),
            "verdict": verdict(row, base, key)}


def inference_name(runtime, bfloat16):
    """How a report names an inference measurement."""
    return f"{runtime}, bfloat16 model" if bfloat16 else runtime


def shipped(picked, model=None):
    """``(runtime, bfloat16)`` of what ships on a machine: the model
    ``train.py`` saves there (bfloat16 where ``auto`` trains in it) on the
    runtime ``auto`` picks (``picked``: ``levers()``). A pretrained-encoder
    ``model`` trains in ``picked["encoder_precision"]``."""
    precision = picked["precision"] if model is None or isinstance(
        model, int) else picked.get("encoder_precision", "float32")
    return picked["runtime"], precision == "mixed_bfloat16" and \
        picked["runtime"] in BFLOAT16_RUNTIMES


# Runtimes that compute a bfloat16 model in bfloat16 (ONNX Runtime's CPU
# provider computes in float32 whatever the model).
BFLOAT16_RUNTIMES = ("keras", "openvino")
# A pretrained-encoder model trains in float32 even where the paper U-Net
# trains in bfloat16 (``machine.best_precision``): on a CPU that computes
# bfloat16 natively the bench also times it in bfloat16, so the choice
# ``auto`` leaves out is measured. The row's name:
ENCODER_BFLOAT16 = "+ precision bfloat16"


def shipped_inference_name(summary, model=None):
    """The name of the inference result that is what ships on the machine
    measured (``shipped``)."""
    return inference_name(*shipped(summary["levers"], model))


# The pretrained-encoder model that ships (``catunet.shipped``), as
# ``ENCODER@SIZE``: the encoder recipe's, read from it so the two cannot
# drift apart. A bench measured before the recipe changed says so.
ENCODER_MODEL = "{encoder}@{image_size}".format(**RECIPES["encoder"])
ENCODER_RSS_MB = 3000  # issue 43: training the encoder model in <= 3 GB


def encoder_view(summary):
    """Each pretrained-encoder model measured: its training against plain
    Keras ``fit``, in bfloat16 too where that was measured (the precision
    ``auto`` leaves out for it; None elsewhere), what ships on the machine
    against Keras ``predict``, and whether it is the model that ships now
    (``ENCODER_MODEL``)."""
    models = []
    for model in summary.get("encoder_models", []):
        base = find(summary, "infer", "keras predict", model)
        served = find(summary, "infer",
                      shipped_inference_name(summary, model), model)
        keras = find(summary, "train", "keras", model)
        bfloat16 = find(summary, "train", ENCODER_BFLOAT16, model)
        models.append({
            "model": model, "ships": model == ENCODER_MODEL,
            "now": ENCODER_MODEL, "keras_predict": base,
            "train": _against(find(summary, "train", "catunet", model), keras),
            "bfloat16": bfloat16 and _against(bfloat16, keras),
            "served": _against(served, base)})
    return models


def pipeline_width(summary):
    """The width the pipeline's headroom is checked at: the shipped one."""
    widths = summary["widths"]
    return summary["shipped_width"] if summary["shipped_width"] in widths \
        else widths[0]


def headroom(summary):
    """``(width, ratio)``: how many times faster the augmented pipeline
    delivers images than training consumes them at the shipped width."""
    ship = pipeline_width(summary)
    train = find(summary, "train", "catunet", ship)["images_per_s"]["median"]
    return ship, summary["pipeline"]["augment_pipeline_images_per_s"] / train


def target_rows(summary):
    """Each target: ``(what, measured, met)``."""
    top = summary["widths"][-1]
    ship, spare = headroom(summary)
    train = ratio(find(summary, "train", "catunet", top),
                  find(summary, "train", "keras", top))
    served = shipped_inference_name(summary)
    infer = ratio(find(summary, "infer", served, top),
                  find(summary, "infer", "keras predict", top))
    diffs = [d["max_abs_diff"] for key, runtimes in summary["exports"].items()
             if key.endswith("f32") for d in runtimes.values()]
    worst = max(diffs, default=0.0)
    return [
        (f"input pipeline ≥ {TARGETS['pipeline']}× the training rate at "
         f"width {ship} (--recipe paper)", f"{spare:.1f}×",
         spare >= TARGETS["pipeline"]),
        (f"training ≥ {TARGETS['train']}× plain Keras at width {top}",
         f"{train:.2f}×", train >= TARGETS["train"]),
        (f"inference ({served}) ≥ {TARGETS['infer']}× Keras `predict` at "
         f"width {top}", f"{infer:.2f}×", infer >= TARGETS["infer"]),
        (f"every runtime's outputs within {TARGETS['export']:g} of Keras "
         "(float32 models)", f"largest difference {worst:.1e}",
         worst <= TARGETS["export"]),
    ] + [(f"training {model} peaks at ≤ {ENCODER_RSS_MB / 1000:.0f} GB",
          f"{rss:.0f} MB", rss <= ENCODER_RSS_MB)
         for model in summary.get("encoder_models", [])
         for rss in [find(summary, "train", "catunet", model)[
             "peak_rss_mb"]["max"]]]


def measured_models(summary):
    """Every model measured: the paper U-Net's widths, then the
    pretrained-encoder models."""
    return [*summary["widths"], *summary.get("encoder_models", [])]


def _rows(summary, task, width):
    """The results of one task at one width, in the order measured."""
    return [row for row in summary["results"]
            if row["task"] == task and row["width"] == width]


def compared(summary, task, base_name):
    """Every result of ``task``, model by model, each against that model's
    ``base_name`` result (``_against``)."""
    rows = []
    for model in measured_models(summary):
        base = find(summary, task, base_name, model)
        rows += [_against(row, base) for row in _rows(summary, task, model)]
    return rows


def export_rows(summary):
    """Each conversion: the model, whether it was the bfloat16 one, the
    runtime and what it measured."""
    rows = []
    for key, runtimes in summary["exports"].items():
        model, kind = key.rsplit("-", 1)
        rows += [{"model": model, "bfloat16": kind == "bf16",
                  "runtime": runtime, **got}
                 for runtime, got in runtimes.items()]
    return rows


def findings_view(summary):
    """What the findings (``templates/bench-findings.md.j2``) are chosen
    by: each training factor against plain Keras, the precision ``auto``
    picks, the fastest and the shipped inference against Keras
    ``predict``, the pipeline's headroom, the pretrained-encoder models."""
    top = summary["widths"][-1]
    training = {}
    for width in summary["widths"]:
        base = find(summary, "train", "keras", width)
        training[width] = [
            {**_against(row, base), "factor": row["name"].lstrip("+ ")}
            for row in _rows(summary, "train", width) if row is not base]
    precision = None
    if summary["levers"]["precision"] != "float32":
        precision = _against(find(summary, "train", "+ precision auto", top),
                             find(summary, "train", "keras", top))
    base = find(summary, "infer", "keras predict", top)
    fastest = max((r for r in _rows(summary, "infer", top) if r is not base),
                  key=lambda r: r["images_per_s"]["median"])
    served = find(summary, "infer", shipped_inference_name(summary), top)
    ship, spare = headroom(summary)
    return {"s": summary, "top": top, "training": training,
            "precision": precision, "keras_predict": base,
            "fastest": _against(fastest, base),
            "served": {**_against(served, base),
                       "is_fastest": fastest is served,
                       "against_fastest": verdict(served, fastest)},
            "ship": ship, "spare": spare, "targets": TARGETS,
            "encoders": encoder_view(summary), "rss_limit": ENCODER_RSS_MB}


def findings(summary):
    """What the numbers show, one bullet a line, every word chosen by them
    (``templates/bench-findings.md.j2``)."""
    return render.ENVIRONMENT.get_template("bench-findings.md.j2").render(
        **findings_view(summary)).splitlines()


def _fill(template, summary, **view):
    """``template`` filled from ``summary``, the findings' values and
    ``view``."""
    return render.ENVIRONMENT.get_template(template).render(
        **findings_view(summary), provenance=render.provenance(summary),
        machine=machine.summary(summary["machine"]),
        target_rows=target_rows(summary), **view)


def write_bench_report(summary, folder):
    """Saves ``bench.json`` and renders ``bench.md``
    (``templates/bench.md.j2``) from it."""
    folder = Path(folder)
    atomic.write_json(folder / "bench.json", summary)
    training = [{**row, "gflops": TRAIN_FLOPS_PER_FORWARD
                 * row["forward_gflop_per_image"]
                 * row["images_per_s"]["median"]}
                for row in compared(summary, "train", "keras")]
    atomic.write_text(folder / "bench.md", _fill(
        "bench.md.j2", summary, training_rows=training,
        inference_rows=compared(summary, "infer", "keras predict"),
        export_rows=export_rows(summary),
        flops_per_forward=TRAIN_FLOPS_PER_FORWARD))


def readme_speed(summary):
    """The guide's Speed section (``templates/readme-speed.md.j2``):
    where, the targets, what it shows."""
    return _fill("readme-speed.md.j2", summary)


def speed_summary(summary):
    """README's speed in two lines (``templates/speed-summary.md.j2``):
    the model that ships (the last pretrained-encoder model measured; else
    the largest paper U-Net), training and one photo's inference against
    plain Keras."""
    model = (summary.get("encoder_models") or summary["widths"][-1:])[-1]
    base = find(summary, "infer", "keras predict", model)
    return render.ENVIRONMENT.get_template("speed-summary.md.j2").render(
        s=summary, model=model, machine=machine.summary(summary["machine"]),
        keras_predict=base,
        train=_against(find(summary, "train", "catunet", model),
                       find(summary, "train", "keras", model)),
        served=find(summary, "infer",
                    shipped_inference_name(summary, model), model))
