"""The autoscaling-policy seam: what the controller observes, what a policy decides, and the common bounds.

Each controller period the caller collects an `Observation`, keeps the last `window_s` seconds of them
and calls `Autoscaler.step`. The policy (registered by name, one file each in
`cluster.controller.policies`) turns the window into the replica count it wants; the `Autoscaler` then
applies what every policy shares: cold start, cool-downs, scale-down stabilization, `max_step` and the
min/max bounds. Nothing here reads a clock or calls Ray, so every rule is tested on synthetic windows.
"""

import importlib
import inspect
import math
import pkgutil
from collections.abc import Sequence
from dataclasses import dataclass

from cluster.config import AutoscalingConfig, ConfigError


@dataclass(frozen=True)
class ReplicaSample:
    """One ready replica at one instant, from its load snapshot."""

    running: int
    waiting: int
    kv_cache_usage: float  # 0..1


@dataclass(frozen=True)
class Observation:
    """What the controller saw at one instant."""

    at: float  # monotonic seconds
    replicas: tuple[ReplicaSample, ...]  # the READY replicas only
    queue_depth: int  # requests waiting in the gateways' admission queues (sum over gateways)
    ttft_p90_s: float | None  # gateways' recent time-to-first-token p90; None: no first token recently


Window = Sequence[Observation]  # oldest first; the last `window_s` seconds


class AutoscalingPolicy:
    """Turns a window of observations into a replica count; built by name with its parameters."""

    def decide(self, window: Window, current: int, config: AutoscalingConfig) -> int:
        """Called once per controller period with a non-empty window; returns the replica count this
        policy wants, before bounds, steps and cool-downs (the Autoscaler applies those). Pure.

        `current` is the count the controller holds, replicas still starting included; the window only
        shows ready ones, so policies divide total load by `current` and do not count a start twice."""
        raise NotImplementedError

    def explain(self) -> str:
        """The figure behind the last decision, e.g. "2.4 requests per replica (target 1)"; may be empty."""
        return ""


class AutoscalingError(ValueError):
    """An autoscaling policy or one of its parameters is not valid; the message names it."""


_REGISTRY: dict[str, type[AutoscalingPolicy]] = {}


def register(name: str):
    """Class decorator: makes the class buildable as autoscaling `policy: name`, with `params` as keywords."""

    def add(cls):
        if name in _REGISTRY:
            raise AutoscalingError(f"autoscaling policy {name!r} is registered twice")
        _REGISTRY[name] = cls
        return cls

    return add


def registered() -> list[str]:
    return sorted(_REGISTRY)


def build(name: str, params: dict[str, float]) -> AutoscalingPolicy:
    """The named policy constructed with `params`; AutoscalingError naming an unknown policy or parameter
    (call `load_policies()` first)."""
    cls = _REGISTRY.get(name)
    if cls is None:
        raise AutoscalingError(f"{name!r} is not an autoscaling policy; registered: {', '.join(registered())}")
    accepted = sorted(p.name for p in inspect.signature(cls.__init__).parameters.values()
                      if p.name != "self" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY))
    for key in sorted(params):
        if key not in accepted:
            raise AutoscalingError(f"{name}: unknown parameter {key!r}; allowed: {', '.join(accepted) or 'none'}")
    return cls(**params)


def check(config: AutoscalingConfig) -> None:
    """Raises ConfigError naming an unknown policy or parameter of the `autoscaling:` section."""
    if config.policy:
        load_policies()
        try:
            build(config.policy, config.params)
        except AutoscalingError as exc:
            raise ConfigError(f"autoscaling.policy: {exc}") from None


def load_policies() -> None:
    """Imports the built-in policy modules, which register themselves."""
    from cluster.controller import policies

    for module in pkgutil.iter_modules(policies.__path__):
        importlib.import_module(f"{policies.__name__}.{module.name}")


def proportional(current: int, per_replica: float, target: float, tolerance: float) -> int:
    """The count that brings `per_replica` to `target`, as Kubernetes' HPA computes it:
    ceil(current × per_replica / target), or `current` while per_replica is within ±tolerance of target.

    With `current` 0 there is no replica to divide by: `per_replica` is then the total load, and the
    answer is ceil(total / target) — at least 1 for any load, 0 for none.
    """
    if current == 0:
        return math.ceil(per_replica / target - 1e-9) if per_replica > 0 else 0
    if abs(per_replica / target - 1) <= tolerance:
        return current
    return max(0, math.ceil(current * per_replica / target - 1e-9))  # 1e-9: 3 × 0.7 / 0.7 is not 4


