"""`kv-headroom`: keep requests away from replicas whose KV cache is nearly full.

A replica near KV exhaustion preempts running requests (recomputing them later), so a new request
there slows everyone on it. As a filter, drops candidates at or above `max_usage` while another
candidate is below it. As a scorer, rates a candidate by its free KV fraction. A candidate whose
load snapshot is stale is kept by the filter and scores 0 (unknown headroom is no headroom).

Parameters: `max_usage` (filter, default 0.9).
"""

from collections.abc import Sequence

from cluster.router.policy import Candidate, Filter, Kind, PolicyError, RouteRequest, Scorer, register


@register(Kind.FILTER, "kv-headroom")
class KvHeadroomFilter(Filter):
    def __init__(self, max_usage: float = 0.9):
        if not 0 < max_usage <= 1:
            raise PolicyError(f"max_usage: {max_usage} is out of range; allowed: above 0 to 1")
        self.max_usage = max_usage

    def filter(self, request: RouteRequest, candidates: Sequence[Candidate]) -> list[Candidate]:
        return [c for c in candidates if c.kv_cache_usage is None or c.kv_cache_usage < self.max_usage]


@register(Kind.SCORER, "kv-headroom")
class KvHeadroomScorer(Scorer):
    def score(self, request: RouteRequest, candidates: Sequence[Candidate]) -> list[float]:
        return [0.0 if c.kv_cache_usage is None else min(1.0, max(0.0, 1.0 - c.kv_cache_usage)) for c in candidates]
