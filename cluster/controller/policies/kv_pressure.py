"""`kv-pressure`: scale on how full the replicas' KV caches are.

Signal: the KV-cache usage (0..1) summed over the ready replicas, averaged over the window and divided
by the replica count — a replica still starting counts as empty, so the figure is the mean usage once
it is ready and a start under way is not asked for twice. `proportional` turns it into a count.
Usage saturates at 1, so while the gateways hold queued requests and usage is above the target, the
policy asks for at least one more replica whatever the ratio says.

Parameter: `target` (default 0.75), the mean usage to hold, above 0 and at most 1.

Use it for long contexts or long generations, where memory rather than request count limits a
replica: a few long conversations can fill a cache that a request count calls light. With no replica
it asks for one as soon as a request is queued.
"""

from statistics import fmean

from cluster.config import AutoscalingConfig
from cluster.controller.autoscale import AutoscalingError, AutoscalingPolicy, Window, proportional, register


@register("kv-pressure")
class KvPressure(AutoscalingPolicy):
    def __init__(self, target: float = 0.75):
        if not 0 < target <= 1:
            raise AutoscalingError(f"kv-pressure: target must be above 0 and at most 1, not {target:g}")
        self.target = target
        self._figure = ""

    def decide(self, window: Window, current: int, config: AutoscalingConfig) -> int:
        queued = window[-1].queue_depth
        if current == 0:
            self._figure = f"no replica, {queued} queued"
            return 1 if queued else 0
        usage = fmean(sum(r.kv_cache_usage for r in o.replicas) for o in window) / current
        self._figure = f"KV cache {usage:.0%} full on average (target {self.target:.0%})"
        desired = proportional(current, usage, self.target, config.tolerance)
        if queued and usage > self.target:
            self._figure += f", {queued} queued"
            desired = max(desired, current + 1)
        return desired

    def explain(self) -> str:
        return self._figure
