"""The benchmark's pieces at tiny widths; the real run is
python -m catunet.study.bench."""

import copy

import pytest

from catunet.errors import CatunetError
from catunet.inference import runtimes
from catunet.models.unet import build_unet
from catunet.study import bench, bench_workers
from catunet.study import bench_report
from catunet.study.bench_report import (ENCODER_MODEL, findings,
                                        readme_speed, target_rows, verdict,
                                        write_bench_report)


def test_forward_flops_by_hand():
    model = build_unet((8, 8, 3), base_filters=2, depth=1)
    conv = lambda h, k, cin, cout: 2 * h * h * k * k * cin * cout  # noqa: E731
    expected = (conv(8, 3, 3, 2) + conv(8, 3, 2, 2)      # enc1 at 8x8
                + conv(4, 3, 2, 4) + conv(4, 3, 4, 4)    # bottleneck at 4x4
                + conv(4, 2, 4, 2)                       # up-conv, per input pixel
                + conv(8, 3, 4, 2) + conv(8, 3, 2, 2)    # dec1 after the concat
                + conv(8, 1, 2, 1))                      # 1x1 to the mask
    assert bench_workers.forward_flops(model) == expected


@pytest.mark.parametrize("options", [{}, {"pipeline": True, "loss": True}])
def test_training_is_timed_with_xla_off(options):
    result = bench_workers.measure_training(2, warmup=1, steps=2, **options)
    assert result["images_per_s"] > 0 and result["jit_compile"] is False
    assert result["policy"] == "float32" and result["peak_rss_mb"] > 100


def test_export_then_every_runtime_serves_what_keras_does(tmp_path):
    installed = [r for r in runtimes.PREFERENCE if runtimes.installed(r)]
    exports = bench_workers.export_models(tmp_path, 2, installed)
    assert set(exports) == set(installed) - {"keras"}
    for got in exports.values():
        assert got["max_abs_diff"] < 1e-3
    for runtime in ["predict", *installed]:
        result = bench_workers.measure_inference(tmp_path, 2, runtime, repeats=2)
        assert result["images_per_s"] > 0
        assert 0 < result["latency_ms_p50"] <= result["latency_ms_p95"]


def test_plan_follows_what_auto_picks():
    plain = {"precision": "float32", "runtime": "onnx",
             "runtimes": ["onnx", "keras"]}
    jobs = bench.plan((8,), plain)
    names = [name for name, task, _ in jobs if task == "train"]
    assert names == ["keras", "+ tf.data pipeline", "+ BCE+Dice loss",
                     "catunet"]  # auto is float32: no separate precision row
    assert [n for n, task, _ in jobs if task == "infer"] == [
        "keras predict", "onnx", "keras"]
    bf16 = {"precision": "mixed_bfloat16", "runtime": "openvino",
            "runtimes": ["openvino", "keras"]}
    jobs = bench.plan((8, 32), bf16)
    assert ("+ precision auto", "train",
            {"width": 32, "precision": "auto"}) in jobs
    served = [(n, k["bfloat16"]) for n, t, k in jobs
              if t == "infer" and k["width"] == 8]
    assert ("openvino, bfloat16 model", True) in served
    assert ("keras, bfloat16 model", True) in served


def test_an_encoder_model_is_planned_in_the_precision_it_trains_in():
    """The pretrained-encoder model trains in float32 where the paper
    U-Net trains in bfloat16 (``machine.best_precision``): no bfloat16
    model to serve, and bfloat16 timed in a row of its own, the choice
    ``auto`` leaves out, only where the CPU computes it natively."""
    picked = {"precision": "mixed_bfloat16", "encoder_precision": "float32",
              "runtime": "openvino", "runtimes": ["openvino", "keras"]}
    model = "efficientnet-lite0@256"
    jobs = [(n, t, k) for n, t, k in bench.plan((8, model), picked)
            if k["width"] == model]
    assert [n for n, t, _ in jobs if t == "train"] == [
        "keras", "+ tf.data pipeline", "+ BCE+Dice loss", "catunet",
        "+ precision bfloat16"]
    assert jobs[4][2]["precision"] == "mixed_bfloat16"
    plain = {**picked, "precision": "float32"}  # no native bfloat16
    assert "+ precision bfloat16" not in [
        n for n, _, k in bench.plan((8, model), plain) if k["width"] == model]
    assert [n for n, t, _ in jobs if t == "infer"] == [
        "keras predict", "openvino", "keras"]
    assert bench_report.shipped(picked, model) == ("openvino", False)
    assert bench_report.shipped(picked, 8) == ("openvino", True)
    assert bench_workers.size_of(model) == 256 and bench_workers.size_of(8) == bench_workers.SIZE
    config = bench_workers.config_of(model)
    assert (config.encoder, config.image_size) == ("efficientnet-lite0", 256)


