"""``reports/bench.md`` and README's Speed section from the summary
``catunet.study.bench`` measured (``bench.json``), and from nothing else:
every sentence that states a result is chosen by the numbers.

A ratio is called faster or slower only when the two configurations'
ranges over the interleaved repeats do not overlap; otherwise it is
"within the spread".
"""

from pathlib import Path

from catunet import atomic
from catunet.study import render
from catunet.training import machine

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


def _rate(row, key="images_per_s", digits=1):
    s = row[key]
    return (f"{s['median']:.{digits}f} ({s['min']:.{digits}f}–"
            f"{s['max']:.{digits}f})")


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


def shipped_inference_name(summary, model=None):
    """The name of the inference result that is what ships on the machine
    measured (``shipped``)."""
    return inference_name(*shipped(summary["levers"], model))


ENCODER_RSS_MB = 3000  # issue 43: training the encoder model in <= 3 GB


def encoder_lines(summary):
    """What the pretrained-encoder models measured show, a bullet each."""
    lines = []
    for model in summary.get("encoder_models", []):
        train = find(summary, "train", "catunet", model)
        plain = find(summary, "train", "keras", model)
        base = find(summary, "infer", "keras predict", model)
        served = find(summary, "infer", shipped_inference_name(summary, model),
                      model)
        lines.append(
            f"- *The pretrained-encoder model ({model}, what ships)*: "
            f"catunet trains it at {_rate(train)} images/s, "
            f"{ratio(train, plain):.2f}× plain Keras `fit` "
            f"({verdict(train, plain)}), in "
            f"{train['policy']}, its training process peaking at "
            f"{train['peak_rss_mb']['median']:.0f} MB "
            f"({'within' if train['peak_rss_mb']['max'] <= ENCODER_RSS_MB else 'over'}"
            f" the {ENCODER_RSS_MB / 1000:.0f} GB asked for). It predicts a "
            f"photo in {served['latency_ms_p50']['median']:.1f} ms "
            f"({served['name']}) against {base['latency_ms_p50']['median']:.1f}"
            f" ms through Keras `predict`, {ratio(served, base):.2f}× its "
            f"throughput ({verdict(served, base)}).")
    return lines


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


def targets(summary):
    lines = ["| target | measured | met |", "|---|---|---|"]
    lines += [f"| {t} | {m} | {'yes' if ok else '**no**'} |"
              for t, m, ok in target_rows(summary)]
    return lines


def measured_models(summary):
    """Every model measured: the paper U-Net's widths, then the
    pretrained-encoder models."""
    return [*summary["widths"], *summary.get("encoder_models", [])]


def _rows(summary, task, width):
    """The results of one task at one width, in the order measured."""
    return [row for row in summary["results"]
            if row["task"] == task and row["width"] == width]


def training_table(summary):
    lines = ["| model | configuration | precision | training images/s, median "
             "(range) | vs plain Keras | achieved GFLOP/s | peak RSS MB |",
             "|---|---|---|---|---|---|---|"]
    for width in measured_models(summary):
        base = find(summary, "train", "keras", width)
        for row in _rows(summary, "train", width):
            gflops = TRAIN_FLOPS_PER_FORWARD * row["forward_gflop_per_image"] \
                * row["images_per_s"]["median"]
            lines.append(
                f"| {width} | {row['name']} | {row['policy']} | {_rate(row)} | "
                f"{ratio(row, base):.2f}× ({verdict(row, base)}) | "
                f"{gflops:.0f} | {row['peak_rss_mb']['median']:.0f} |")
    return lines


def inference_table(summary):
    lines = [f"| model | runtime | images/s, batch {summary['infer_batch']}, "
             "median (range) | vs Keras `predict` | one photo p50 ms | peak "
             "RSS MB |", "|---|---|---|---|---|---|"]
    for width in measured_models(summary):
        base = find(summary, "infer", "keras predict", width)
        for row in _rows(summary, "infer", width):
            lines.append(
                f"| {width} | {row['name']} | {_rate(row)} | "
                f"{ratio(row, base):.2f}× ({verdict(row, base)}) | "
                f"{row['latency_ms_p50']['median']:.1f} | "
                f"{row['peak_rss_mb']['median']:.0f} |")
    return lines


