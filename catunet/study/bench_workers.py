"""What the benchmark times, each in a fresh process
(``python -m catunet.study.bench --worker``): training images per second
of one configuration, the export of a model to every runtime, and one
runtime's inference latency; and the model facts they report (size,
forward FLOPs)."""

import resource
import statistics
import time
from pathlib import Path

import numpy as np

from catunet import atomic
from catunet.training.config import TrainConfig

BATCH = 8
SIZE = 128
INFER_BATCH = 16


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


def timed(call, warmup, repeats):
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
    batch = timed(lambda: infer(images), 3, max(3, repeats // 2))
    single = timed(lambda: infer(images[:1]), 3, repeats)
    return {"images_per_s": INFER_BATCH / statistics.median(batch),
            "latency_ms_p50": 1000 * float(np.percentile(single, 50)),
            "latency_ms_p95": 1000 * float(np.percentile(single, 95)),
            "peak_rss_mb": _peak_rss_mb()}
