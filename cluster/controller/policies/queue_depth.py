"""`queue-depth`: scale on the requests the cluster holds per replica.

Signal: at each instant, every request running or waiting in an engine plus every request waiting in
the gateways' admission queues, averaged over the window and divided by the replica count (replicas
still starting count, so a start under way is not asked for twice). `proportional` turns it into a
count, keeping the current one within ±`tolerance` of the target.

Parameter: `target` (default 8.0), the requests per replica to hold. Set it near the concurrency at
which a replica still meets its latency goals (a fraction of `max_num_seqs`).

Use it by default: it sees work before latency suffers, needs only request counts, and scales from
zero (with no replica, the queued requests alone ask for ceil(queued / target)).
"""

from statistics import fmean

from cluster.config import AutoscalingConfig
from cluster.controller.autoscale import AutoscalingError, AutoscalingPolicy, Window, proportional, register


@register("queue-depth")
class QueueDepth(AutoscalingPolicy):
    def __init__(self, target: float = 8.0):
        if not target > 0:
            raise AutoscalingError(f"queue-depth: target must be above 0, not {target:g}")
        self.target = target
        self._figure = ""

    def decide(self, window: Window, current: int, config: AutoscalingConfig) -> int:
        total = fmean(sum(r.running + r.waiting for r in o.replicas) + o.queue_depth for o in window)
        if current == 0:
            self._figure = f"{total:.1f} requests with no replica (target {self.target:g} per replica)"
            return proportional(0, total, self.target, config.tolerance)
        per_replica = total / current
        self._figure = f"{per_replica:.1f} requests per replica (target {self.target:g})"
        return proportional(current, per_replica, self.target, config.tolerance)

    def explain(self) -> str:
        return self._figure
