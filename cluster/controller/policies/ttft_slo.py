"""`ttft-slo`: scale to keep time to first token under an objective.

Signal: the median over the window of the gateways' TTFT p90 (instants with no first token are
skipped). Above `slo_s` the policy asks for ceil(current × p90 / slo_s) replicas, at least one more;
below `slo_s × low`, with nothing queued in the gateways during the window, one fewer; in between it
keeps the count. With no first token in the window it removes one only if the replicas were idle the
whole window (nothing running, waiting or queued); the last replica goes only then, never while it
serves light traffic quickly.

Parameters: `slo_s` (default 2.0), the p90 TTFT objective in seconds; `low` (default 0.5), the
fraction of it under which the cluster counts as over-provisioned.

Use it when the objective is latency itself and load per replica is hard to set a target for (mixed
prompt lengths, prefix-cache hits). It reacts after latency degrades, so pair it with headroom in
`min_replicas`. With no replica it asks for one as soon as a request is queued.
"""

import math
from statistics import median

from cluster.config import AutoscalingConfig
from cluster.controller.autoscale import AutoscalingError, AutoscalingPolicy, Window, register


@register("ttft-slo")
class TtftSlo(AutoscalingPolicy):
    def __init__(self, slo_s: float = 2.0, low: float = 0.5):
        if not slo_s > 0:
            raise AutoscalingError(f"ttft-slo: slo_s must be above 0, not {slo_s:g}")
        if not 0 <= low < 1:
            raise AutoscalingError(f"ttft-slo: low must be at least 0 and below 1, not {low:g}")
        self.slo_s, self.low = slo_s, low
        self._figure = ""

    def decide(self, window: Window, current: int, config: AutoscalingConfig) -> int:
        if current == 0:
            self._figure = f"no replica, {window[-1].queue_depth} queued"
            return 1 if window[-1].queue_depth else 0
        calm = all(o.queue_depth == 0 for o in window)
        idle = calm and all(r.running + r.waiting == 0 for o in window for r in o.replicas)
        p90s = [o.ttft_p90_s for o in window if o.ttft_p90_s is not None]
        if not p90s:
            self._figure = "no first token in the window" + (", replicas idle" if idle else "")
            return current - 1 if idle else current
        p90 = median(p90s)
        self._figure = f"TTFT p90 {p90:.2f} s (objective {self.slo_s:g} s)"
        if p90 > self.slo_s:
            return max(current + 1, math.ceil(current * p90 / self.slo_s - 1e-9))
        if p90 < self.slo_s * self.low and calm and (current > 1 or idle):
            return current - 1
        return current

    def explain(self) -> str:
        return self._figure
