"""Speed of what ships, one factor at a time, against plain Keras.

    python -m catunet.study.bench            # reports/bench.md and bench.json

It first names the machine (CPU, flags, cores) and what catunet's ``auto``
settings pick on it (the training precision, the inference runtime), then
times, at each width:

* **training**, images per second of ``fit``: plain Keras (NumPy arrays,
  binary cross-entropy, float32); each of catunet's differences added alone
  (the augmented tf.data pipeline, the BCE + Dice loss and Dice metric, the
  precision ``auto`` picks); and all of them together, which is what
  ``train.py`` runs (``catunet.training.train.compile_model``). XLA is off on both
  sides, set explicitly: ``jit_compile=False`` is also what Keras's default
  ``"auto"`` resolves to without a GPU, and what ``train.py`` runs;
* **inference**, photos per second (batch 16) and single-photo latency:
  plain Keras's ``model.predict`` against the path evaluate, visualize and
  the web page use (``catunet.inference.predict.predict_probabilities`` on a model
  from ``catunet.inference.runtimes.load_runtime``) on every runtime installed.

Every measurement runs in its own process (the precision policy and peak
memory are per process), and so does each model's export and conversion,
so an inference process only loads what it serves and memory figures
compare like with like. The repeats are interleaved (every configuration
once, then again), so a slow spell of a shared machine touches all of them
alike; each figure is the median of the repeats, with their range.
"""

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import catunet

from catunet import atomic
from catunet.flags import HelpFormatter
from catunet.errors import CatunetError
from catunet.study.bench_report import (BFLOAT16_RUNTIMES, inference_name,
                                        write_bench_report)
from catunet.training import machine
from catunet.training.config import TrainConfig

BATCH = 8
SIZE = 128
INFER_BATCH = 16
WIDTHS = (8, 32)
SHIPPED_WIDTH = TrainConfig.width  # what ``train.py --recipe paper`` trains
# Pretrained-encoder models, ``ENCODER@SIZE``: the encoder recipe's, which
# is the model that ships (``catunet.shipped``).
ENCODER_MODELS = ("efficientnet-lite0@256",)
REPORTS = Path("reports")
# Training: plain Keras, each of catunet's differences alone, and all of
# them (what train.py runs).
TRAINING = {
    "keras": {},
    "+ tf.data pipeline": {"pipeline": True},
    "+ BCE+Dice loss": {"loss": True},
    "+ precision auto": {"precision": "auto"},
    "catunet": {"pipeline": True, "loss": True, "precision": "auto"},
}


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


def size_of(model):
    """The input side of a measured model: a paper U-Net's width (an int)
    runs at ``SIZE``, an ``ENCODER@SIZE`` model at its own size."""
    return SIZE if isinstance(model, int) else int(model.split("@")[1])


def config_of(model, precision="float32"):
    """The ``TrainConfig`` that builds a measured model."""
    if isinstance(model, int):
        return TrainConfig(width=model, image_size=SIZE, batch_size=BATCH,
                           precision=precision)
    encoder = model.split("@")[0]
    return TrainConfig(encoder=encoder, image_size=size_of(model),
                       batch_size=BATCH, precision=precision)


def label(model):
    """How a report names a measured model."""
    return f"width {model}" if isinstance(model, int) else model


