"""How many replicas the plan wants now: a fixed count, or the autoscaler over a window of observations.

Observations are taken every control period: each ready replica's running, waiting and KV-cache
usage (from the controller's probes) and the gateways' latest reports (queue depth, TTFT p90;
a gateway that has not reported for `REPORT_TTL_S` no longer counts).
"""

import time
from collections import deque

from cluster.controller.autoscale import Autoscaler, Observation, ReplicaSample, build, load_policies
from cluster.controller.plan import ClusterPlan
from cluster.types import GatewayReport

REPORT_TTL_S = 10.0


class Sizing:
    def __init__(self, plan: ClusterPlan, state: dict | None = None):
        self._plan = plan
        auto = plan.autoscaling
        self._autoscaler = None
        if auto.policy:
            load_policies()
            self._autoscaler = Autoscaler(auto, build(auto.policy, auto.params))
            # A new plan counts as a change: the count it starts with holds for a cool-down.
            self._autoscaler.restore(state or {"last_change_at": time.time()})
        self._window: deque[Observation] = deque()
        self._reports: dict[str, tuple[GatewayReport, float]] = {}
        self._decided_at = float("-inf")

    @property
    def cold_start(self) -> bool:
        """Whether gateways should hold requests while no replica is ready (the cluster scales from zero)."""
        return self._autoscaler is not None and self._plan.autoscaling.min_replicas == 0

    def bounded(self, desired: int) -> int:
        """A desired count that respects the plan: its fixed count, or the autoscaler's bounds."""
        auto = self._plan.autoscaling
        if self._autoscaler is None:
            return self._plan.replicas
        return min(max(desired, auto.min_replicas), auto.max_replicas)

    def report(self, report: GatewayReport, now: float) -> None:
        self._reports[report.gateway_id] = (report, now)

    def step(self, now: float, ready: list, desired: int) -> tuple[int, str, float] | None:
        """Observes; every `autoscaling.period_s` decides. Returns (desired, reason, time) when the
        decision is due or the count must change, None otherwise."""
        if self._autoscaler is None:
            fixed = self._plan.replicas
            return None if fixed == desired else (fixed, f"fixed count {fixed}", now)
        auto = self._plan.autoscaling
        self._observe(now, ready)
        if now - self._decided_at < auto.period_s:
            return None
        self._decided_at = now
        decision = self._autoscaler.step(now, tuple(self._window), desired)
        return decision.desired, decision.reason, now

    def state(self) -> dict:
        return self._autoscaler.state() if self._autoscaler else {}

    def _observe(self, now: float, ready: list) -> None:
        fresh = [r for r, at in self._reports.values() if now - at <= REPORT_TTL_S]
        ttfts = [r.ttft_p90_s for r in fresh if r.ttft_p90_s is not None]
        self._window.append(Observation(
            at=now, replicas=tuple(ReplicaSample(r.load.running, r.load.waiting, r.load.kv_cache_usage)
                                   for r in ready),
            queue_depth=sum(r.queue_depth for r in fresh), ttft_p90_s=max(ttfts) if ttfts else None))
        while self._window and self._window[0].at < now - self._plan.autoscaling.window_s:
            self._window.popleft()
