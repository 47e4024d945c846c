"""The benchmark's pieces at tiny widths; the real run is python -m catunet.study.bench."""

import shutil

import pytest

from catunet.study import bench
from catunet.study.bench_report import targets, write_bench_report
from catunet.model import build_unet
from tests.conftest import ROOT


def test_forward_flops_by_hand():
    model = build_unet((8, 8, 3), base_filters=2, depth=1)
    conv = lambda h, k, cin, cout: 2 * h * h * k * k * cin * cout  # noqa: E731
    expected = (conv(8, 3, 3, 2) + conv(8, 3, 2, 2)      # enc1 at 8x8
                + conv(4, 3, 2, 4) + conv(4, 3, 4, 4)    # bottleneck at 4x4
                + conv(4, 2, 4, 2)                       # up-conv, per input pixel
                + conv(8, 3, 4, 2) + conv(8, 3, 2, 2)    # dec1 after the concat
                + conv(8, 1, 2, 1))                      # 1x1 to the mask
    assert bench.forward_flops(model) == expected


@pytest.mark.parametrize("kind", ["keras", "catunet"])
def test_one_measurement_at_a_tiny_width(kind):
    result = bench.measure(kind, width=2, warmup=1, repeats=2, export=True)
    assert result["train_images_per_s"] > 0 and result["infer_images_per_s"] > 0
    lat = result["latency_ms"]["batch1"]
    assert 0 < lat["p50"] <= lat["p95"]
    assert result["export_max_abs_diff"] < 1e-5  # the SavedModel serves the same
    assert result["peak_rss_mb"] > 100


def test_bf16_is_probed_where_it_is_cheap_without_hardware_support(monkeypatch):
    monkeypatch.setattr(bench, "cpu_flags", lambda: {"avx2", "fma"})
    runs = bench.plan((16, 32, 64))
    assert {r["width"] for r in runs if r.get("bf16")} == {16}
    assert {r["width"] for r in runs if r.get("jit") is False} == {32}
    monkeypatch.setattr(bench, "cpu_flags", lambda: {"avx512_bf16"})
    assert {r["width"] for r in bench.plan((16, 32, 64)) if r.get("bf16")} == {32}


def fake(kind, width, train, infer, **extra):
    return {"kind": kind, "width": width, "jit": "auto", "threads": None,
            "bf16": False, "train_images_per_s": train,
            "infer_images_per_s": infer, "forward_gflop_per_image": 1.0,
            "peak_rss_mb": 500.0,
            "latency_ms": {"batch1": {"p50": 1, "p95": 2},
                           "batch16": {"p50": 10, "p95": 20}}, **extra}


def test_report_says_which_targets_are_missed(tmp_path):
    summary = {
        "command": "python -m catunet.study.bench", "machine": "x", "cpu_flags": [],
        "batch": 8, "size": 128, "repeats": 5, "wall_seconds": 60,
        "pipeline": {"decode_resize_images_per_s": 300,
                     "augment_pipeline_images_per_s": 100},
        "results": [fake("keras", 32, 4, 10), fake("catunet", 32, 5, 30,
                                                   export_max_abs_diff=0.0),
                    fake("keras", 64, 2, 5), fake("catunet", 64, 2.2, 12,
                                                  export_max_abs_diff=0.0),
                    {**fake("catunet", 32, 6, 30), "jit": False}],
    }
    table = "\n".join(targets(summary))
    assert "| input pipeline ≥ 10× the training rate at width 32 | 20× | yes |" in table
    assert "| training ≥ 1.8× plain Keras at width 64 | 1.10× | **no** |" in table
    assert "| inference ≥ 2× plain Keras at width 64 | 2.40× | yes |" in table
    write_bench_report(summary, tmp_path)
    text = (tmp_path / "bench.md").read_text()
    # Without a GPU, jit=False trains like the default ("auto" = no XLA);
    # only catunet's inference tf.function loses XLA.
    assert "`jit=False`: inference without XLA (training unchanged\\*) | 32 | " \
        "6.00 vs 5.00 (1.20×)" in text
    assert (tmp_path / "bench.json").is_file()


def test_discussion_fills_from_any_bench_summary(tmp_path):
    summary = {
        "command": "python -m catunet.study.bench", "machine": "x",
        "cpu_flags": ["avx2"], "batch": 8, "size": 128, "repeats": 5,
        "wall_seconds": 60, "pipeline": {"decode_resize_images_per_s": 300,
                                         "augment_pipeline_images_per_s": 100},
        "results": [fake("keras", 32, 4, 10), fake("catunet", 32, 5, 30,
                                                   export_max_abs_diff=0.0),
                    fake("catunet", 32, 4.5, 33)],  # the default, twice
    }
    shutil.copy(ROOT / "reports" / "bench-discussion.md", tmp_path)
    write_bench_report(summary, tmp_path)
    text = (tmp_path / "bench.md").read_text()
    assert "{" not in text.split("## What it shows")[1]
    assert "gave 5.00 and 4.50 training images/s, 11 % apart" in text
    assert "include neither" in text  # no bf16 instructions recorded
