"""Speed of training and inference against a plain Keras baseline.

    python -m catunet.study.bench            # reports/bench.md and bench.json

Every measurement runs in its own process (thread settings must be set
before TensorFlow starts, and peak memory is per process):

* ``keras``: the same U-Net compiled with Keras defaults, ``model.fit`` and
  ``model.predict`` on in-memory NumPy arrays;
* ``catunet``: what ``train.py`` does — our loss and metric, the tf.data
  pipeline with augmentation — and inference through the one path that
  evaluate and visualize use (``catunet.inference``);
* levers, each on or off against ``catunet``: XLA, thread settings,
  ``mixed_bfloat16``.

Ratios (ours / baseline) are what to read: the machines are noisy. Warm-up
steps are excluded and every figure is a median of several repeats.
"""

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from catunet import atomic
from catunet.machine import cpu_flags, cpu_model
from catunet.cli import HelpFormatter

BATCH = 8
SIZE = 128
WIDTHS = (16, 32, 64)
REPORTS = Path("reports")


def forward_flops(model):
    """Floating-point operations of one image's forward pass (2 per
    multiply-add) in the convolutions, which are nearly all of it."""
    from keras import layers

    total = 0
    for layer in model.layers:
        if isinstance(layer, layers.Conv2DTranspose):
            kh, kw, cout, cin = layer.kernel.shape
            _, h, w, _ = layer.input.shape  # every input pixel, every tap
        elif isinstance(layer, layers.Conv2D):
            kh, kw, cin, cout = layer.kernel.shape
            _, h, w, _ = layer.output.shape
        else:
            continue
        total += 2 * h * w * kh * kw * cin * cout
    return total


def _timed(call, warmup, repeats):
    """Seconds of each of ``repeats`` calls after ``warmup`` calls."""
    for _ in range(warmup):
        call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return times


class _BatchClock:
    """Keras callback: the wall time of every training batch."""

    def __init__(self):
        import keras

        class Clock(keras.callbacks.Callback):
            def on_train_batch_begin(inner, batch, logs=None):
                inner.start = time.perf_counter()

            def on_train_batch_end(inner, batch, logs=None):
                self.times.append(time.perf_counter() - inner.start)

        self.times = []
        self.callback = Clock()