@dataclass(frozen=True)
class Decision:
    desired: int
    reason: str  # one line: what the policy saw and what held or bounded the count
    at: float


class Autoscaler:
    """The common bounds around one policy. Keeps the times of its own changes; pass `now` in wall-clock
    seconds (time.time()) so that `state()` stored by one controller stays valid for its successor."""

    def __init__(self, config: AutoscalingConfig, policy: AutoscalingPolicy):
        self.config, self.policy = config, policy
        self.last_scale_up_at = -math.inf  # the first decision is free
        self.last_change_at = -math.inf
        self._desires: list[tuple[float, int]] = []  # (time, raw desire) over the scale-down cool-down

    def step(self, now: float, window: Window, current: int) -> Decision:
        """The count to hold from `now`, given the window (non-empty) and the count held until now."""
        c = self.config
        raw = self.policy.decide(window, current, c)
        self._desires = [(t, n) for t, n in self._desires if t > now - c.scale_down_cooldown_s] + [(now, raw)]
        queued = window[-1].queue_depth
        notes = [f"cold start ({queued} queued)"] if current == 0 and queued else []  # must start a replica
        if raw > current or notes:
            desired = self._up(now, current, max(raw, 1) if notes else raw, notes)
        elif raw < current:
            desired = self._down(now, current, raw, notes)
        else:
            desired = current
        bounded = min(max(desired, c.min_replicas), c.max_replicas)  # bounds win over everything above
        if bounded != desired:
            notes.append(f"bounded by {'min' if bounded > desired else 'max'}_replicas {bounded}")
        if bounded != current:
            self.last_change_at = now
            if bounded > current:
                self.last_scale_up_at = now
        figure = self.policy.explain()
        reason = f"{c.policy}: {figure + ' ' if figure else ''}wants {raw}" + "".join(f"; {n}" for n in notes)
        return Decision(bounded, reason, now)

    def _up(self, now: float, current: int, wanted: int, notes: list[str]) -> int:
        wait = self.last_scale_up_at + self.config.scale_up_cooldown_s - now
        if wait > 0 and not notes:  # a cold start skips the cool-down
            notes.append(f"held by scale-up cool-down ({math.ceil(wait)} s left)")
            return current
        if wanted > current + self.config.max_step:
            notes.append(f"limited by max_step {self.config.max_step}")
            return current + self.config.max_step
        return wanted

    def _down(self, now: float, current: int, raw: int, notes: list[str]) -> int:
        # Stabilization: go no lower than the most wanted over the cool-down, so one quiet moment is not enough.
        c, stable = self.config, max(n for _, n in self._desires)
        wait = self.last_change_at + c.scale_down_cooldown_s - now
        if stable >= current:
            notes.append(f"held by stabilization (wanted {stable} in the last {c.scale_down_cooldown_s:g} s)")
            return current
        if wait > 0:
            notes.append(f"held by scale-down cool-down ({math.ceil(wait)} s left)")
            return current
        if stable < current - c.max_step:
            notes.append(f"limited by max_step {c.max_step}")
            return current - c.max_step
        if stable > raw:
            notes.append(f"stabilized at {stable}, the most wanted in the last {c.scale_down_cooldown_s:g} s")
        return stable

    def state(self) -> dict:
        """What a successor needs to resume the cool-downs: JSON-able; never-happened times are None."""
        return {"last_scale_up_at": _finite(self.last_scale_up_at), "last_change_at": _finite(self.last_change_at),
                "recent_desires": [[t, n] for t, n in self._desires]}

    def restore(self, state: dict) -> None:
        """Takes over a predecessor's `state()`; a missing key means that thing never happened."""
        self.last_scale_up_at = _time(state.get("last_scale_up_at"))
        self.last_change_at = _time(state.get("last_change_at"))
        self._desires = [(float(t), int(n)) for t, n in state.get("recent_desires", [])]


def _finite(t: float) -> float | None:
    return None if math.isinf(t) else t


def _time(t: float | None) -> float:
    return -math.inf if t is None else float(t)
