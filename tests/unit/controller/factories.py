"""Small factories for autoscaling tests: observations as plain data, and a simulated control loop."""

from collections.abc import Callable

from cluster.config import AutoscalingConfig
from cluster.controller.autoscale import Autoscaler, Decision, Observation, ReplicaSample, build, load_policies

load_policies()

PERIOD_S = 5.0


def config(policy: str, **fields) -> AutoscalingConfig:
    """A config for `policy` with room to move: 0..10 replicas unless the test says otherwise."""
    return AutoscalingConfig(**({"policy": policy, "min_replicas": 0, "max_replicas": 10} | fields))


def autoscaler(policy: str, params: dict[str, float] | None = None, **fields) -> Autoscaler:
    return Autoscaler(config(policy, **fields), build(policy, params or {}))


def observation(at: float = 0.0, replicas: int = 1, running: int = 0, waiting: int = 0, kv: float = 0.0,
                queue: int = 0, ttft: float | None = None) -> Observation:
    """`replicas` ready replicas that each hold `running`, `waiting` and `kv`."""
    return Observation(at, tuple(ReplicaSample(running, waiting, kv) for _ in range(replicas)), queue, ttft)


def spread(at: float, replicas: int, work: float = 0, kv_total: float = 0.0, queue: int = 0,
           ttft: float | None = None) -> Observation:
    """`work` running requests and `kv_total` of KV usage shared evenly by `replicas` ready replicas."""
    if replicas == 0:
        return Observation(at, (), queue + round(work), ttft)
    share = ReplicaSample(round(work / replicas), 0, min(1.0, kv_total / replicas))
    return Observation(at, (share,) * replicas, queue, ttft)


Load = Callable[[float, int], Observation]  # (time, current count) → what the controller sees


def simulate(scaler: Autoscaler, load: Load, seconds: float, current: int = 1) -> list[Decision]:
    """Runs the control loop every PERIOD_S for `seconds`, keeping the last `window_s` of observations
    and feeding each decision back as the count held (replicas are taken as ready at once)."""
    decisions, seen = [], []
    for tick in range(int(seconds / PERIOD_S)):
        now = tick * PERIOD_S
        seen = [o for o in seen if o.at > now - scaler.config.window_s] + [load(now, current)]
        decision = scaler.step(now, seen, current)
        decisions.append(decision)
        current = decision.desired
    return decisions


def changes(decisions: list[Decision], start: int = 1) -> list[tuple[float, int, int]]:
    """(time, from, to) for every decision that changed the count."""
    out, current = [], start
    for d in decisions:
        if d.desired != current:
            out.append((d.at, current, d.desired))
            current = d.desired
    return out


def counts(decisions: list[Decision]) -> list[int]:
    return [d.desired for d in decisions]


def unpaced(decisions: list[Decision], config: AutoscalingConfig, start: int = 1) -> list[str]:
    """Every change that broke max_step or a cool-down (an empty list when the loop behaved)."""
    found, last_up, last_change = [], -float("inf"), -float("inf")
    for at, before, after in changes(decisions, start):
        if abs(after - before) > config.max_step:
            found.append(f"{before} → {after} at {at:g} s exceeds max_step")
        if after > before and at - last_up < config.scale_up_cooldown_s:
            found.append(f"scale-up at {at:g} s only {at - last_up:g} s after the last one")
        if after < before and at - last_change < config.scale_down_cooldown_s:
            found.append(f"scale-down at {at:g} s only {at - last_change:g} s after the last change")
        last_change, last_up = at, at if after > before else last_up
    return found
