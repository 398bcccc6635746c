"""The controller's registry: the replicas it knows, their state and last load, and its tasks for them.

A replica is one actor, or for an expert-parallel layout a group of rank actors in one placement
group that lives and dies together: its state and load are the group's."""

import asyncio
import logging
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field

from cluster.controller.reconcile import ReplicaState
from cluster.types import ReplicaInfo, ReplicaLoad

log = logging.getLogger(__name__)


@dataclass
class Record:
    info: ReplicaInfo  # rank 0's; node and pid are unknown (empty) until the actor is placed
    handles: tuple  # the Ray actor handles, one per rank
    placement_group: object = None  # an expert-parallel group's, on GPUs
    rank_infos: tuple[ReplicaInfo, ...] = ()  # each rank's, once placed
    state: ReplicaState = ReplicaState.PENDING
    since: float = field(default_factory=time.time)  # wall-clock time it entered `state`
    load: ReplicaLoad = field(default_factory=ReplicaLoad)  # the group's (`group_load`)
    failed_checks: int = 0
    error: str = ""

    @property
    def handle(self):
        """Rank 0's actor: the replica's, when it has one rank."""
        return self.handles[0]


def group_load(loads: list[ReplicaLoad]) -> ReplicaLoad:
    """A group's load from its ranks': counts add up, the fullest KV cache and the longest stall count."""
    if len(loads) == 1:
        return loads[0]
    return ReplicaLoad(
        running=sum(x.running for x in loads), waiting=sum(x.waiting for x in loads),
        kv_cache_usage=max(x.kv_cache_usage for x in loads),
        prefix_cache_queries=sum(x.prefix_cache_queries for x in loads),
        prefix_cache_hits=sum(x.prefix_cache_hits for x in loads), block_size=loads[0].block_size,
        kv_blocks=sum(x.kv_blocks for x in loads), active=sum(x.active for x in loads),
        stalled_s=max(x.stalled_s for x in loads))


class Registry:
    def __init__(self):
        self._records: dict[str, Record] = {}
        self._tasks: dict[str, asyncio.Task] = {}

    def add(self, replica_id: str, slot: int, template: str, handles: list, placement_group=None) -> Record:
        info = ReplicaInfo(replica_id=replica_id, slot=slot, template=template, node_id="", pid=0,
                           created_at=time.time(), started=False, draining=False, ranks=len(handles))
        record = self._records[replica_id] = Record(info, tuple(handles), placement_group)
        return record

    def get(self, replica_id: str) -> Record | None:
        return self._records.get(replica_id)

    def all(self) -> list[Record]:
        return sorted(self._records.values(), key=lambda r: (r.info.slot, r.info.created_at))

    def in_state(self, state: ReplicaState) -> list[Record]:
        return [r for r in self.all() if r.state is state]

    def set_state(self, record: Record, state: ReplicaState, now: float, error: str = "") -> None:
        if record.state is not state:
            record.state, record.since = state, now
        if error:
            record.error = error

    def track(self, key: str, work: Coroutine) -> None:
        """Runs `work` in the background until it ends or `key` is dropped."""
        task = asyncio.get_running_loop().create_task(work)
        self._tasks[key] = task
        task.add_done_callback(lambda t: self._tasks.pop(key, None) if self._tasks.get(key) is t else None)

    def drop(self, replica_id: str) -> Record | None:
        """Forgets the replica and cancels the task bringing it up."""
        task = self._tasks.pop(replica_id, None)
        if task:
            task.cancel()
        return self._records.pop(replica_id, None)

    def drop_all(self) -> list[Record]:
        return [r for rid in list(self._records) if (r := self.drop(rid)) is not None]
