import json

import pytest

from cluster.config import AutoscalingConfig
from cluster.controller import autoscale
from cluster.controller.autoscale import Autoscaler, AutoscalingError, AutoscalingPolicy, build, proportional
from tests.unit.controller.factories import observation


class Wants(AutoscalingPolicy):
    """A policy that wants whatever the test sets."""

    def __init__(self, count: int = 1):
        self.count = count

    def decide(self, window, current, config) -> int:
        return self.count

    def explain(self) -> str:
        return f"scripted {self.count}"


def scaler(count: int = 1, **fields) -> tuple[Autoscaler, Wants]:
    policy = Wants(count)
    config = AutoscalingConfig(**({"policy": "scripted", "min_replicas": 0, "max_replicas": 10} | fields))
    return Autoscaler(config, policy), policy


IDLE = [observation()]
QUEUED = [observation(replicas=0, queue=1)]


def test_proportional_scales_with_the_ratio_and_keeps_the_count_within_the_tolerance_band():
    assert proportional(2, 16, 8, 0.1) == 4
    assert proportional(4, 2, 8, 0.1) == 1
    assert proportional(3, 8.7, 8, 0.1) == 3  # +8.75 %: inside the band
    assert proportional(3, 7.3, 8, 0.1) == 3
    assert proportional(3, 9, 8, 0.1) == 4  # +12.5 %: outside
    assert proportional(3, 0.7, 0.7, 0.0) == 3  # no float rounding up to 4
    assert proportional(2, 0, 8, 0.1) == 0


def test_proportional_from_zero_replicas_takes_the_total_load():
    assert proportional(0, 0, 8, 0.1) == 0
    assert proportional(0, 0.5, 8, 0.1) == 1
    assert proportional(0, 17, 8, 0.1) == 3


def test_registry_knows_the_built_in_policies_and_builds_them_with_their_parameters():
    assert {"queue-depth", "kv-pressure", "ttft-slo"} <= set(autoscale.registered())
    assert build("queue-depth", {"target": 3.0}).target == 3.0
    assert build("ttft-slo", {}).slo_s == 2.0


def test_an_unknown_policy_is_named_with_the_registered_ones():
    with pytest.raises(AutoscalingError,
                       match=r"'queue-lenght' is not an autoscaling policy; registered: .*queue-depth"):
        build("queue-lenght", {})


def test_an_unknown_parameter_is_named_with_the_allowed_ones():
    with pytest.raises(AutoscalingError, match=r"ttft-slo: unknown parameter 'slo'; allowed: low, slo_s"):
        build("ttft-slo", {"slo": 1.0})
    with pytest.raises(AutoscalingError, match="kv-pressure: target must be above 0 and at most 1"):
        build("kv-pressure", {"target": 75.0})


def test_a_name_registered_twice_is_refused():
    with pytest.raises(AutoscalingError, match="'queue-depth' is registered twice"):
        autoscale.register("queue-depth")(Wants)


def test_the_first_decision_is_free_and_later_scale_ups_wait_for_the_cool_down():
    autoscaler, policy = scaler(3, max_step=5)
    assert autoscaler.step(0, IDLE, 1).desired == 3
    policy.count = 6
    held = autoscaler.step(10, IDLE, 3)
    assert held.desired == 3
    assert held.reason == "scripted: scripted 6 wants 6; held by scale-up cool-down (20 s left)"
    assert autoscaler.step(30, IDLE, 3).desired == 6


def test_max_step_limits_each_change():
    autoscaler, policy = scaler(9, max_step=2)
    decision = autoscaler.step(0, IDLE, 1)
    assert (decision.desired, decision.reason) == (3, "scripted: scripted 9 wants 9; limited by max_step 2")
    policy.count = 0
    assert autoscaler.step(200, IDLE, 3).desired == 1


def test_scale_down_goes_only_to_the_most_wanted_over_the_cool_down():
    autoscaler, policy = scaler(4, scale_down_cooldown_s=120, max_step=10)
    autoscaler.step(0, IDLE, 4)  # wants 4: no change, so no cool-down runs
    policy.count = 3
    autoscaler.step(60, IDLE, 4)  # 4 wanted within 120 s
    policy.count = 1
    held = autoscaler.step(100, IDLE, 4)
    assert held.desired == 4 and "held by stabilization (wanted 4 in the last 120 s)" in held.reason
    stabilized = autoscaler.step(125, IDLE, 4)
    assert stabilized.desired == 3 and "stabilized at 3" in stabilized.reason


def test_scale_down_waits_for_the_cool_down_since_the_last_change():
    autoscaler, _ = scaler(0, scale_down_cooldown_s=120)
    started = autoscaler.step(0, QUEUED, 0)  # a cold start changes the count while the policy wants 0
    assert started.desired == 1
    held = autoscaler.step(60, IDLE, 1)
    assert (held.desired, held.reason) == (1, "scripted: scripted 0 wants 0; held by scale-down cool-down (60 s left)")
    assert autoscaler.step(120, IDLE, 1).desired == 0


def test_bounds_win_over_cool_downs_and_say_so():
    autoscaler, _ = scaler(0, min_replicas=2, max_replicas=4)
    autoscaler.restore({"last_scale_up_at": 0, "last_change_at": 0})
    raised = autoscaler.step(1, IDLE, 0)
    assert (raised.desired, raised.reason) == (2, "scripted: scripted 0 wants 0; bounded by min_replicas 2")
    lowered = autoscaler.step(2, IDLE, 7)
    assert lowered.desired == 4 and lowered.reason.endswith("bounded by max_replicas 4")


def test_a_queued_request_starts_a_replica_at_once_from_zero():
    autoscaler, _ = scaler(0, max_step=1)
    autoscaler.restore({"last_scale_up_at": 99, "last_change_at": 99})
    decision = autoscaler.step(100, QUEUED, 0)
    assert decision.desired == 1 and "cold start (1 queued)" in decision.reason
    assert autoscaler.step(101, IDLE, 0).desired == 0  # nothing queued: the cool-down holds nothing here


def test_state_round_trips_through_json_so_a_successor_resumes_the_cool_downs():
    first, _ = scaler(2)
    assert first.state() == {"last_scale_up_at": None, "last_change_at": None, "recent_desires": []}
    first.step(1000, IDLE, 1)
    successor, _ = scaler(5)
    successor.restore(json.loads(json.dumps(first.state())))
    assert successor.step(1010, IDLE, 2).desired == 2  # scale-up cool-down carried over
    assert successor.state()["last_scale_up_at"] == 1000
