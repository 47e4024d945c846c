"""The statistics the reports state: mean ± sample standard deviation, and
paired differences between variants with a 95 % t-interval.

Seed ``s`` of every variant is validated on fold ``s`` and tested on the same
test photos, so two variants are compared seed by seed: the difference of
each pair, then the mean of those differences with a Student-t interval
(``n`` seeds, ``n − 1`` degrees of freedom). No scipy: the few quantiles
needed are in ``T_975``.
"""

import math

import numpy as np

# Upper 97.5 % quantiles of Student's t (two-sided 95 %), for 1..30 degrees
# of freedom; beyond 30 the normal quantile is close enough.
T_975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262,
         2.228, 2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101,
         2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052,
         2.048, 2.045, 2.042)
Z_975 = 1.96


def t_quantile(df):
    """Two-sided 95 % quantile of Student's t with ``df`` degrees of freedom."""
    if df < 1:
        raise ValueError(f"degrees of freedom must be at least 1, got {df}")
    return T_975[df - 1] if df <= len(T_975) else Z_975


def mean_sd(values):
    """Mean and sample standard deviation (``ddof=1``; NaN for one value)."""
    values = np.asarray(values, dtype=float)
    if values.size == 0:
        raise ValueError("mean_sd of no values")
    sd = float(np.std(values, ddof=1)) if values.size > 1 else math.nan
    return float(np.mean(values)), sd


def format_mean_sd(values, digits=3):
    """``"0.700 ± 0.018"``; just the mean when there is one value."""
    mean, sd = mean_sd(values)
    if math.isnan(sd):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {sd:.{digits}f}"


def paired_difference(a, b):
    """Per-pair differences ``a − b`` and a 95 % t-interval of their mean.

    Args:
        a, b: Paired values (``a[i]`` and ``b[i]`` share seed ``i``).

    Returns:
        A dict: ``differences`` (list), ``mean``, ``sd`` (sample), ``n``,
        ``low`` and ``high`` (the interval; NaN with one pair).
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape or a.ndim != 1 or a.size == 0:
        raise ValueError(f"paired_difference needs two equally long, "
                         f"non-empty lists, got {a.shape} and {b.shape}")
    differences = a - b
    mean, sd = mean_sd(differences)
    n = differences.size
    half = t_quantile(n - 1) * sd / math.sqrt(n) if n > 1 else math.nan
    return {"differences": differences.tolist(), "mean": mean, "sd": sd,
            "n": n, "low": mean - half, "high": mean + half}


def direction(difference):
    """+1 when the interval lies above zero, −1 below, 0 when it includes
    zero (or there is no interval)."""
    if difference["low"] > 0:
        return 1
    if difference["high"] < 0:
        return -1
    return 0


def format_difference(difference, digits=3):
    """``"+0.077 (95% CI +0.031 to +0.123; per seed +0.08, +0.06, +0.09)"``."""
    d = difference
    per_seed = ", ".join(f"{x:+.2f}" for x in d["differences"])
    if d["n"] < 2:
        return f"{d['mean']:+.{digits}f} (one seed, no interval)"
    return (f"{d['mean']:+.{digits}f} (95% CI {d['low']:+.{digits}f} to "
            f"{d['high']:+.{digits}f}; per seed {per_seed})")
