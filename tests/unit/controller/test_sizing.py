from cluster.config import parse_config
from cluster.controller.plan import plan_from_config
from cluster.controller.sizing import Sizing
from cluster.types import GatewayReport


def sizing(raw: dict) -> Sizing:
    return Sizing(plan_from_config(parse_config(raw), "/m"))


def test_a_fixed_count_is_held_and_changes_only_with_the_plan():
    fixed = sizing({"replicas": 3})
    assert fixed.step(0.0, [], 3) is None
    assert fixed.step(0.0, [], 1) == (3, "fixed count 3", 0.0)
    assert fixed.bounded(7) == 3 and not fixed.cold_start


def test_autoscaling_decides_each_period_within_the_bounds_and_may_cold_start():
    auto = sizing({"replicas": 0, "autoscaling": {"policy": "queue-depth", "min_replicas": 0, "max_replicas": 2,
                                                  "period_s": 5, "params": {"target": 1}}})
    assert auto.cold_start and auto.bounded(9) == 2
    auto.report(GatewayReport("g", queue_depth=3, ttft_p90_s=None), now=100.0)
    desired, reason, at = auto.step(100.0, [], 0)
    assert desired == 1 and at == 100.0 and "cold start (3 queued)" in reason
    assert auto.step(102.0, [], 1) is None  # within the period
    auto.report(GatewayReport("g", queue_depth=0, ttft_p90_s=None), now=90.0)  # stale: ignored after 10 s