def _arrays(count, seed=0, size=SIZE):
    """Photos and masks to time with (the speed does not depend on them)."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (count, size, size, 3), dtype=np.uint8)
    masks = (rng.random((count, size, size, 1)) > 0.5).astype(np.uint8)
    return images, masks


def _peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure_training(width, pipeline=False, loss=False, precision="float32",
                     warmup=2, steps=5):
    """Training images/second of one configuration, in this process.

    The model is built in ``precision`` as ``train.py`` builds it
    (``compile_model``), and compiled with its loss and metric with
    ``loss``, else with Keras's defaults (Adam, binary cross-entropy).
    ``pipeline`` feeds the augmented tf.data stream instead of NumPy
    arrays.
    """
    import keras

    from catunet.data import loading
    from catunet.data.augment import Augmenter, parse_spec
    from catunet.training.train import compile_model

    keras.utils.set_random_seed(0)
    model = compile_model(config_of(width, precision))
    if not loss:  # Keras's defaults instead of catunet's loss and metric
        model.compile(optimizer=keras.optimizers.Adam(1e-3),
                      loss="binary_crossentropy")
    model.jit_compile = False  # XLA set explicitly, the same on both sides
    images, masks = _arrays(BATCH * (warmup + steps), size=size_of(width))
    times = []

    class Clock(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            self.start = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            times.append(time.perf_counter() - self.start)

    if pipeline:
        stream = loading.make_training_dataset(
            images, masks, BATCH, seed=0,
            augment=Augmenter(parse_spec("recommended"), seed=0))
        model.fit(stream, epochs=1, verbose=0, callbacks=[Clock()],
                  steps_per_epoch=warmup + steps)
    else:
        model.fit(images.astype(np.float32), masks.astype(np.float32),
                  batch_size=BATCH, epochs=1, verbose=0, shuffle=False,
                  callbacks=[Clock()])
    return {"images_per_s": BATCH / statistics.median(times[warmup:]),
            "jit_compile": model.jit_compile,
            "policy": next(layer for layer in model.layers
                           if layer.weights).dtype_policy.name,
            "forward_gflop_per_image": forward_flops(model) / 1e9,
            "peak_rss_mb": _peak_rss_mb()}


def _model_path(folder, width, bfloat16):
    name = f"w{width}" if isinstance(width, int) else width.replace("@", "-")
    return Path(folder) / f"{name}-{'bf16' if bfloat16 else 'f32'}" / \
        "cats.keras"


def export_models(folder, width, runtimes, bfloat16=False):
    """Saves a width's U-Net and converts it for every runtime, in this
    process, so the inference processes only load. Returns each runtime's
    conversion seconds and its largest difference from Keras's outputs."""
    import keras

    from catunet.inference import runtimes as engines
    from catunet.inference.predict import predict_probabilities
    from catunet.models.unet import build_model

    keras.utils.set_random_seed(0)
    if bfloat16:
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
    # Random weights: the speed and the runtimes' agreement do not depend
    # on them, and no conversion of the ImageNet weights is timed.
    model = build_model(config_of(width), pretrained=False)
    path = atomic.save_model(model, _model_path(folder, width, bfloat16))
    images = _arrays(INFER_BATCH, seed=1, size=size_of(width))[0]
    expected = predict_probabilities(model, images)
    result = {}
    for runtime in runtimes:
        if runtime in ("keras", "predict"):
            continue
        start = time.perf_counter()
        served, _ = engines.load_runtime(path, runtime)
        seconds = time.perf_counter() - start
        got = predict_probabilities(served, images)
        result[runtime] = {"convert_seconds": seconds,
                           "max_abs_diff": float(np.max(np.abs(got - expected)))}
    return result


