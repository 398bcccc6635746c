"""Follows the controller from a role's process: exports its status as metrics, logs its changes."""

import asyncio
import logging

from cluster import metrics
from cluster.controller.reconcile import ReplicaState
from cluster.controller.status import ClusterStatus

log = logging.getLogger(__name__)

PERIOD_S = 2.0
CALL_TIMEOUT_S = 5.0


class ControllerWatch:
    def __init__(self, controller):
        self._controller = controller
        self._task: asyncio.Task | None = None
        self._unreachable = False  # said once per outage
        self._counts: tuple[int, int] | None = None
        self._failing_slots: set[str] = set()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._watch_forever())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _watch_forever(self) -> None:
        while True:
            try:
                self.export(await asyncio.wait_for(self._controller.status.remote(), CALL_TIMEOUT_S))
                if self._unreachable:
                    log.info("controller reachable again")
                    self._unreachable = False
            except Exception as exc:  # restarting controller: keep the last figures, say so once
                if not self._unreachable:
                    log.warning("controller unreachable (%s); it is restarted by Ray and adopts the replicas",
                                type(exc).__name__)
                    self._unreachable = True
            await asyncio.sleep(PERIOD_S)

    def export(self, status: ClusterStatus) -> None:
        metrics.REPLICAS_DESIRED.set(status.desired)
        metrics.CONTROLLER_STEP.set(status.step_s)
        for state in ReplicaState:
            metrics.REPLICAS.labels(state.value).set(status.count(state.value))
        metrics.REPLICA_RESTARTS.set(sum(r.restarts for r in status.replicas))
        failing = {str(s.slot): s.failures for s in status.slots}
        for slot in self._failing_slots - set(failing):
            metrics.REPLICA_START_FAILURES.remove(slot)
        for slot, failures in failing.items():
            metrics.REPLICA_START_FAILURES.labels(slot).set(failures)
        self._failing_slots = set(failing)
        metrics.REPLICA_SLOTS_GIVEN_UP.set(sum(1 for s in status.slots if s.given_up))
        counts = (status.count("ready"), status.desired)
        if counts != self._counts:
            why = f" (autoscaler: {status.decision})" if status.policy and status.decision else ""
            log.info("%d of %d replica(s) ready%s", *counts, why)
            self._counts = counts
