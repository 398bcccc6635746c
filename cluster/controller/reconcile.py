"""The controller's decision: given the replicas it knows, which to start and which to drop. Pure."""

from dataclasses import dataclass
from enum import Enum


class ReplicaState(str, Enum):
    STARTING = "starting"
    READY = "ready"
    DEAD = "dead"


@dataclass(frozen=True)
class ReplicaStatus:
    replica_id: str
    slot: int
    state: ReplicaState
    failed_checks: int = 0


@dataclass(frozen=True)
class Actions:
    start_slots: tuple[int, ...] = ()
    remove_ids: tuple[str, ...] = ()


def decide(desired: int, replicas: list[ReplicaStatus], max_failed_checks: int) -> Actions:
    """Drops dead replicas and ones that failed too many health checks; fills every empty slot.

    Slots number the replicas 0..desired-1 so that a replacement takes its predecessor's place
    (on CPU machines the slot picks the cores it is bound to).
    """
    remove = [r for r in replicas if r.state is ReplicaState.DEAD or r.failed_checks >= max_failed_checks]
    removed = {r.replica_id for r in remove}
    kept = [r for r in replicas if r.replica_id not in removed]
    taken = {r.slot for r in kept}
    surplus = sorted((r for r in kept if r.slot >= desired), key=lambda r: r.slot)
    start = tuple(slot for slot in range(desired) if slot not in taken)
    return Actions(start_slots=start, remove_ids=tuple(r.replica_id for r in remove + surplus))