def _arrays(count, seed=0):
    """Photos and masks to time with (the speed does not depend on them)."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (count, SIZE, SIZE, 3), dtype=np.uint8)
    masks = (rng.random((count, SIZE, SIZE, 1)) > 0.5).astype(np.uint8)
    return images, masks


def measure(kind, width, warmup=2, repeats=5, jit="auto", threads=None,
            bf16=False, export=False):
    """One measurement, in this process. Returns a dict of figures."""
    import keras
    import tensorflow as tf

    if threads:
        tf.config.threading.set_intra_op_parallelism_threads(threads[0])
        tf.config.threading.set_inter_op_parallelism_threads(threads[1])
    if bf16:
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
    keras.utils.set_random_seed(0)
    from catunet.model import build_unet

    model = build_unet((SIZE, SIZE, 3), base_filters=width)
    steps = warmup + repeats
    images, masks = _arrays(BATCH * steps)
    clock = _BatchClock()
    if kind == "keras":
        model.compile(optimizer="adam", loss="binary_crossentropy")
        model.fit(images.astype(np.float32), masks.astype(np.float32),
                  batch_size=BATCH, epochs=1, verbose=0, shuffle=False,
                  callbacks=[clock.callback])
    else:
        from catunet import data
        from catunet.augment import Augmenter, parse_spec
        from catunet.losses import get_loss
        from catunet.metrics import dice_coefficient

        model.compile(optimizer=keras.optimizers.Adam(1e-3),
                      loss=get_loss("bce+dice"), metrics=[dice_coefficient],
                      jit_compile=jit)
        dataset = data.make_training_dataset(
            images, masks, BATCH, seed=0,
            augment=Augmenter(parse_spec("recommended"), seed=0))
        model.fit(dataset, epochs=1, verbose=0, shuffle=False,
                  steps_per_epoch=data.steps_per_epoch(len(images), BATCH),
                  callbacks=[clock.callback])
    train_step = statistics.median(clock.times[warmup:])

    x16 = images[:16].astype(np.float32)
    if kind == "keras":
        def infer(x):
            return model.predict(x, verbose=0)
    else:
        from catunet.inference import predict_probabilities

        def infer(x):  # what evaluate and visualize run
            return predict_probabilities(model, x)
    latency = {f"batch{n}": _timed(lambda: infer(x16[:n]), 3,
                                   max(repeats, 10) if n == 1 else repeats)
               for n in (1, 16)}
    result = {
        "kind": kind, "width": width, "jit": jit, "threads": threads,
        "bf16": bf16,
        "train_images_per_s": BATCH / train_step,
        "infer_images_per_s": 16 / statistics.median(latency["batch16"]),
        "latency_ms": {k: {"p50": 1000 * float(np.percentile(v, 50)),
                           "p95": 1000 * float(np.percentile(v, 95))}
                       for k, v in latency.items()},
        "forward_gflop_per_image": forward_flops(model) / 1e9,
    }
    if export:
        with tempfile.TemporaryDirectory() as folder:
            model.export(folder, verbose=False)
            reloaded = tf.saved_model.load(folder)  # keep it alive
            served = reloaded.serve(tf.constant(x16))
            result["export_max_abs_diff"] = float(np.max(np.abs(
                np.asarray(served) - np.asarray(model(x16, training=False)))))
    result["peak_rss_mb"] = resource.getrusage(
        resource.RUSAGE_SELF).ru_maxrss / 1024
    return result


def pipeline_rates(data_dir=None, repeats=20):
    """Images/second of decoding + resizing the cat photos, and of the
    augmented tf.data pipeline over the decoded arrays (no model)."""
    from catunet import data
    from catunet.augment import Augmenter, parse_spec
    from catunet.datasets.cats import resolve_data_dir

    pairs = data.find_pairs(resolve_data_dir(data_dir))
    start = time.perf_counter()
    images, masks = data.load_pairs(pairs, SIZE)
    decode = len(pairs) / (time.perf_counter() - start)
    dataset = data.make_training_dataset(
        images, masks, BATCH, seed=0, epochs=10_000,
        augment=Augmenter(parse_spec("recommended"), seed=0))
    batches = iter(dataset)
    times = _timed(lambda: next(batches), 5, repeats)
    return {"decode_resize_images_per_s": decode,
            "augment_pipeline_images_per_s": BATCH / statistics.median(times)}


def _in_subprocess(**kwargs):
    """Runs ``measure`` in a fresh Python process and returns its dict."""
    command = [sys.executable, "-m", "catunet.study.bench", "--worker",
               json.dumps(kwargs)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"bench worker {kwargs} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def plan(widths=WIDTHS, lever_width=None):
    """The measurements of a benchmark: baseline and ours at every width,
    and each lever on/off at ``lever_width``."""
    # Levers are measured at width 32 (a width-64 run costs four times as
    # much), or at the widest width below it.
    lever_width = lever_width or max([w for w in widths if w <= 32] or widths)
    runs = []
    for width in widths:
        runs.append(dict(kind="keras", width=width))
        runs.append(dict(kind="catunet", width=width, export=True))
    runs += [dict(kind="catunet", width=lever_width, jit=False),
             dict(kind="catunet", width=lever_width, threads=[2, 1])]
    bf16_width = lever_width if {"avx512_bf16", "amx_bf16"} & cpu_flags() \
        else widths[0]  # emulated bf16 is slow: probe it where it is cheap
    runs += [dict(kind="catunet", width=bf16_width, bf16=True),
             dict(kind="catunet", width=bf16_width)]
    return runs


def run_bench(widths=WIDTHS, repeats=5, data_dir=None, progress=print):
    start = time.perf_counter()
    results, runs = [], plan(widths)
    for k, kwargs in enumerate(runs, 1):
        progress(f"[{k}/{len(runs)}] {kwargs}", flush=True)
        results.append(_in_subprocess(repeats=repeats, **kwargs))
    return {
        "command": "python -m catunet.study.bench",
        "machine": f"{cpu_model()} ({platform.machine()})",
        "cpu_flags": sorted({"avx2", "fma", "avx512f", "avx512_bf16",
                             "amx_bf16"} & cpu_flags()),
        "batch": BATCH, "size": SIZE, "repeats": repeats,
        "pipeline": pipeline_rates(data_dir),
        "results": results,
        "wall_seconds": time.perf_counter() - start,
    }


def main(argv=None):
    p = argparse.ArgumentParser(
        prog="python -m catunet.study.bench",
        description="Benchmark training and inference against a plain Keras "
        "baseline; writes reports/bench.md and bench.json.",
        formatter_class=HelpFormatter)
    p.add_argument("--widths", type=int, nargs="+", default=list(WIDTHS),
                   help="U-Net base widths to measure")
    p.add_argument("--repeats", type=int, default=5,
                   help="timed steps per figure, after 2 warm-up steps")
    p.add_argument("--data-dir", default=None,
                   help="the cat set, for the input-pipeline rate")
    p.add_argument("--report", default=str(REPORTS),
                   help="folder of bench.md and bench.json")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        print(json.dumps(measure(**json.loads(args.worker))))
        return
    from catunet.study.bench_report import write_bench_report

    summary = run_bench(tuple(args.widths), args.repeats, args.data_dir)
    write_bench_report(summary, args.report)
    print(f"Wrote {Path(args.report) / 'bench.md'}")


if __name__ == "__main__":
    main()
