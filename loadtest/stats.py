"""Per-request results and their statistics: percentiles, throughput, goodput under SLOs, errors."""

import math
from collections import Counter
from dataclasses import dataclass


@dataclass(frozen=True)
class RequestResult:
    """One request as the client saw it; times in seconds from the run's start or as durations."""

    index: int
    started_s: float
    ttft_s: float | None  # None when no token arrived
    inter_token_s: tuple[float, ...]
    e2e_s: float
    output_tokens: int  # as the server counted them (usage); a model that ends its answer stops short of max_tokens
    error: str | None = None  # a status code name (gRPC) or number (HTTP); None on success
    finish_reason: str | None = None  # stop, length, tool_calls, invalid_output...; None if no finish arrived

    @property
    def mean_inter_token_s(self) -> float | None:
        return sum(self.inter_token_s) / len(self.inter_token_s) if self.inter_token_s else None


@dataclass(frozen=True)
class Slo:
    ttft_s: float = 1.0
    mean_inter_token_s: float = 0.050

    def met_by(self, r: RequestResult) -> bool:
        itl = r.mean_inter_token_s
        return (r.error is None and r.ttft_s is not None and r.ttft_s <= self.ttft_s
                and (itl is None or itl <= self.mean_inter_token_s))


def percentile(values: list[float], q: float) -> float | None:
    """The q-th percentile (0-100) with linear interpolation between closest ranks, as numpy's default."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def distribution(values: list[float]) -> dict:
    return {"p50": percentile(values, 50), "p90": percentile(values, 90), "p99": percentile(values, 99),
            "mean": sum(values) / len(values) if values else None, "count": len(values)}


def summarize(results: list[RequestResult], wall_s: float, slo: Slo) -> dict:
    """The figures of a run; latencies over successful requests, rates over the run's wall time."""
    ok = [r for r in results if r.error is None]
    errors = Counter(r.error for r in results if r.error is not None)
    finishes = Counter(r.finish_reason for r in ok if r.finish_reason is not None)
    return {
        "requests": len(results), "succeeded": len(ok), "wall_s": wall_s,
        "error_rate": (len(results) - len(ok)) / len(results) if results else 0.0,
        "errors_by_code": dict(sorted(errors.items())),
        "requests_per_s": len(ok) / wall_s if wall_s > 0 else 0.0,
        "output_tokens_per_s": sum(r.output_tokens for r in ok) / wall_s if wall_s > 0 else 0.0,
        "goodput_requests_per_s": sum(slo.met_by(r) for r in results) / wall_s if wall_s > 0 else 0.0,
        "slo_attainment": sum(slo.met_by(r) for r in results) / len(results) if results else 0.0,
        "slo": {"ttft_s": slo.ttft_s, "mean_inter_token_s": slo.mean_inter_token_s},
        "ttft_s": distribution([r.ttft_s for r in ok if r.ttft_s is not None]),
        "inter_token_s": distribution([t for r in ok for t in r.inter_token_s]),
        "e2e_s": distribution([r.e2e_s for r in ok]),
        "output_tokens": distribution([float(r.output_tokens) for r in ok]),
        "finish_reasons": dict(sorted(finishes.items())),
    }