def measure_inference(folder, width, runtime, bfloat16=False, repeats=10):
    """Photos/second (batch 16) and single-photo latency of one runtime, in
    this process. ``runtime`` ``predict`` is plain Keras's ``model.predict``;
    the others run what evaluate and visualize run."""
    from catunet.inference import runtimes as engines
    from catunet.inference.predict import predict_probabilities

    path = _model_path(folder, width, bfloat16)
    if runtime == "predict":
        from catunet.models.saving import load_model

        model = load_model(path, compile=False)
        model.compile(jit_compile=False)  # XLA off, as for every runtime

        def infer(x):
            return model.predict(x, batch_size=INFER_BATCH, verbose=0)
    else:
        model, _ = engines.load_runtime(path, runtime)

        def infer(x):
            return predict_probabilities(model, x, batch_size=INFER_BATCH)
    images = _arrays(INFER_BATCH, seed=1, size=size_of(width))[0] \
        .astype(np.float32)
    batch = _timed(lambda: infer(images), 3, max(3, repeats // 2))
    single = _timed(lambda: infer(images[:1]), 3, repeats)
    return {"images_per_s": INFER_BATCH / statistics.median(batch),
            "latency_ms_p50": 1000 * float(np.percentile(single, 50)),
            "latency_ms_p95": 1000 * float(np.percentile(single, 95)),
            "peak_rss_mb": _peak_rss_mb()}


WORKERS = {"train": measure_training, "export": export_models,
           "infer": measure_inference}


def _in_subprocess(task, kwargs):
    """Runs one worker in a fresh Python process and returns its dict."""
    command = [sys.executable, "-m", "catunet.study.bench", "--worker",
               json.dumps({"task": task, **kwargs})]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        raise CatunetError(f"bench worker {task} {kwargs} failed:\n"
                           f"{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def levers():
    """What catunet's ``auto`` settings pick on this machine."""
    from catunet.inference import runtimes

    installed = [r for r in runtimes.PREFERENCE if runtimes.installed(r)]
    return {"precision": machine.best_precision(),
            "encoder_precision": machine.best_precision("efficientnet-lite0"),
            "runtime": runtimes.resolve("auto"), "runtimes": installed}


def plan(widths, picked):
    """The jobs of one repeat: ``(name, task, kwargs)``.

    Args:
        picked: ``levers()``: the precision ``auto`` trains in decides
            whether a bfloat16 model is served too; the runtimes installed
            are each timed.
    """
    jobs = []
    for width in widths:
        auto = picked["precision"] if isinstance(width, int) else \
            picked.get("encoder_precision", "float32")
        bf16 = auto == "mixed_bfloat16"
        for name, options in TRAINING.items():
            if options.get("precision") and auto == "float32" \
                    and name != "catunet":
                continue  # auto is float32 here: the same run as plain
            jobs.append((name, "train", {"width": width, **options}))
        served = [("predict", False)] + \
            [(r, False) for r in picked["runtimes"]]
        if bf16:  # what train.py saves here, on the runtimes that use it
            served += [(r, True) for r in BFLOAT16_RUNTIMES
                       if r in picked["runtimes"]]
        for runtime, bfloat16 in served:
            name = "keras predict" if runtime == "predict" else \
                inference_name(runtime, bfloat16)
            jobs.append((name, "infer", {"width": width, "runtime": runtime,
                                         "bfloat16": bfloat16}))
    return jobs


def pipeline_rates(pairs, repeats=20):
    """Images/second of decoding + resizing the cat photos, and of the
    augmented tf.data pipeline over the decoded arrays (no model)."""
    from catunet.data import loading
    from catunet.data.augment import Augmenter, parse_spec

    start = time.perf_counter()
    images, masks = loading.load_pairs(pairs, SIZE)
    decode = len(pairs) / (time.perf_counter() - start)
    dataset = loading.make_training_dataset(
        images, masks, BATCH, seed=0, epochs=10_000,
        augment=Augmenter(parse_spec("recommended"), seed=0))
    batches = iter(dataset)
    times = _timed(lambda: next(batches), 5, repeats)
    return {"decode_resize_images_per_s": decode,
            "augment_pipeline_images_per_s": BATCH / statistics.median(times)}


# The figures that vary from one repeat to the next (the others, such as
# the precision or the FLOPs, are the same in every repeat).
TIMED = ("images_per_s", "latency_ms_p50", "latency_ms_p95", "peak_rss_mb")


def _spread(values):
    return {"median": statistics.median(values), "min": min(values),
            "max": max(values), "values": values}


def run_bench(widths=WIDTHS, repeats=3, data_dir=None, progress=print,
              run=_in_subprocess, encoders=ENCODER_MODELS):
    """Measures everything (module docs); returns the summary.

    Raises:
        CatunetError: The cat photos are not found (checked before any
            measuring).
    """
    from catunet.data import loading
    from catunet.data.datasets.cats import resolve_data_dir

    pairs = loading.find_pairs(resolve_data_dir(data_dir))  # fail fast
    start = time.perf_counter()
    described, picked = machine.describe(), levers()
    progress(f"Machine: {machine.summary(described)}; auto picks precision "
             f"{picked['precision']} and runtime {picked['runtime']} "
             f"(installed: {', '.join(picked['runtimes'])})", flush=True)
    models = [*widths, *encoders]
    jobs = plan(models, picked)
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        exports = {}
        for width in models:
            for bfloat16 in (False, True):
                needed = sorted({k["runtime"] for _, t, k in jobs
                                 if t == "infer" and k["width"] == width
                                 and k["bfloat16"] == bfloat16})
                if not needed:
                    continue
                progress(f"export {label(width)}"
                         f"{', bfloat16' if bfloat16 else ''}", flush=True)
                exports[f"{width}-{'bf16' if bfloat16 else 'f32'}"] = run(
                    "export", {"folder": folder, "width": width,
                               "runtimes": needed, "bfloat16": bfloat16})
        for r in range(repeats):  # interleaved: every job, then again
            for k, (name, task, kwargs) in enumerate(jobs, 1):
                progress(f"[repeat {r + 1}/{repeats}, {k}/{len(jobs)}] "
                         f"{task} {name} {label(kwargs['width'])}",
                         flush=True)
                extra = {"folder": folder} if task == "infer" else {}
                got = run(task, {**kwargs, **extra})
                key = (task, name, kwargs["width"])
                results.setdefault(key, []).append(got)
    rows = [{"task": task, "name": name, "width": width, **runs[0],
             **{key: _spread([got[key] for got in runs])
                for key in TIMED if key in runs[0]}}
            for (task, name, width), runs in results.items()]
    return {
        "command": "python -m catunet.study.bench",
        "machine": described, "levers": picked,
        "batch": BATCH, "infer_batch": INFER_BATCH, "size": SIZE,
        "widths": list(widths), "encoder_models": list(encoders),
        "shipped_width": SHIPPED_WIDTH,
        "repeats": repeats, "pipeline": pipeline_rates(pairs),
        "exports": exports, "results": rows,
        "code_version": catunet.__version__,
        "wall_seconds": time.perf_counter() - start,
    }


def main(argv=None):
    p = argparse.ArgumentParser(
        prog="python -m catunet.study.bench",
        description="Time training and inference, one factor at a time, "
        "against plain Keras; writes reports/bench.md and bench.json.",
        formatter_class=HelpFormatter)
    p.add_argument("--widths", type=int, nargs="+", default=list(WIDTHS),
                   help="U-Net base widths to measure (the default width, "
                   f"{SHIPPED_WIDTH}, is what train.py ships)")
    p.add_argument("--encoders", nargs="*", default=list(ENCODER_MODELS),
                   metavar="ENCODER@SIZE",
                   help="pretrained-encoder models to measure too (the "
                   "default is the model that ships); none: only the "
                   "paper's U-Net")
    p.add_argument("--repeats", type=int, default=3,
                   help="interleaved repeats of every measurement")
    p.add_argument("--data-dir", default=None,
                   help="the cat set, for the input-pipeline rate (default: "
                   "$CATUNET_DATA_DIR, else data/cats)")
    p.add_argument("--report", default=str(REPORTS),
                   help="folder of bench.md and bench.json")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        kwargs = json.loads(args.worker)
        print(json.dumps(WORKERS[kwargs.pop("task")](**kwargs)))
        return
    try:
        summary = run_bench(tuple(args.widths), args.repeats, args.data_dir,
                            encoders=tuple(args.encoders))
    except CatunetError as error:
        sys.exit(f"error: {error}")
    write_bench_report(summary, args.report)
    print(f"Wrote {Path(args.report) / 'bench.md'}")


if __name__ == "__main__":
    main()