def export_table(summary):
    lines = ["| width, model | runtime | conversion s | max \\|difference\\| "
             "from Keras |", "|---|---|---|---|"]
    for key, runtimes in summary["exports"].items():
        width, kind = key.rsplit("-", 1)
        for runtime, got in runtimes.items():
            lines.append(f"| {width}, {'bfloat16' if kind == 'bf16' else 'float32'}"
                         f" | {runtime} | {got['convert_seconds']:.1f} | "
                         f"{got['max_abs_diff']:.1e} |")
    return lines


def findings(summary):
    """What the numbers show, one bullet each, every word chosen by them."""
    lines, levers = [], summary["levers"]
    top = summary["widths"][-1]
    for width in summary["widths"]:
        base = find(summary, "train", "keras", width)
        parts = [f"{row['name'].lstrip('+ ')} {ratio(row, base):.2f}× "
                 f"({verdict(row, base)})"
                 for row in _rows(summary, "train", width) if row is not base]
        lines.append(f"- *Training at width {width}*, against plain Keras: "
                     + "; ".join(parts) + ".")
    if levers["precision"] == "float32":
        lines.append("- *Precision*: this CPU has neither AVX512-BF16 nor "
                     "AMX, so `--precision auto` trains in float32 (emulated "
                     "bfloat16 is several times slower).")
    else:
        row = find(summary, "train", "+ precision auto", top)
        base = find(summary, "train", "keras", top)
        lines.append(f"- *Precision*: `--precision auto` picks "
                     f"`{levers['precision']}` here; alone it trains at "
                     f"{ratio(row, base):.2f}× float32 at width {top} "
                     f"({verdict(row, base)}).")
    base = find(summary, "infer", "keras predict", top)
    fastest = max((r for r in _rows(summary, "infer", top) if r is not base),
                  key=lambda r: r["images_per_s"]["median"])
    served = find(summary, "infer", shipped_inference_name(summary), top)
    against = verdict(served, fastest)
    picked = "is it" if fastest is served else "is not it (" + (
        "slower than it" if against == "slower" else "within its spread"
        ) + " in throughput)"
    lines.append(
        f"- *Inference at width {top}*: the fastest configuration is "
        f"{fastest['name']}, {ratio(fastest, base):.2f}× Keras `predict`; "
        f"what ships here ({served['name']}, chosen by `--runtime auto` and "
        f"the training precision) {picked}, at {ratio(served, base):.2f}× "
        f"({verdict(served, base)}). One photo takes "
        f"{served['latency_ms_p50']['median']:.1f} ms against "
        f"{base['latency_ms_p50']['median']:.1f} ms through `predict`, and "
        f"the process peaks at {served['peak_rss_mb']['median']:.0f} MB "
        f"against {base['peak_rss_mb']['median']:.0f} MB.")
    ship, spare = headroom(summary)
    lines.append(
        f"- *Input pipeline*: the augmented tf.data stream delivers "
        f"{summary['pipeline']['augment_pipeline_images_per_s']:.0f} "
        f"images/s, {spare:.1f}× what training consumes at width {ship}: "
        + ("it is far from being the bottleneck."
           if spare >= TARGETS["pipeline"] else
           "it is not the bottleneck, but with less headroom than the "
           f"{TARGETS['pipeline']}× asked for." if spare >= 1 else
           "it is the bottleneck: training waits for augmented batches."))
    return lines + encoder_lines(summary)


def header(summary):
    m = summary["machine"]
    levers = summary["levers"]
    return [
        f"Numbers made by {render.provenance(summary)}.", "",
        f"Command: `{summary['command']}` ({summary['wall_seconds'] / 60:.1f} "
        f"min). Machine: {machine.summary(m)}, {m['system']}. On it "
        f"`--precision auto` picks `{levers['precision']}` and `--runtime "
        f"auto` picks `{levers['runtime']}` (installed: "
        f"{', '.join(levers['runtimes'])}). Training: batch "
        f"{summary['batch']}, {summary['size']}×{summary['size']} images, "
        "XLA off on both sides (`jit_compile=False`, which is also what "
        "Keras's default resolves to without a GPU). Each figure is the "
        f"median of {summary['repeats']} interleaved repeats, each in its "
        "own process, with their range; raw numbers in `bench.json`."]