def test_the_bench_measures_the_encoder_model_the_recipe_trains():
    from catunet.training.recipes import RECIPES

    config = bench_workers.config_of(bench.ENCODER_MODELS[0])
    assert (config.encoder, config.image_size) == (
        RECIPES["encoder"]["encoder"], RECIPES["encoder"]["image_size"])


def test_missing_photos_fail_before_anything_is_measured(tmp_path):
    calls = []
    with pytest.raises(CatunetError):
        bench.run_bench((2,), 1, data_dir=tmp_path / "nowhere",
                        run=lambda *a: calls.append(a))
    assert calls == []


def test_repeats_are_interleaved(monkeypatch, shapes_dir):
    order = []

    def fake(task, kwargs):
        order.append((task, kwargs.get("runtime"), kwargs.get("pipeline")))
        if task == "export":
            return {}
        return {"images_per_s": float(len(order)), "peak_rss_mb": 500.0,
                "latency_ms_p50": 1.0, "latency_ms_p95": 2.0,
                "forward_gflop_per_image": 1.0, "jit_compile": False,
                "policy": "float32"}

    monkeypatch.setattr(bench, "levers", lambda: {
        "precision": "float32", "runtime": "keras", "runtimes": ["keras"]})
    summary = bench.run_bench((2,), 2, data_dir=shapes_dir, run=fake,
                              progress=lambda *a, **k: None, encoders=())
    jobs = order[1:]  # after the one export
    assert jobs[:len(jobs) // 2] == jobs[len(jobs) // 2:]
    keras = next(r for r in summary["results"] if r["name"] == "keras"
                 and r["task"] == "train")
    assert keras["images_per_s"]["values"] == [2.0, 2.0 + len(jobs) // 2]
    assert keras["forward_gflop_per_image"] == 1.0


def _row(task, name, width, rate, spread=0.05, **extra):
    values = [rate * (1 - spread), rate, rate * (1 + spread)]
    stats = lambda v: {"median": v[1], "min": v[0], "max": v[2],  # noqa: E731
                       "values": v}
    return {"task": task, "name": name, "width": width,
            "images_per_s": stats(values),
            "peak_rss_mb": stats([500.0] * 3),
            "latency_ms_p50": stats([10.0, 10.0, 10.0]),
            "latency_ms_p95": stats([12.0] * 3),
            "forward_gflop_per_image": 1.0, "policy": "float32",
            "jit_compile": False, **extra}


def fake_summary(precision="mixed_bfloat16"):
    rows = []
    for width, scale in ((8, 4.0), (32, 1.0)):
        rows += [_row("train", "keras", width, 10 * scale),
                 _row("train", "+ tf.data pipeline", width, 9.8 * scale),
                 _row("train", "+ BCE+Dice loss", width, 10 * scale),
                 _row("train", "+ precision auto", width, 19 * scale),
                 _row("train", "catunet", width, 18.5 * scale),
                 _row("infer", "keras predict", width, 40 * scale),
                 _row("infer", "openvino", width, 100 * scale),
                 _row("infer", "keras", width, 50 * scale),
                 _row("infer", "openvino, bfloat16 model", width, 150 * scale)]
    return {"command": "python -m catunet.study.bench", "code_version": "0.2.0",
            "machine": {"cpu": "Test CPU", "cores": 2, "system": "Linux x86_64",
                        "notable_flags": ["avx512_bf16"]},
            "levers": {"precision": precision, "runtime": "openvino",
                       "runtimes": ["openvino", "keras"]},
            "batch": 8, "infer_batch": 16, "size": 128, "widths": [8, 32],
            "shipped_width": 8, "repeats": 3, "wall_seconds": 600,
            "pipeline": {"decode_resize_images_per_s": 300,
                         "augment_pipeline_images_per_s": 1000},
            "exports": {"8-f32": {"openvino": {"convert_seconds": 3.0,
                                               "max_abs_diff": 4e-4}},
                        "8-bf16": {"openvino": {"convert_seconds": 3.0,
                                                "max_abs_diff": 1e-2}}},
            "results": rows}


def test_targets_are_read_from_the_numbers():
    summary = fake_summary()
    rows = target_rows(summary)
    assert rows[0][1:] == ("13.5×", True)  # 1000 / 74 at the shipped width
    assert rows[1][1:] == ("1.85×", True)  # catunet / keras at width 32
    assert "openvino, bfloat16 model" in rows[2][0]
    assert rows[2][1:] == ("3.75×", True)
    assert rows[3][2] is True  # the bfloat16 model's 1e-2 is not a float32 one
    slower = copy.deepcopy(summary)
    slower["results"][13]["images_per_s"]["median"] = 15.0  # catunet, width 32
    assert target_rows(slower)[1][1:] == ("1.50×", False)


def test_words_follow_the_spread():
    a, b = _row("train", "a", 8, 10.0), _row("train", "b", 8, 10.2)
    assert verdict(a, b) == "within the spread"
    assert verdict(_row("train", "c", 8, 20.0), b) == "faster"
    assert verdict(b, _row("train", "c", 8, 20.0)) == "slower"
    one = _row("train", "d", 8, 20.0)
    one["images_per_s"]["values"] = [20.0]
    assert verdict(one, b) == "one repeat: no spread"


def test_findings_change_with_the_machine(tmp_path):
    text = "\n".join(findings(fake_summary()))
    assert "`--precision auto` picks `mixed_bfloat16`" in text
    assert "the fastest configuration is openvino, bfloat16 model" in text
    assert "is it, at 3.75× (faster)" in text
    plain = fake_summary("float32")
    plain["results"] = [r for r in plain["results"]
                        if "precision" not in r["name"]]
    text = "\n".join(findings(plain))
    assert "neither AVX512-BF16 nor AMX" in text
    assert "what ships here (openvino," in text
    assert "is not it (slower than it in throughput)" in text
    encoder = fake_summary()
    model = ENCODER_MODEL
    encoder["encoder_models"] = [model]
    encoder["results"] += [
        _row("train", "keras", model, 8.0), _row("train", "catunet", model, 8.2),
        _row("train", "+ precision bfloat16", model, 4.0),
        _row("infer", "keras predict", model, 10.0),
        _row("infer", "openvino", model, 25.0)]
    text = "\n".join(findings(encoder))
    assert f"({model}, what ships)" in text
    encoder["encoder_models"] = ["efficientnet-lite0@64"]  # an older bench
    for r in encoder["results"][-5:]:
        r["width"] = "efficientnet-lite0@64"
    assert "(efficientnet-lite0@64, what shipped when this was measured; " \
        f"{model} ships now" in "\n".join(findings(encoder))
    assert "in bfloat16, which `--precision auto` does not pick for it, " \
        "4.0 (3.8–4.2) images/s, 0.50× plain Keras `fit`, slower" in text
    encoder["results"].pop(-3)  # not measured: a machine without bfloat16
    assert "in bfloat16" not in "\n".join(findings(encoder))
    write_bench_report(fake_summary(), tmp_path)
    report = (tmp_path / "bench.md").read_text()
    assert "Test CPU" in report
    assert "| 32 | catunet | float32 | 18.5 (17.6–19.4) | 1.85× (faster) |" \
        in report
    assert (tmp_path / "bench.json").is_file()
    assert "| target | measured | met |" in readme_speed(fake_summary())
