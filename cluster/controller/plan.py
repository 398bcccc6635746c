"""The cluster plan: what the controller keeps running, and how two plans differ.

A plan is the part of cluster.yaml that the controller acts on: what a replica is (model, layout,
engine), how many there are (replicas, autoscaling) and how they are kept (lifecycle). Gateway
settings are not in it: gateways may differ in ports and timeouts. A gateway or controller started
with a plan other than the running one is refused, naming the differing fields, unless it applies
the new plan.
"""

import dataclasses
import hashlib
import json
from dataclasses import dataclass

from cluster.config import AutoscalingConfig, ClusterConfig, LifecycleConfig
from cluster.controller import autoscale
from cluster.replica.placement import ReplicaPlan, plan_replicas


@dataclass(frozen=True)
class ClusterPlan:
    replica: ReplicaPlan
    replicas: int  # the count to start with; the autoscaler moves it within its bounds
    autoscaling: AutoscalingConfig
    lifecycle: LifecycleConfig

    def fields(self) -> dict[str, object]:
        """Every setting as {dotted name: value}, the way the messages name them."""
        return _flatten(dataclasses.asdict(self), "")

    def digest(self) -> str:
        return _digest(self.fields())

    def template(self) -> str:
        """The hash of what one replica is; replicas started from another template are rolled."""
        return _digest(_flatten(dataclasses.asdict(self.replica), "replica"))


def plan_from_config(config: ClusterConfig, model_path: str) -> ClusterPlan:
    """Raises ConfigError for an autoscaling policy or parameter that does not exist."""
    autoscale.check(config.autoscaling)
    return ClusterPlan(replica=plan_replicas(config, model_path), replicas=config.replicas,
                       autoscaling=config.autoscaling, lifecycle=config.lifecycle)


def differing_fields(running: dict[str, object], wanted: dict[str, object]) -> list[str]:
    """The dotted names whose values differ, each as 'name: running → wanted'."""
    names = sorted(set(running) | set(wanted))
    return [f"{name}: {running.get(name)!r} → {wanted.get(name)!r}" for name in names
            if running.get(name) != wanted.get(name)]


def _flatten(value: dict, prefix: str) -> dict[str, object]:
    flat: dict[str, object] = {}
    for key, item in value.items():
        name = f"{prefix}.{key}" if prefix else key
        if isinstance(item, dict) and item and all(isinstance(k, str) for k in item) and key != "params":
            flat.update(_flatten(item, name))
        else:
            flat[name] = item
    return flat


def _digest(fields: dict[str, object]) -> str:
    return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()[:16]
