"""The controller's decision: given the replicas and slots it knows, what to start, drain and remove. Pure."""

from dataclasses import dataclass
from enum import Enum


class ReplicaState(str, Enum):
    PENDING = "pending"  # created, waiting for a node with the resources it asks for
    STARTING = "starting"  # placed on a node, loading the model
    READY = "ready"  # routed to
    DRAINING = "draining"  # being removed: no new requests, its streams finish
    STUCK = "stuck"  # had work and produced no token for lifecycle.stuck_after_s: out of routing
    DEAD = "dead"  # its actor is gone or it failed to start


LIVE = (ReplicaState.PENDING, ReplicaState.STARTING, ReplicaState.READY)


@dataclass(frozen=True)
class ReplicaStatus:
    replica_id: str
    slot: int
    state: ReplicaState
    template: str  # the hash of the replica plan it runs
    failed_checks: int = 0


@dataclass(frozen=True)
class SlotStatus:
    """What the controller remembers of one slot across replicas (and its own restarts)."""

    failures: int = 0  # failed starts in a row
    retry_at: float = 0.0  # wall-clock seconds; no start before
    given_up: str = ""  # why the controller stopped starting replicas here; empty while it tries
    starts: int = 0  # replicas started in this slot; all but the first are restarts


@dataclass(frozen=True)
class Actions:
    start_slots: tuple[int, ...] = ()
    drain_ids: tuple[str, ...] = ()
    remove_ids: tuple[str, ...] = ()  # stop and kill now


def decide(desired: int, replicas: list[ReplicaStatus], slots: dict[int, SlotStatus], template: str,
           now: float, max_failed_checks: int) -> Actions:
    """Drops dead, stuck and failing replicas; fills every empty slot that may start; drains surplus
    replicas; rolls replicas of an older template one slot at a time (start the new one beside the
    old, drain the old once the new is ready).

    Slots number the replicas 0..desired-1 so that a replacement takes its predecessor's place
    (on CPU machines the slot picks the cores it is bound to).
    """
    remove = [r for r in replicas if r.state in (ReplicaState.DEAD, ReplicaState.STUCK)
              or r.failed_checks >= max_failed_checks]
    removed = {r.replica_id for r in remove}
    live = [r for r in replicas if r.replica_id not in removed and r.state in LIVE]
    drain: list[ReplicaStatus] = []
    for r in live:
        if r.slot >= desired:
            (drain if r.state is ReplicaState.READY else remove).append(r)
        elif r.template != template and r.state is not ReplicaState.READY:
            remove.append(r)  # not serving yet: nothing to hand over, start the new one instead
    gone = {r.replica_id for r in remove + drain}
    live = [r for r in live if r.replica_id not in gone]
    start: list[int] = []
    rolling = any(_rolling(live, slot, template) for slot in range(desired))
    for slot in range(desired):
        mine = [r for r in live if r.slot == slot]
        current = [r for r in mine if r.template == template]
        old = [r for r in mine if r.template != template]
        if current and old:
            if any(r.state is ReplicaState.READY for r in current):
                drain.extend(old)
            continue
        if current or (old and rolling):
            continue
        status = slots.get(slot, SlotStatus())
        if not status.given_up and now >= status.retry_at:
            start.append(slot)
            rolling = rolling or bool(old)
    return Actions(start_slots=tuple(start), drain_ids=tuple(r.replica_id for r in drain),
                   remove_ids=tuple(r.replica_id for r in remove))


def _rolling(live: list[ReplicaStatus], slot: int, template: str) -> bool:
    """A slot mid-rollout has a replica of the old template and one of the new."""
    templates = {r.template for r in live if r.slot == slot}
    return template in templates and len(templates) > 1
