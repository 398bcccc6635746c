"""What the controller must remember across its own restarts, kept in Ray's internal KV store.

The replicas themselves are detached named actors and say what they are (`ReplicaActor.info`);
the store holds what only the controller knows: the plan it runs, the desired count, each slot's
restart budget, the autoscaler's cool-down clock, and which slot and template each replica it
created belongs to (written before the actor is created, so a replica still waiting for a node
when the controller dies is adopted too).
"""

import asyncio
import logging
import pickle
from dataclasses import dataclass, field

from ray.experimental import internal_kv

from cluster.controller.plan import ClusterPlan
from cluster.controller.reconcile import SlotStatus

log = logging.getLogger(__name__)

KEY = b"controller/state"
NAMESPACE = b"oss-cluster"


@dataclass
class ControllerState:
    plan: ClusterPlan
    desired: int
    slots: dict[int, SlotStatus] = field(default_factory=dict)
    replicas: dict[str, tuple[int, str]] = field(default_factory=dict)  # replica id → (slot, template)
    autoscaler: dict = field(default_factory=dict)  # `Autoscaler.state()`
    last_decision: tuple[int, str, float] | None = None  # desired, reason, wall-clock time


async def load() -> ControllerState | None:
    raw = await asyncio.to_thread(internal_kv._internal_kv_get, KEY, namespace=NAMESPACE)
    if not raw:
        return None
    try:
        return pickle.loads(raw)
    except Exception as exc:  # written by another release of the project: start afresh, adopt by name
        log.warning("ignoring the stored controller state (%s)", exc)
        return None


async def save(state: ControllerState) -> None:
    await asyncio.to_thread(internal_kv._internal_kv_put, KEY, pickle.dumps(state), True, namespace=NAMESPACE)


async def clear() -> None:
    await asyncio.to_thread(internal_kv._internal_kv_del, KEY, namespace=NAMESPACE)
