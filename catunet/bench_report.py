"""``reports/bench.md`` from the summary ``catunet.bench`` measured."""

from pathlib import Path

from catunet import atomic

TRAIN_FLOPS_PER_FORWARD = 3  # forward + backward (about twice the forward)


def _find(results, **match):
    for result in results:
        if all(result.get(k) == v for k, v in match.items()):
            return result
    return None


def _default(results, width):
    return _find(results, kind="catunet", width=width, jit="auto",
                 threads=None, bf16=False)


def gflops(result, what):
    """Achieved GFLOP/s of training or inference."""
    per_image = result["forward_gflop_per_image"]
    if what == "train":
        return TRAIN_FLOPS_PER_FORWARD * per_image * result["train_images_per_s"]
    return per_image * result["infer_images_per_s"]


def speed_table(summary):
    lines = ["| width | GFLOP/image (forward) | training img/s: catunet / "
             "keras (ratio) | inference img/s, batch 16: catunet / keras "
             "(ratio) | achieved GFLOP/s train / infer (catunet) | peak RSS "
             "MB catunet / keras |", "|---|---|---|---|---|---|"]
    results = summary["results"]
    for width in sorted({r["width"] for r in results if r["kind"] == "keras"}):
        ours, base = _default(results, width), _find(results, kind="keras",
                                                     width=width)
        lines.append(
            f"| {width} | {ours['forward_gflop_per_image']:.1f} | "
            f"{ours['train_images_per_s']:.2f} / "
            f"{base['train_images_per_s']:.2f} "
            f"(**{ours['train_images_per_s'] / base['train_images_per_s']:.2f}×**)"
            f" | {ours['infer_images_per_s']:.1f} / "
            f"{base['infer_images_per_s']:.1f} "
            f"(**{ours['infer_images_per_s'] / base['infer_images_per_s']:.2f}×**)"
            f" | {gflops(ours, 'train'):.0f} / {gflops(ours, 'infer'):.0f} | "
            f"{ours['peak_rss_mb']:.0f} / {base['peak_rss_mb']:.0f} |")
    return lines


def latency_table(summary):
    lines = ["| width | run | batch 1 p50 / p95 ms | batch 16 p50 / p95 ms |",
             "|---|---|---|---|"]
    for result in summary["results"]:
        if result["kind"] == "keras" or result is _default(
                summary["results"], result["width"]):
            lat = result["latency_ms"]
            lines.append(
                f"| {result['width']} | {result['kind']} | "
                f"{lat['batch1']['p50']:.1f} / {lat['batch1']['p95']:.1f} | "
                f"{lat['batch16']['p50']:.0f} / {lat['batch16']['p95']:.0f} |")
    return lines


def _lever_name(result):
    if result["jit"] is False:
        return "XLA off (`jit_compile=False`)"
    if result["threads"]:
        intra, inter = result["threads"]
        return f"threads intra={intra}, inter={inter}"
    if result["bf16"]:
        return "`mixed_bfloat16`"
    return None


def lever_table(summary):
    lines = ["| lever | width | training img/s vs catunet default | "
             "inference img/s vs catunet default |", "|---|---|---|---|"]
    for result in summary["results"]:
        name = _lever_name(result)
        if not name:
            continue
        base = _default(summary["results"], result["width"])
        lines.append(
            f"| {name} | {result['width']} | "
            f"{result['train_images_per_s']:.2f} vs "
            f"{base['train_images_per_s']:.2f} "
            f"({result['train_images_per_s'] / base['train_images_per_s']:.2f}×)"
            f" | {result['infer_images_per_s']:.1f} vs "
            f"{base['infer_images_per_s']:.1f} "
            f"({result['infer_images_per_s'] / base['infer_images_per_s']:.2f}×) |")
    return lines


def targets(summary):
    """Each target of the benchmark, its measured value and whether it is met."""
    results, widths = summary["results"], sorted(
        {r["width"] for r in summary["results"] if r["kind"] == "keras"})
    pipeline = summary["pipeline"]["augment_pipeline_images_per_s"]
    rows = []
    mid = 32 if 32 in widths else widths[len(widths) // 2]
    ratio = pipeline / _default(results, mid)["train_images_per_s"]
    rows.append((f"input pipeline ≥ 10× the training rate at width {mid}",
                 f"{ratio:.0f}×", ratio >= 10))
    top = widths[-1]
    ours, base = _default(results, top), _find(results, kind="keras", width=top)
    train = ours["train_images_per_s"] / base["train_images_per_s"]
    infer = ours["infer_images_per_s"] / base["infer_images_per_s"]
    rows.append((f"training ≥ 1.8× plain Keras at width {top}",
                 f"{train:.2f}×", train >= 1.8))
    rows.append((f"inference ≥ 2× plain Keras at width {top}",
                 f"{infer:.2f}×", infer >= 2))
    diffs = [r["export_max_abs_diff"] for r in results
             if "export_max_abs_diff" in r]
    rows.append(("exported SavedModel serves the same outputs",
                 f"max |difference| {max(diffs):.1e}", max(diffs) < 1e-4))
    lines = ["| target | measured | met |", "|---|---|---|"]
    lines += [f"| {t} | {m} | {'yes' if ok else '**no**'} |" for t, m, ok in rows]
    return lines


def write_bench_report(summary, folder):
    folder = Path(folder)
    atomic.write_json(folder / "bench.json", summary)
    pipe = summary["pipeline"]
    lines = [
        "# Benchmark: catunet against plain Keras", "",
        f"Command: `{summary['command']}` ({summary['wall_seconds'] / 60:.1f} "
        f"min). Machine: {summary['machine']}; CPU flags of interest: "
        f"{', '.join(summary['cpu_flags']) or 'none'}. Batch "
        f"{summary['batch']}, {summary['size']}×{summary['size']} images; "
        f"each figure is the median of {summary['repeats']} timed steps "
        "after warm-up, each run in its own process. Raw numbers: "
        "`bench.json`.", "",
        "## Targets", "", *targets(summary), "",
        "## Speed by width", "", *speed_table(summary), "",
        "*keras*: the same U-Net compiled with Keras defaults (Adam, binary "
        "cross-entropy), `model.fit` / `model.predict` on NumPy arrays. "
        "*catunet*: what `train.py` runs — BCE + Dice loss, Dice metric, the "
        "tf.data pipeline with `--augment recommended` — and inference "
        "through one `tf.function` with a fixed input signature. Achieved "
        "GFLOP/s counts the convolutions' multiply-adds as 2 FLOPs and a "
        f"training step as {TRAIN_FLOPS_PER_FORWARD}× the forward pass.", "",
        "## Latency", "", *latency_table(summary), "",
        "## Levers, each against the catunet default", "",
        *lever_table(summary), "",
        "## Input pipeline", "",
        f"Decoding and resizing the cat photos (once per run, OpenCV): "
        f"{pipe['decode_resize_images_per_s']:.0f} images/s. The augmented "
        f"tf.data pipeline over the decoded arrays (every epoch): "
        f"{pipe['augment_pipeline_images_per_s']:.0f} images/s.", "",
    ]
    discussion = folder / "bench-discussion.md"
    if discussion.exists():
        lines.append(discussion.read_text())
    atomic.write_text(folder / "bench.md", "\n".join(lines))
