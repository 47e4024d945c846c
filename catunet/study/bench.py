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
  ``"auto"`` resolves to without a GPU, and what ``train.py`` runs. A
  pretrained-encoder model, which ``auto`` trains in float32, is also
  timed in bfloat16 where the CPU computes it natively;
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
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import catunet

from catunet.flags import HelpFormatter
from catunet.errors import CatunetError
from catunet.study.bench_report import (BFLOAT16_RUNTIMES, ENCODER_BFLOAT16,
                                        ENCODER_MODEL, inference_name,
                                        write_bench_report)
from catunet.study.bench_workers import (BATCH, INFER_BATCH, SIZE,
                                         export_models, label,
                                         measure_inference, measure_training,
                                         timed)
from catunet.training import machine
from catunet.training.config import TrainConfig
from catunet.training.recipes import RECIPES

WIDTHS = (8, 32)
SHIPPED_WIDTH = TrainConfig.width  # what ``train.py --recipe paper`` trains
# Pretrained-encoder models, ``ENCODER@SIZE``: the one that ships.
ENCODER_MODELS = (ENCODER_MODEL,)
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
            "encoder_precision": machine.best_precision(
                RECIPES["encoder"]["encoder"]),
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
        if not isinstance(width, int) and auto == "float32" \
                and picked["precision"] == "mixed_bfloat16":
            jobs.append((ENCODER_BFLOAT16, "train",
                         {"width": width, "precision": "mixed_bfloat16"}))
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
    times = timed(lambda: next(batches), 5, repeats)
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
