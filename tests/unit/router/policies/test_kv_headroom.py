from cluster.router.policies.kv_headroom import KvHeadroomFilter, KvHeadroomScorer
from tests.unit.router.factories import candidate, request

import pytest

from cluster.router.policy import PolicyError


def test_filter_drops_nearly_full_replicas_and_keeps_unknown_ones():
    kept = KvHeadroomFilter(max_usage=0.9).filter(
        request(), [candidate("full", kv=0.95), candidate("ok", kv=0.5), candidate("stale", fresh=False)])
    assert [c.replica_id for c in kept] == ["ok", "stale"]


def test_all_replicas_full_leaves_nothing_for_the_router_to_fall_back_from():
    assert KvHeadroomFilter().filter(request(), [candidate("a", kv=0.99), candidate("b", kv=0.9)]) == []


def test_scores_free_fraction_and_zero_when_unknown():
    scores = KvHeadroomScorer().score(request(), [candidate("a", kv=0.25), candidate("b", fresh=False)])
    assert scores == [0.75, 0.0]


def test_max_usage_is_checked():
    with pytest.raises(PolicyError, match="max_usage"):
        KvHeadroomFilter(max_usage=1.5)
