"""The gateway's view of the replicas: the ready set from the controller, their loads, its own in-flight counts."""

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from cluster import metrics
from cluster.types import GatewayReport, ReplicaLoad, RoutingView

log = logging.getLogger(__name__)

REFRESH_PERIOD_S = 0.5
CALL_TIMEOUT_S = 2.0


@dataclass
class Replica:
    """One routing target: a replica, or one rank of an expert-parallel group (ReplicaInfo.endpoint_id)."""

    replica_id: str  # the endpoint id: `<replica id>.<rank>` for a rank of a group
    handle: object  # a Ray actor handle
    group_id: str = ""  # the replica (group) id; equal to `replica_id` for a replica of one rank
    rank: int = 0
    load: ReplicaLoad = field(default_factory=ReplicaLoad)
    loaded_at: float = 0.0  # monotonic time this gateway last received `load`
    in_flight: int = 0  # requests this gateway sent and has not seen finish


class ReplicaSet:
    """Refreshes the ready replicas and their loads every `REFRESH_PERIOD_S`, off the request path."""

    def __init__(self, controller, report: Callable[[], GatewayReport | None] = lambda: None):
        self._controller = controller
        self._report = report
        self.replicas: dict[str, Replica] = {}
        self._task: asyncio.Task | None = None
        self.last_refresh = 0.0
        self.cold_start = False  # the cluster scales from zero: hold requests while no replica is ready
        self.plan = ""  # the digest of the plan the controller runs
        self._looking: asyncio.Task | None = None  # a refresh requests asked for, shared while it runs

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._refresh_forever())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def ready(self) -> list[Replica]:
        return list(self.replicas.values())

    def can_serve(self) -> bool:
        """A replica is ready, or the cluster scales from zero and admission holds requests until one is."""
        return bool(self.replicas) or self.cold_start

    def mark_failed(self, replica_id: str) -> None:
        """Stops routing to a replica whose call failed until the controller announces it again."""
        if self.replicas.pop(replica_id, None) is not None:
            self._controller.report_failure.remote(replica_id)
            self._forget_gauges(replica_id)

    def mark_draining(self, replica_id: str) -> None:
        """Stops routing to a replica that refused a request because it is being removed."""
        if self.replicas.pop(replica_id, None) is not None:
            self._forget_gauges(replica_id)

    async def look_again(self) -> None:
        """Refreshes now, for a request whose replicas all refused it before its first token: during a
        rollout the controller drains the old replica as soon as the new one is ready, which this
        set sees only at its next refresh. Requests asking at once share one call; a failed one
        leaves the view as it was."""
        if self._looking is None or self._looking.done():
            self._looking = asyncio.get_running_loop().create_task(self.refresh())
            self._looking.add_done_callback(lambda t: t.cancelled() or t.exception())  # retrieved if nobody waits
        try:
            await asyncio.shield(self._looking)
        except Exception as exc:  # the caller's next choice finds no replica and says so
            log.warning("replica refresh failed: %s", exc)

    async def _refresh_forever(self) -> None:
        while True:
            try:
                await self.refresh()
            except Exception as exc:  # controller restarting, Ray busy: keep the last view and retry
                log.warning("replica refresh failed: %s", exc)
            await asyncio.sleep(REFRESH_PERIOD_S)

    async def refresh(self) -> None:
        began = time.monotonic()
        view: RoutingView = await asyncio.wait_for(self._controller.routing_view.remote(self._report()),
                                                   CALL_TIMEOUT_S)
        self.cold_start, self.plan = view.cold_start, view.plan
        current = {info.endpoint_id: (info, handle) for info, handle in view.replicas}
        for rid in set(self.replicas) - set(current):
            del self.replicas[rid]
            self._forget_gauges(rid)
        for rid, (info, handle) in current.items():
            if rid not in self.replicas:
                self.replicas[rid] = Replica(rid, handle, group_id=info.replica_id, rank=info.rank)
        polled = list(self.replicas.values())
        loads = await asyncio.gather(*(asyncio.wait_for(r.handle.load.remote(), CALL_TIMEOUT_S) for r in polled),
                                     return_exceptions=True)
        for replica, load in zip(polled, loads):
            # The set may have changed during the await (a replica marked failed): update by identity.
            if isinstance(load, ReplicaLoad) and self.replicas.get(replica.replica_id) is replica:
                replica.load, replica.loaded_at = load, time.monotonic()
                metrics.REPLICA_RUNNING.labels(replica.replica_id).set(load.running)
                metrics.REPLICA_WAITING.labels(replica.replica_id).set(load.waiting)
                metrics.REPLICA_KV_CACHE_USAGE.labels(replica.replica_id).set(load.kv_cache_usage)
                metrics.REPLICA_PREFIX_CACHE_QUERIES.labels(replica.replica_id).set(load.prefix_cache_queries)
                metrics.REPLICA_PREFIX_CACHE_HITS.labels(replica.replica_id).set(load.prefix_cache_hits)
        metrics.REPLICAS_READY.set(len(self.replicas))
        self.last_refresh = time.monotonic()
        metrics.REPLICA_REFRESH.observe(self.last_refresh - began)

    @staticmethod
    def _forget_gauges(replica_id: str) -> None:
        for gauge in (metrics.REPLICA_RUNNING, metrics.REPLICA_WAITING, metrics.REPLICA_KV_CACHE_USAGE,
                      metrics.REPLICA_GATEWAY_IN_FLIGHT, metrics.REPLICA_PREFIX_CACHE_QUERIES,
                      metrics.REPLICA_PREFIX_CACHE_HITS):
            try:
                gauge.remove(replica_id)
            except KeyError:
                pass
