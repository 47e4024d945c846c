"""``reports/bench.md`` from the summary ``catunet.study.bench`` measured.

Everything here reads only that summary (``bench.json``): the tables, and
the values that fill ``bench-discussion.md`` and README's Speed section.

About XLA: Keras 3 resolves ``jit_compile="auto"`` to XLA only when
TensorFlow sees a non-CPU device (``Trainer._resolve_auto_jit_compile``), so
on a CPU both training paths run without XLA and the ``jit=False`` lever
trains exactly like the default; catunet's inference ``tf.function`` is
compiled with XLA unless ``jit=False``, so that lever does switch XLA off
for inference.
"""

from pathlib import Path

from catunet import atomic
from catunet.study import render

TRAIN_FLOPS_PER_FORWARD = 3  # forward + backward (about twice the forward)
TARGETS = {"pipeline": 10, "train": 1.8, "infer": 2}  # the targets


def _find(results, **match):
    for result in results:
        if all(result.get(k) == v for k, v in match.items()):
            return result
    return None


def _default(results, width):
    return _find(results, kind="catunet", width=width, jit="auto",
                 threads=None, bf16=False)


def _widths(summary):
    return sorted({r["width"] for r in summary["results"] if r["kind"] == "keras"})


def _pair(summary, width):
    """catunet's default and plain Keras at ``width``."""
    results = summary["results"]
    return _default(results, width), _find(results, kind="keras", width=width)


def _ratio(ours, base, what):
    return ours[f"{what}_images_per_s"] / base[f"{what}_images_per_s"]


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
    for width in _widths(summary):
        ours, base = _pair(summary, width)
        lines.append(
            f"| {width} | {ours['forward_gflop_per_image']:.1f} | "
            f"{ours['train_images_per_s']:.2f} / "
            f"{base['train_images_per_s']:.2f} "
            f"(**{_ratio(ours, base, 'train'):.2f}×**)"
            f" | {ours['infer_images_per_s']:.1f} / "
            f"{base['infer_images_per_s']:.1f} "
            f"(**{_ratio(ours, base, 'infer'):.2f}×**)"
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
        return "`jit=False`: inference without XLA (training unchanged\\*)"
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
            f"({_ratio(result, base, 'train'):.2f}×)"
            f" | {result['infer_images_per_s']:.1f} vs "
            f"{base['infer_images_per_s']:.1f} "
            f"({_ratio(result, base, 'infer'):.2f}×) |")
    return lines