def write_bench_report(summary, folder):
    """Saves ``bench.json`` and renders ``bench.md`` from it."""
    folder = Path(folder)
    atomic.write_json(folder / "bench.json", summary)
    pipe = summary["pipeline"]
    lines = [
        "# Benchmark: what ships against plain Keras", "", *header(summary), "",
        "## Targets", "", *targets(summary), "",
        "## What it shows", "", *findings(summary), "",
        "## Training, one factor at a time", "", *training_table(summary), "",
        "*keras*: the U-Net compiled with Keras defaults (Adam, binary "
        "cross-entropy, float32), `fit` on NumPy arrays. Each `+` row changes "
        "one thing: the augmented tf.data stream `train.py` feeds, its BCE + "
        "Dice loss and Dice metric, or the precision `auto` picks. *catunet*: "
        "all of them, which is what `train.py` runs. Achieved GFLOP/s counts "
        "a multiply-add as 2 FLOPs and a training step as "
        f"{TRAIN_FLOPS_PER_FORWARD}× the forward pass.", "",
        "## Inference, by runtime", "", *inference_table(summary), "",
        "*keras predict*: plain Keras's `model.predict`. The other rows run "
        "what evaluate, visualize and the web page run "
        "(`catunet.inference.predict.predict_probabilities` on "
        "`catunet.inference.runtimes.load_runtime`), each runtime in its own process "
        "that only loads the converted model; *bfloat16 model* is a model "
        "saved under `mixed_bfloat16`, which is what `train.py` saves on "
        "this machine when `auto` picks it.", "",
        "## Export and conversion (each width in its own process)", "",
        *export_table(summary), "",
        "## Input pipeline", "",
        f"Decoding and resizing the cat photos (once per run, OpenCV): "
        f"{pipe['decode_resize_images_per_s']:.0f} images/s. The augmented "
        f"tf.data pipeline over the decoded arrays (every epoch): "
        f"{pipe['augment_pipeline_images_per_s']:.0f} images/s.", ""]
    atomic.write_text(folder / "bench.md", "\n".join(lines))


def readme_speed(summary):
    """README's Speed section: where, the targets, what it shows."""
    lines = [
        f"Measured by `{summary['command']}` in "
        f"{summary['wall_seconds'] / 60:.1f} min on "
        f"{machine.summary(summary['machine'])}; numbers made by "
        f"{render.provenance(summary)}. Full tables in "
        "[reports/bench.md](reports/bench.md).", "",
        *targets(summary), "", *findings(summary)]
    return "\n".join(lines)


def speed_summary(summary):
    """README's speed in two lines: the model that ships (the last
    pretrained-encoder model measured; else the largest paper U-Net),
    training and one photo's inference against plain Keras."""
    models = summary.get("encoder_models") or summary["widths"][-1:]
    model = models[-1]
    train = find(summary, "train", "catunet", model)
    keras_fit = find(summary, "train", "keras", model)
    base = find(summary, "infer", "keras predict", model)
    served = find(summary, "infer", shipped_inference_name(summary, model), model)
    name = model if isinstance(model, str) else \
        f"the paper's U-Net at width {model}"
    return "\n".join([
        f"On {machine.summary(summary['machine'])}, {name} trains at "
        f"{ratio(train, keras_fit):.2f}× plain Keras `fit` "
        f"({verdict(train, keras_fit)}) and predicts a photo in "
        f"{served['latency_ms_p50']['median']:.1f} ms ({served['name']}) "
        f"against {base['latency_ms_p50']['median']:.1f} ms through Keras "
        f"`predict` (`{summary['command']}`).",
        "Every table and how it is measured: [docs/guide.md](docs/guide.md"
        "#speed) and [reports/bench.md](reports/bench.md)."])
