"""The controller: a detached Ray actor that keeps the configured replicas alive and announces the ready ones."""

import asyncio
import dataclasses
import logging
import time
import uuid

import ray
from ray.exceptions import RayActorError

from cluster.controller.reconcile import ReplicaState, ReplicaStatus, decide
from cluster.replica.actor import ReplicaActor
from cluster.replica.placement import ReplicaPlan
from cluster.types import ReplicaInfo

log = logging.getLogger(__name__)

CONTROLLER_NAME = "oss-cluster-controller"
HEALTH_PERIOD_S = 1.0
HEALTH_TIMEOUT_S = 10.0
MAX_FAILED_CHECKS = 3
START_TIMEOUT_S = 900.0  # loading 120B weights from a network volume takes minutes


@ray.remote(num_cpus=0, max_restarts=-1)
class Controller:
    """Owns the replica actors. Observe (health) → decide (`reconcile.decide`) → act (start, kill)."""

    def __init__(self, plan: ReplicaPlan, replicas: int):
        self._plan = plan
        self._desired = replicas
        self._status: dict[str, ReplicaStatus] = {}
        self._handles: dict[str, ray.actor.ActorHandle] = {}
        self._starts: dict[str, asyncio.Task] = {}
        self._loop: asyncio.Task | None = None
        self._stopping = False

    async def run(self) -> None:
        """Starts the reconcile loop (idempotent); returns at once."""
        if self._loop is None:
            self._loop = asyncio.get_running_loop().create_task(self._reconcile_forever())

    async def ready_replicas(self) -> list[tuple[ReplicaInfo, ray.actor.ActorHandle]]:
        """The replicas to route to. Also (re)starts the loop, so a restarted controller resumes."""
        await self.run()
        return [(ReplicaInfo(rid, f"replica-{rid}"), self._handles[rid])
                for rid, s in self._status.items() if s.state is ReplicaState.READY]

    async def status(self) -> list[dict]:
        return [dataclasses.asdict(s) for s in self._status.values()]

    async def report_failure(self, replica_id: str) -> None:
        """The gateway saw the replica fail a call; check it now instead of at the next period."""
        if replica_id in self._status:
            await self._check(replica_id)

    async def shutdown(self) -> None:
        """Stops every replica; the caller kills the controller afterwards."""
        self._stopping = True
        if self._loop:
            self._loop.cancel()
        for task in self._starts.values():
            task.cancel()
        await asyncio.gather(*(self._remove(rid) for rid in list(self._handles)), return_exceptions=True)

    async def _reconcile_forever(self) -> None:
        while not self._stopping:
            try:
                await asyncio.gather(*(self._check(rid) for rid, s in list(self._status.items())
                                       if s.state is ReplicaState.READY))
                actions = decide(self._desired, list(self._status.values()), MAX_FAILED_CHECKS)
                for rid in actions.remove_ids:
                    await self._remove(rid)
                for slot in actions.start_slots:
                    self._start(slot)
            except Exception:  # the loop must outlive any single failure
                log.exception("reconcile step failed")
            await asyncio.sleep(HEALTH_PERIOD_S)

    async def _check(self, rid: str) -> None:
        status = self._status.get(rid)
        if status is None or status.state is not ReplicaState.READY:
            return
        try:
            await asyncio.wait_for(self._handles[rid].health.remote(), HEALTH_TIMEOUT_S)
            failed, state = 0, ReplicaState.READY
        except RayActorError:
            log.warning("replica %s died; replacing it", rid)
            failed, state = status.failed_checks, ReplicaState.DEAD
        except Exception as exc:
            log.warning("replica %s failed a health check: %s", rid, exc)
            failed, state = status.failed_checks + 1, ReplicaState.READY
        if rid in self._status:
            self._status[rid] = dataclasses.replace(status, state=state, failed_checks=failed)

    def _start(self, slot: int) -> None:
        rid = uuid.uuid4().hex[:8]
        handle = ReplicaActor.options(name=f"replica-{rid}", **self._plan.actor_options(slot)).remote(
            rid, self._plan.settings)
        self._handles[rid] = handle
        self._status[rid] = ReplicaStatus(rid, slot, ReplicaState.STARTING)
        self._starts[rid] = asyncio.get_running_loop().create_task(self._await_start(rid, handle))
        log.info("starting replica %s in slot %d", rid, slot)

    async def _await_start(self, rid: str, handle) -> None:
        began = time.monotonic()
        try:
            await asyncio.wait_for(handle.start.remote(), START_TIMEOUT_S)
            self._status[rid] = dataclasses.replace(self._status[rid], state=ReplicaState.READY)
            log.info("replica %s ready after %.1f s", rid, time.monotonic() - began)
        except Exception as exc:
            log.error("replica %s failed to start: %s", rid, exc)
            if rid in self._status:
                self._status[rid] = dataclasses.replace(self._status[rid], state=ReplicaState.DEAD)
        finally:
            self._starts.pop(rid, None)

    async def _remove(self, rid: str) -> None:
        handle = self._handles.pop(rid, None)
        self._status.pop(rid, None)
        task = self._starts.pop(rid, None)
        if task:
            task.cancel()
        if handle is None:
            return
        try:
            await asyncio.wait_for(handle.stop.remote(), 30)
        except Exception:
            pass  # dead or stuck: killing it below is all that is left
        ray.kill(handle, no_restart=True)