def _middle_width(widths):
    return 32 if 32 in widths else widths[len(widths) // 2]


def target_rows(summary):
    """Each target: ``(what, measured, met)``."""
    widths = _widths(summary)
    pipeline = summary["pipeline"]["augment_pipeline_images_per_s"]
    mid, top = _middle_width(widths), widths[-1]
    ratio = pipeline / _default(summary["results"], mid)["train_images_per_s"]
    ours, base = _pair(summary, top)
    train, infer = _ratio(ours, base, "train"), _ratio(ours, base, "infer")
    diffs = [r["export_max_abs_diff"] for r in summary["results"]
             if "export_max_abs_diff" in r]
    exported = "identical outputs" if max(diffs) == 0 else \
        f"max |difference| {max(diffs):.1e}"
    return [
        (f"input pipeline ≥ {TARGETS['pipeline']}× the training rate at "
         f"width {mid}", f"{ratio:.0f}×", ratio >= TARGETS["pipeline"]),
        (f"training ≥ {TARGETS['train']}× plain Keras at width {top}",
         f"{train:.2f}×", train >= TARGETS["train"]),
        (f"inference ≥ {TARGETS['infer']}× plain Keras at width {top}",
         f"{infer:.2f}×", infer >= TARGETS["infer"]),
        ("exported SavedModel serves the same outputs", exported,
         max(diffs) < 1e-4),
    ]


def targets(summary):
    """Each target of the benchmark, its measured value and whether it is met."""
    lines = ["| target | measured | met |", "|---|---|---|"]
    lines += [f"| {t} | {m} | {'yes' if ok else '**no**'} |"
              for t, m, ok in target_rows(summary)]
    return lines


def _config(result):
    return tuple(result.get(k) for k in ("kind", "width", "jit", "threads",
                                         "bf16"))


def noise(summary):
    """Run-to-run noise: the largest relative difference between two
    measurements of one configuration, with the pair; None without one."""
    seen, worst = {}, None
    for result in summary["results"]:
        first = seen.setdefault(str(_config(result)), result)
        if first is result:
            continue
        for what in ("train", "infer"):
            a, b = (r[f"{what}_images_per_s"] for r in (first, result))
            spread = max(a, b) / min(a, b) - 1
            if worst is None or spread > worst[0]:
                worst = (spread, what, first, result)
    return worst


def _against_noise(ratio, spread):
    if spread is None:
        return "no repeat measured the noise"
    if ratio > 1 + spread:
        return "faster, beyond the noise"
    if ratio < 1 / (1 + spread):
        return "slower, beyond the noise"
    return "within the noise"


def bench_values(summary):
    """Values of ``bench-discussion.md`` and README's Speed section."""
    results, widths = summary["results"], _widths(summary)
    mid, top, small = _middle_width(widths), widths[-1], widths[0]
    rows = target_rows(summary)
    pipeline = summary["pipeline"]["augment_pipeline_images_per_s"]
    ours, base = _pair(summary, top)
    small_ours, small_base = _pair(summary, small)
    flags = summary["cpu_flags"]
    v = {
        "version": render.provenance(summary),
        "machine": render.machine_text(summary["machine"]),
        "flags": ", ".join(flags) or "none",
        "minutes": f"{summary['wall_seconds'] / 60:.1f}",
        "repeats": summary["repeats"], "mid": mid, "top": top, "small": small,
        "targets_met": sum(ok for *_, ok in rows), "targets_total": len(rows),
        "pipeline_met": rows[0][2], "train_met": rows[1][2],
        "infer_met": rows[2][2], "export_met": rows[3][2],
        "speed_targets_missed": not (rows[1][2] and rows[2][2]),
        **{f"{name}_met_text": "met" if ok else "**not met**" for name, (*_, ok)
           in zip(("pipeline", "train", "infer", "export"), rows)},
        "command": summary["command"], "pipeline_target": TARGETS["pipeline"],
        "pipe_ratio_mid": f"{pipeline / _default(results, mid)['train_images_per_s']:.0f}",
        "pipe_ratio_top": f"{pipeline / ours['train_images_per_s']:.0f}",
        "pipe_share_mid": f"{100 * _default(results, mid)['train_images_per_s'] / pipeline:.1f}",
        "pipeline_never_bottleneck": all(
            pipeline > _default(results, w)["train_images_per_s"] for w in widths),
        "export": rows[3][1], "export_identical": rows[3][1] == "identical outputs",
        "train_ratio": f"{_ratio(ours, base, 'train'):.2f}",
        "infer_ratio": f"{_ratio(ours, base, 'infer'):.2f}",
        "train_target": TARGETS["train"], "infer_target": TARGETS["infer"],
        "train_gflops": f"{gflops(ours, 'train'):.0f}",
        "infer_gflops": f"{gflops(ours, 'infer'):.0f}",
        "has_bf16_hw": bool({"avx512_bf16", "amx_bf16"} & set(flags)),
    }
    lat_gain = {w: _pair(summary, w)[1]["latency_ms"]["batch1"]["p50"]
                / _pair(summary, w)[0]["latency_ms"]["batch1"]["p50"]
                for w in widths}
    v.update({
        "lat_gain_small": f"{lat_gain[small]:.1f}", "lat_gain_top": f"{lat_gain[top]:.1f}",
        "lat_ours_small": f"{small_ours['latency_ms']['batch1']['p50']:.0f}",
        "lat_keras_small": f"{small_base['latency_ms']['batch1']['p50']:.0f}",
        "infer_ratio_small": f"{_ratio(small_ours, small_base, 'infer'):.2f}",
        "gain_shrinks": lat_gain[top] < lat_gain[small] and _ratio(
            ours, base, "infer") < _ratio(small_ours, small_base, "infer"),
    })
    worst = noise(summary)
    spread = worst[0] if worst else None
    v["has_noise"] = worst is not None
    if worst:
        _, what, a, b = worst
        v["noise_width"] = a["width"]
        v["noise_text"] = (
            f"{a[f'{what}_images_per_s']:.2f} and {b[f'{what}_images_per_s']:.2f} "
            f"{'training' if what == 'train' else 'inference'} images/s, "
            f"{100 * spread:.0f} % apart")
    for result in results:
        name = ("jit" if result["jit"] is False else "threads" if result["threads"]
                else "bf16" if result["bf16"] else None)
        if not name:
            continue
        default = _default(results, result["width"])
        train, infer = (_ratio(result, default, w) for w in ("train", "infer"))
        v.update({f"has_{name}": True, f"{name}_width": result["width"],
                  f"{name}_train": f"{train:.2f}", f"{name}_infer": f"{infer:.2f}",
                  f"{name}_train_words": _against_noise(train, spread),
                  f"{name}_infer_words": _against_noise(infer, spread)})
        if name == "threads":
            v["threads_text"] = (f"intra-op {result['threads'][0]}, "
                                 f"inter-op {result['threads'][1]}")
            v["threads_keep_default"] = not (
                _against_noise(train, spread).startswith("faster")
                and _against_noise(infer, spread).startswith("faster"))
        if name == "bf16":
            v["bf16_slower"] = train < 1
            v["bf16_slowdown"] = f"{1 / train:.1f}"
    rss = [_pair(summary, w)[0]["peak_rss_mb"] / _pair(summary, w)[1]["peak_rss_mb"] - 1
           for w in widths]
    v.update({"rss_higher_everywhere": min(rss) > 0,
              "rss_low": f"{100 * min(rss):.0f}", "rss_high": f"{100 * max(rss):.0f}",
              "rss_ours_top": f"{ours['peak_rss_mb'] / 1000:.1f}",
              "rss_keras_top": f"{base['peak_rss_mb'] / 1000:.1f}"})
    return v


def write_bench_report(summary, folder):
    """Saves ``bench.json`` and renders ``bench.md`` from it."""
    folder = Path(folder)
    atomic.write_json(folder / "bench.json", summary)
    pipe = summary["pipeline"]
    lines = [
        "# Benchmark: catunet against plain Keras", "",
        f"Numbers made by {render.provenance(summary)}.", "",
        f"Command: `{summary['command']}` ({summary['wall_seconds'] / 60:.1f} "
        f"min). Machine: {render.machine_text(summary['machine'])}; CPU flags "
        f"of interest: {', '.join(summary['cpu_flags']) or 'none'}. Batch "
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
        "through one `tf.function` with a fixed input signature, compiled "
        "with XLA. Training uses Keras's default `jit_compile=\"auto\"` in "
        "both, which Keras 3 resolves to XLA only when TensorFlow sees a GPU "
        "or another non-CPU device: without one neither trains with XLA, and "
        "plain Keras's `predict` runs without it too. Achieved GFLOP/s "
        "counts the convolutions' multiply-adds as 2 FLOPs and a training "
        f"step as {TRAIN_FLOPS_PER_FORWARD}× the forward pass.", "",
        "## Latency", "", *latency_table(summary), "",
        "## Levers, each against the catunet default", "",
        *lever_table(summary), "",
        "\\* `jit=False` passes `jit_compile=False` to training, which without a "
        "GPU is what the default `\"auto\"` resolves to: its training column "
        "measures the default configuration a second time, so its ratio is "
        "run-to-run noise. Its inference column compares catunet's "
        "`tf.function` without XLA against the default's XLA-compiled one.",
        "",
        "## Input pipeline", "",
        f"Decoding and resizing the cat photos (once per run, OpenCV): "
        f"{pipe['decode_resize_images_per_s']:.0f} images/s. The augmented "
        f"tf.data pipeline over the decoded arrays (every epoch): "
        f"{pipe['augment_pipeline_images_per_s']:.0f} images/s.", "",
    ]
    text = render.discussion(folder, "bench", {"bench": bench_values(summary)})
    if text:
        lines.append(text)
    atomic.write_text(folder / "bench.md", "\n".join(lines))
