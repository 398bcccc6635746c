"""The controller's registry: the replicas it knows, their state and last load, and its tasks for them."""

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
    info: ReplicaInfo  # node and pid are unknown (empty) until the actor is placed
    handle: object  # the Ray actor handle
    state: ReplicaState = ReplicaState.PENDING
    since: float = field(default_factory=time.time)  # wall-clock time it entered `state`
    load: ReplicaLoad = field(default_factory=ReplicaLoad)
    failed_checks: int = 0
    error: str = ""


class Registry:
    def __init__(self):
        self._records: dict[str, Record] = {}
        self._tasks: dict[str, asyncio.Task] = {}

    def add(self, replica_id: str, slot: int, template: str, handle) -> Record:
        info = ReplicaInfo(replica_id=replica_id, slot=slot, template=template, node_id="", pid=0,
                           created_at=time.time(), started=False, draining=False)
        record = self._records[replica_id] = Record(info, handle)
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
