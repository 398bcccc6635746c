"""What every built-in policy must do under the Autoscaler's common rules, each fed the load it reacts to."""

from dataclasses import dataclass

import pytest

from tests.unit.controller.factories import Load, autoscaler, changes, counts, observation, simulate, spread


@dataclass(frozen=True)
class Case:
    policy: str
    overloaded: object  # current count → an observation that asks for more replicas
    light: Load  # far below the policy's target
    heavy: Load  # far above it
    traffic: Load  # enough to keep one replica
    cold_start_reason: str
    idle_reason: str = ""  # what the decision that scales to zero says, where the policy says something


CASES = [
    Case("queue-depth", lambda current: observation(replicas=1, running=20),
         lambda now, current: spread(now, current, 0), lambda now, current: spread(now, current, 500),
         lambda now, current: spread(now, current, 4),
         "queue-depth: 1.0 requests with no replica (target 8 per replica) wants 1; cold start (1 queued)"),
    Case("kv-pressure", lambda current: observation(replicas=current, kv=1.0, queue=2),
         lambda now, current: spread(now, current, kv_total=0.0),
         lambda now, current: spread(now, current, kv_total=10.0),
         lambda now, current: spread(now, current, kv_total=0.5),
         "kv-pressure: no replica, 1 queued wants 1; cold start (1 queued)"),
    Case("ttft-slo", lambda current: observation(replicas=1, running=4, ttft=3.0),
         lambda now, current: spread(now, current, work=2 * current, ttft=0.1),
         lambda now, current: spread(now, current, work=2 * current, ttft=20.0),
         lambda now, current: spread(now, current, work=1, ttft=0.3),
         "ttft-slo: no replica, 1 queued wants 1; cold start (1 queued)",
         "no first token in the window, replicas idle"),
]
by_policy = pytest.mark.parametrize("case", CASES, ids=[c.policy for c in CASES])


@by_policy
def test_the_scale_up_cool_down_holds_then_lets_the_next_step_through(case):
    scaler = autoscaler(case.policy)
    assert scaler.step(0, [case.overloaded(1)], 1).desired == 2
    held = scaler.step(5, [case.overloaded(2)], 2)
    assert held.desired == 2 and held.reason.endswith("held by scale-up cool-down (25 s left)")
    assert scaler.step(30, [case.overloaded(2)], 2).desired == 3


@by_policy
def test_the_count_stays_within_min_and_max_replicas(case):
    scaler = autoscaler(case.policy, min_replicas=2, max_replicas=3)
    assert counts(simulate(scaler, case.light, seconds=300, current=2)) == [2] * 60
    assert max(counts(simulate(scaler, case.heavy, seconds=300, current=2))) == 3


@by_policy
def test_a_queued_request_starts_the_first_replica_at_once(case):
    scaler = autoscaler(case.policy)
    scaler.restore({"last_scale_up_at": 0.0, "last_change_at": 0.0})
    decision = scaler.step(1, [observation(replicas=0, queue=1)], 0)
    assert decision.desired == 1
    assert decision.reason == case.cold_start_reason


@by_policy
def test_idle_replicas_go_to_zero_after_the_scale_down_cool_down(case):
    scaler = autoscaler(case.policy)

    def traffic_then_idle(now, current):
        return case.traffic(now, current) if now < 60 else spread(now, current)

    decisions = simulate(scaler, traffic_then_idle, seconds=400)
    [(at, before, after)] = changes(decisions)
    assert (before, after) == (1, 0) and at >= 60 + scaler.config.scale_down_cooldown_s
    assert case.idle_reason in decisions[int(at / 5)].reason
