"""What a gateway reports to the controller for autoscaling: its queue depth and its recent TTFT.

The TTFT p90 is read from the gateway's own TTFT histogram (the one Prometheus scrapes), as the
difference of its bucket counts since the previous report, interpolated within the bucket as
Prometheus' histogram_quantile does: no second record of every request is kept.
"""

import uuid

from cluster import metrics
from cluster.types import GatewayReport


class GatewaySignals:
    def __init__(self, queued, gateway_id: str = ""):
        self._queued = queued  # () -> requests waiting in admission
        self.gateway_id = gateway_id or uuid.uuid4().hex[:8]
        self._previous: dict[float, float] = {}

    def report(self) -> GatewayReport:
        buckets = _ttft_buckets()
        delta = {le: count - self._previous.get(le, 0.0) for le, count in buckets.items()}
        self._previous = buckets
        return GatewayReport(self.gateway_id, self._queued(), quantile(0.9, delta))


def quantile(q: float, cumulative: dict[float, float]) -> float | None:
    """The q-quantile of a histogram given as {upper bound: cumulative count}; None when it is empty."""
    bounds = sorted(cumulative)
    total = cumulative[bounds[-1]] if bounds else 0.0
    if total <= 0:
        return None
    rank, lower, below = q * total, 0.0, 0.0
    for le in bounds:
        count = cumulative[le]
        if count >= rank:
            if le == float("inf"):
                return lower  # beyond the last finite bucket: its bound is all that is known
            return lower + (le - lower) * (rank - below) / max(count - below, 1e-12)
        lower, below = le, count
    return lower


def _ttft_buckets() -> dict[float, float]:
    """Cumulative bucket counts of the TTFT histogram, summed over its methods."""
    buckets: dict[float, float] = {}
    for family in metrics.TIME_TO_FIRST_TOKEN.collect():
        for sample in family.samples:
            if sample.name.endswith("_bucket"):
                le = float(sample.labels["le"])
                buckets[le] = buckets.get(le, 0.0) + sample.value
    return buckets
