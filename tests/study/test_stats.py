"""The reports' statistics, on numbers small enough to check by hand."""

import math

import pytest

from catunet.study import stats


def test_mean_sd_is_the_sample_standard_deviation():
    mean, sd = stats.mean_sd([1.0, 2.0, 3.0])
    assert mean == 2.0
    assert sd == pytest.approx(1.0)  # sqrt((1 + 0 + 1) / (3 - 1))
    assert stats.format_mean_sd([1.0, 2.0, 3.0]) == "2.000 ± 1.000"


def test_one_value_has_no_spread():
    mean, sd = stats.mean_sd([0.7])
    assert mean == 0.7 and math.isnan(sd)
    assert stats.format_mean_sd([0.7]) == "0.700"


def test_paired_difference_by_hand():
    d = stats.paired_difference([3.0, 5.0, 7.0], [2.0, 3.0, 4.0])
    assert d["differences"] == [1.0, 2.0, 3.0]
    assert d["mean"] == 2.0 and d["sd"] == pytest.approx(1.0) and d["n"] == 3
    half = 4.303 / math.sqrt(3)  # t(0.975, df=2) · sd / sqrt(n) = 2.484
    assert (d["low"], d["high"]) == pytest.approx((2 - half, 2 + half))
    assert stats.direction(d) == 0  # -0.484 to 4.484 includes zero
    assert stats.format_difference(d) == (
        "+2.000 (95% CI -0.484 to +4.484; per seed +1.00, +2.00, +3.00)")


@pytest.mark.parametrize("a, b, expected", [
    ([1.1, 1.2, 1.3, 1.4], [1.0, 1.0, 1.0, 1.0], 1),   # every pair higher
    ([1.0, 1.0, 1.0, 1.0], [1.1, 1.2, 1.3, 1.4], -1),
    ([1.0, 2.0], [2.0, 1.0], 0),                       # +1 and -1: unclear
])
def test_direction_says_which_side_of_zero_the_interval_is(a, b, expected):
    assert stats.direction(stats.paired_difference(a, b)) == expected


def test_four_pairs_use_t_with_three_degrees_of_freedom():
    d = stats.paired_difference([1.0, 2.0, 3.0, 4.0], [0.0, 0.0, 0.0, 0.0])
    sd = math.sqrt(5 / 3)  # differences 1..4, mean 2.5
    assert d["high"] - d["mean"] == pytest.approx(3.182 * sd / 2)


def test_quantiles_beyond_the_table_are_normal():
    assert stats.t_quantile(1) == 12.706 and stats.t_quantile(30) == 2.042
    assert stats.t_quantile(31) == 1.96
    with pytest.raises(ValueError):
        stats.t_quantile(0)


def test_one_pair_has_no_interval():
    d = stats.paired_difference([0.8], [0.7])
    assert stats.direction(d) == 0
    assert stats.format_difference(d) == "+0.100 (one seed, no interval)"


def test_unpaired_lists_are_refused():
    with pytest.raises(ValueError, match="equally long"):
        stats.paired_difference([1.0, 2.0], [1.0])
