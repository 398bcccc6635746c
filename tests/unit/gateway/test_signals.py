import math

from cluster.gateway.signals import quantile


def test_quantile_interpolates_within_the_bucket_like_histogram_quantile():
    # 10 samples: 5 in (0, 0.1], 5 in (0.1, 0.5]
    assert math.isclose(quantile(0.9, {0.1: 5, 0.5: 10, float("inf"): 10}), 0.1 + 0.4 * 4 / 5)
    assert math.isclose(quantile(0.5, {0.1: 5, 0.5: 10, float("inf"): 10}), 0.1)


def test_quantile_of_nothing_is_none_and_beyond_the_last_bucket_is_its_bound():
    assert quantile(0.9, {0.1: 0, float("inf"): 0}) is None
    assert quantile(0.9, {}) is None
    assert quantile(0.9, {0.1: 0, 1.0: 1, float("inf"): 10}) == 1.0
