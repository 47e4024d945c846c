"""What machine this is: CPU model, instruction sets, cores, packages.

Detected, never assumed: every run records it beside its results, and the
product picks its fast paths from it.
"""

import os
import platform
from pathlib import Path

# Instruction sets that decide which fast paths exist.
NOTABLE_FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni",
                 "amx_bf16", "amx_tile")


def _cpuinfo():
    try:
        return Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""


def cpu_flags():
    """The CPU's instruction-set flags (Linux ``/proc/cpuinfo``), a set."""
    for line in _cpuinfo().splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def cpu_model():
    """The CPU's model name, else what ``platform`` knows."""
    for line in _cpuinfo().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def cores():
    """CPU cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def has_bf16():
    """Whether the CPU computes bfloat16 natively (AVX512-BF16 or AMX)."""
    return bool(cpu_flags() & {"avx512_bf16", "amx_bf16"})


def has_gpu():
    """Whether TensorFlow sees a GPU."""
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


def best_precision(encoder="paper"):
    """The fastest safe Keras dtype policy here: float16 on a GPU, bfloat16
    on a CPU that computes it natively, float32 otherwise (emulated
    bfloat16 is several times slower).

    A pretrained ``encoder`` (depthwise convolutions, batch norm after
    every one) trains in float32 on a CPU: in bfloat16 it trains slower
    on an AMX Xeon (``python -m catunet.study.bench`` times both where the
    CPU computes bfloat16 natively: ``reports/bench.md``, the encoder
    model's ``+ precision bfloat16`` row).
    """
    if has_gpu():
        return "mixed_float16"
    if encoder != "paper":
        return "float32"
    return "mixed_bfloat16" if has_bf16() else "float32"


def package_versions():
    """Versions of the packages that decide what a run computes."""
    from importlib import metadata

    versions = {"python": platform.python_version()}
    for name in ("tensorflow", "keras", "numpy", "opencv-python-headless",
                 "catunet"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return versions


def describe():
    """The machine as a JSON-ready dict (recorded with every run)."""
    flags = cpu_flags()
    return {
        "cpu": cpu_model(),
        "cores": cores(),
        "notable_flags": [f for f in NOTABLE_FLAGS if f in flags],
        "cpu_flags": sorted(flags),
        "system": f"{platform.system()} {platform.machine()}",
    }


def summary(described=None):
    """One line naming the machine, e.g. for a report."""
    d = described or describe()
    flags = ", ".join(d["notable_flags"]) or "none of " + ", ".join(
        NOTABLE_FLAGS[:3])
    return f"{d['cpu']}, {d['cores']} cores ({flags})"
