"""The controller: a detached Ray actor that keeps the planned replicas running, healthy and sized.

Each period it observes (every replica's load and health, the gateways' reports), decides
(`reconcile.decide`, the autoscaler) and acts (start, drain, remove). Replicas are detached named
actors, so they outlive the controller; what only the controller knows is in Ray's KV store
(`store`). Killed, the controller is restarted by Ray and adopts the replicas it finds by name.
"""

import asyncio
import dataclasses
import logging
import os
import time
import uuid

import ray
from ray.exceptions import RayActorError
from ray.util.placement_group import get_placement_group, placement_group, remove_placement_group
from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

from cluster.controller import backoff, store
from cluster.controller.backoff import failure_reason
from cluster.controller.plan import ClusterPlan, differing_fields
from cluster.controller.reconcile import ReplicaState, ReplicaStatus, SlotStatus, decide
from cluster.controller.registry import Record, Registry, group_load
from cluster.controller.sizing import Sizing
from cluster.controller.status import ClusterStatus, ReplicaView, SlotView
from cluster.replica.actor import ReplicaActor, actor_name, parse_actor_name
from cluster.types import GatewayReport, RoutingView

log = logging.getLogger(__name__)

CONTROLLER_NAME = "oss-cluster-controller"
NAMESPACE = "oss-cluster"
CALL_TIMEOUT_S = 10.0
MAX_FAILED_CHECKS = 3
DRAIN_SETTLE_S = 2.0  # gateways look at the ready set every 0.5 s; after this none still routes to a drainer
GROUP_NAME_PREFIX = "group-"  # the placement group of an expert-parallel replica: group-<replica id>


@ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=0)
class Controller:
    def __init__(self, plan: ClusterPlan):
        self._state = store.ControllerState(plan=plan, desired=plan.replicas)
        self._registry = Registry()
        self._sizing = Sizing(plan)
        self._loop: asyncio.Task | None = None
        self._ready = asyncio.Event()
        self._stopping = False
        self._started_at = time.time()
        self._step_s = 0.0  # how long the last control step took

    async def run(self) -> None:
        """Recovers (or initialises) the state and starts the control loop; idempotent, returns at once."""
        if self._loop is None:
            self._loop = asyncio.get_running_loop().create_task(self._run())
        await self._ready.wait()

    async def plan(self) -> tuple[str, dict]:
        """The running plan's digest and fields, for a gateway or controller role to compare with its own."""
        await self.run()
        return self._state.plan.digest(), self._state.plan.fields()

    async def apply(self, plan: ClusterPlan) -> list[str]:
        """Runs `plan` from now on; replicas of an older template are rolled one at a time.
        Returns the fields that changed. Given-up slots get a fresh budget."""
        await self.run()
        changed = differing_fields(self._state.plan.fields(), plan.fields())
        self._state.plan = plan
        self._state.slots = {k: dataclasses.replace(s, failures=0, retry_at=0.0, given_up="")
                             for k, s in self._state.slots.items()}
        self._sizing = Sizing(plan, self._sizing.state())
        self._state.desired = self._sizing.bounded(self._state.desired)
        await store.save(self._state)
        log.info("applied a new plan: %s", "; ".join(changed) or "no change")
        return changed

    async def routing_view(self, report: GatewayReport | None = None) -> RoutingView:
        """The ready replicas for a gateway; its report feeds the autoscaler."""
        await self.run()
        if report is not None:
            self._sizing.report(report, time.time())
        ready = tuple(pair for r in self._registry.in_state(ReplicaState.READY)
                      for pair in zip(r.rank_infos, r.handles))
        return RoutingView(replicas=ready, cold_start=self._sizing.cold_start, plan=self._state.plan.digest())

    async def report_failure(self, endpoint_id: str) -> None:
        """A gateway saw a replica (or one rank of a group: `<replica id>.<rank>`) fail a call; probe
        it now instead of at the next period."""
        record = self._registry.get(endpoint_id.partition(".")[0])
        if record is not None and record.state is ReplicaState.READY:
            await self._probe(record, time.time())

    async def status(self) -> ClusterStatus:
        await self.run()
        now, s = time.time(), self._state
        template = s.plan.template()  # a digest of the plan: once, not once per replica
        replicas = tuple(ReplicaView(
            replica_id=r.info.replica_id, slot=r.info.slot, node_id=r.info.node_id, pid=r.info.pid,
            state=r.state.value, ranks=len(r.handles), nodes=tuple(i.node_id for i in r.rank_infos),
            running=r.load.running, waiting=r.load.waiting,
            kv_cache_usage=r.load.kv_cache_usage, uptime_s=now - r.info.created_at,
            restarts=max(0, s.slots.get(r.info.slot, SlotStatus()).starts - 1),
            outdated=r.info.template != template, error=r.error) for r in self._registry.all())
        slots = tuple(SlotView(k, v.failures, max(0.0, v.retry_at - now), v.given_up)
                      for k, v in sorted(s.slots.items()) if v.failures)
        _, reason, at = s.last_decision or (s.desired, "", 0.0)
        return ClusterStatus(plan=s.plan.digest(), desired=s.desired, replicas=replicas, slots=slots,
                             policy=s.plan.autoscaling.policy, decision=reason, decided_at=at,
                             controller_pid=os.getpid(), controller_started_at=self._started_at,
                             step_s=self._step_s)

    async def shutdown(self) -> None:
        """Stops every replica and forgets the state; the caller kills the controller afterwards."""
        self._stopping = True
        if self._loop:
            self._loop.cancel()
        await asyncio.gather(*(_stop_actors(r.handles, r.placement_group) for r in self._registry.drop_all()),
                             return_exceptions=True)
        await store.clear()

    async def _run(self) -> None:
        stored = await store.load()
        if stored is not None:
            self._state = stored
            self._sizing = Sizing(stored.plan, stored.autoscaler)
            log.info("controller restarted; adopting the replicas of plan %s", stored.plan.digest())
        await self._adopt()
        self._ready.set()
        while not self._stopping:
            began = time.perf_counter()
            try:
                await self._step(time.time())
            except Exception:  # the loop must outlive any single failure
                log.exception("control step failed")
            self._step_s = time.perf_counter() - began
            await asyncio.sleep(self._state.plan.lifecycle.health_period_s)

    async def _adopt(self) -> None:
        """Rebuilds the registry from the named replica actors alive in the cluster. One the store
        does not know (written by another release) is adopted if it says what it is, else stopped;
        so is a group that lost a rank while the controller was down."""
        known = self._state.replicas
        groups: dict[str, dict[int, object]] = {}
        for name in ray.util.list_named_actors():
            parsed = parse_actor_name(name)
            if parsed is not None:
                groups.setdefault(parsed[0], {})[parsed[1]] = ray.get_actor(name, namespace=NAMESPACE)
        for rid, ranks in groups.items():
            handles = [ranks[k] for k in sorted(ranks)]
            group = self._placement_group(rid)
            if rid not in known:
                try:
                    info = await asyncio.wait_for(handles[0].info.remote(), CALL_TIMEOUT_S)
                except Exception:
                    log.warning("replica %s is in no record and does not answer; stopping it", rid)
                    self._registry.track(f"stop-{rid}", _stop_actors(handles, group))
                    continue
                known[rid] = (info.slot, info.template)
            slot, template = known[rid]
            expected = self._state.plan.replica.ranks if template == self._state.plan.template() else len(handles)
            if sorted(ranks) != list(range(expected)):
                log.warning("replica %s has ranks %s of %d; stopping the group", rid, sorted(ranks), expected)
                self._registry.track(f"stop-{rid}", _stop_actors(handles, group))
                continue
            record = self._registry.add(rid, slot, template, handles, group)
            self._registry.track(rid, self._bring_up(record))
        gone = set(known) - {r.info.replica_id for r in self._registry.all()}
        for rid in gone:
            del known[rid]
        if self._registry.all() or gone:
            log.info("adopted %d replica(s); %d gone while the controller was down",
                     len(self._registry.all()), len(gone))
        await store.save(self._state)

    async def _step(self, now: float) -> None:
        await asyncio.gather(*(self._probe(r, now) for r in self._registry.all()
                               if r.state in (ReplicaState.READY, ReplicaState.DRAINING)))
        decision = self._sizing.step(now, self._registry.in_state(ReplicaState.READY), self._state.desired)
        if decision is not None:
            self._state.desired, self._state.last_decision = decision[0], decision
            self._state.autoscaler = self._sizing.state()
            await store.save(self._state)
        for record in self._registry.in_state(ReplicaState.DRAINING):
            settled = now - record.since >= DRAIN_SETTLE_S and record.load.active == 0
            if settled or now - record.since >= self._state.plan.lifecycle.drain_grace_s:
                await self._remove(record, "drained" if settled else "drain grace period over")
        actions = decide(self._state.desired, [self._status(r) for r in self._registry.all()], self._state.slots,
                         self._state.plan.template(), now, MAX_FAILED_CHECKS)
        for rid in actions.remove_ids:
            record = self._registry.get(rid)
            await self._remove(record, record.error or "unhealthy")
        for rid in actions.drain_ids:
            await self._drain(self._registry.get(rid), now)
        for slot in actions.start_slots:
            await self._start(slot)

    @staticmethod
    def _status(record: Record) -> ReplicaStatus:
        return ReplicaStatus(record.info.replica_id, record.info.slot, record.state, record.info.template,
                             record.failed_checks)

    async def _probe(self, record: Record, now: float) -> None:
        """Load (progress included) and engine health of one placed replica: of every rank of a group,
        which fails as one when any rank does (its ranks step together)."""
        loads = await asyncio.gather(*(asyncio.wait_for(h.probe.remote(), CALL_TIMEOUT_S) for h in record.handles),
                                     return_exceptions=True)
        died = [k for k, x in enumerate(loads) if isinstance(x, RayActorError)]
        if died:
            self._registry.set_state(record, ReplicaState.DEAD, now, f"{_rank(died[0], loads)}its actor died")
            return
        failed = [(k, x) for k, x in enumerate(loads) if isinstance(x, BaseException)]
        if failed:
            k, exc = failed[0]
            record.failed_checks += 1
            record.error = (f"{_rank(k, loads)}failed {record.failed_checks} health check(s) in a row: "
                            f"{exc or type(exc).__name__}")
            log.warning("replica %s: %s", record.info.replica_id, record.error)
            return
        load = group_load(loads)
        record.load, record.failed_checks = load, 0
        stuck_after = self._state.plan.lifecycle.stuck_after_s
        if record.state is ReplicaState.READY and load.stalled_s > stuck_after:
            why = (f"stuck: {load.active} request(s) and no token for {load.stalled_s:.1f} s "
                   f"(lifecycle.stuck_after_s {stuck_after:g})")
            log.warning("replica %s %s; replacing it", record.info.replica_id, why)
            self._registry.set_state(record, ReplicaState.STUCK, now, why)

    async def _start(self, slot: int) -> None:
        rid, template = uuid.uuid4().hex[:8], self._state.plan.template()
        self._state.replicas[rid] = (slot, template)
        self._state.slots[slot] = backoff.started(self._state.slots.get(slot, SlotStatus()))
        await store.save(self._state)  # before the actor exists: a successor adopts it even while it is pending
        plan = self._state.plan.replica
        group = None
        if plan.grouped:  # pending until Ray (or its autoscaler) finds GPUs for every rank
            group = placement_group(plan.bundles(), strategy=plan.strategy(), name=GROUP_NAME_PREFIX + rid,
                                    lifetime="detached")
        handles = []
        for rank in range(plan.ranks):
            options = dict(name=actor_name(rid, rank, plan.ranks), namespace=NAMESPACE, lifetime="detached",
                           **plan.actor_options(slot))
            if group is not None:
                options["scheduling_strategy"] = PlacementGroupSchedulingStrategy(group, rank)
            handles.append(ReplicaActor.options(**options).remote(rid, slot, template, plan.engine, plan.settings,
                                                                  rank, plan.ranks))
        record = self._registry.add(rid, slot, template, handles, group)
        self._registry.track(rid, self._bring_up(record))
        log.info("starting replica %s in slot %d%s", rid, slot,
                 f" ({plan.ranks} ranks, {plan.strategy()})" if plan.ranks > 1 else "")

    async def _bring_up(self, record: Record) -> None:
        """Pending until placed (the Ray autoscaler adds nodes for it), then starting, then ready."""
        rid, began = record.info.replica_id, time.monotonic()
        try:
            record.rank_infos = tuple(await asyncio.gather(*(h.info.remote() for h in record.handles)))
            record.info = record.rank_infos[0]
            if any(info.draining for info in record.rank_infos):
                self._registry.set_state(record, ReplicaState.DRAINING, time.time())
                return
            self._registry.set_state(record, ReplicaState.STARTING, time.time())
            if len(record.handles) == 1:
                starts = [record.handle.start.remote()]
            else:  # every rank learns where rank 0 is, then they load together
                meeting_point = await asyncio.wait_for(record.handle.meeting_point.remote(), CALL_TIMEOUT_S)
                starts = [h.start.remote(meeting_point) for h in record.handles]
            await asyncio.wait_for(asyncio.gather(*starts), self._state.plan.lifecycle.start_timeout_s)
            record.rank_infos = tuple(dataclasses.replace(info, started=True) for info in record.rank_infos)
            record.info = record.rank_infos[0]
            self._registry.set_state(record, ReplicaState.READY, time.time())
            slot = record.info.slot
            self._state.slots[slot] = backoff.start_succeeded(self._state.slots.get(slot, SlotStatus()))
            await store.save(self._state)
            log.info("replica %s ready after %.1f s", rid, time.monotonic() - began)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            error = f"failed to start: {failure_reason(exc)}"
            log.error("replica %s %s", rid, error)
            self._registry.set_state(record, ReplicaState.DEAD, time.time(), error)
            slot = record.info.slot
            self._state.slots[slot] = backoff.start_failed(self._state.slots.get(slot, SlotStatus()), time.time(),
                                                           failure_reason(exc), self._state.plan.lifecycle)
            await store.save(self._state)

    async def _drain(self, record: Record, now: float) -> None:
        log.info("draining replica %s (slot %d)", record.info.replica_id, record.info.slot)
        self._registry.set_state(record, ReplicaState.DRAINING, now)
        try:
            await asyncio.wait_for(asyncio.gather(*(h.drain.remote() for h in record.handles)), CALL_TIMEOUT_S)
        except Exception as exc:
            await self._remove(record, f"could not drain: {failure_reason(exc)}")

    async def _remove(self, record: Record, why: str) -> None:
        """Out of the registry at once (its slot may be refilled); stopped and killed in the background."""
        log.info("removing replica %s (slot %d): %s", record.info.replica_id, record.info.slot, why)
        self._registry.drop(record.info.replica_id)
        self._state.replicas.pop(record.info.replica_id, None)
        await store.save(self._state)
        self._registry.track(f"stop-{record.info.replica_id}", _stop_actors(record.handles, record.placement_group))

    @staticmethod
    def _placement_group(replica_id: str):
        """The replica's placement group, if it has one (an expert-parallel group on GPUs)."""
        try:
            return get_placement_group(GROUP_NAME_PREFIX + replica_id)
        except ValueError:
            return None


def _rank(k: int, ranks: list) -> str:
    """How an error names the rank it happened on: not at all for a replica of one."""
    return f"rank {k}: " if len(ranks) > 1 else ""


async def _stop_actors(handles, group) -> None:
    """Stops and kills every rank, then frees the placement group's GPUs."""
    await asyncio.gather(*(_stop_actor(h) for h in handles), return_exceptions=True)
    if group is not None:
        remove_placement_group(group)


async def _stop_actor(handle) -> None:
    try:
        await asyncio.wait_for(handle.stop.remote(), 30)
    except Exception:
        pass  # dead or stuck: killing it is all that is left
    ray.kill(handle, no_restart=True)
