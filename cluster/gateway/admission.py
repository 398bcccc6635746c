"""Admission control: a bounded, priority-ordered, tenant-fair waiting queue in front of the replicas.

A gateway runs at most `max_in_flight_per_replica` × ready replicas requests at once. Others wait
in one queue, interactive before batch, for at most `max_queue_wait_s` (and never past the
request's own deadline, which the caller enforces). Within a class, tenants take turns in
proportion to their weights (start-time fair queueing): each waiter gets a virtual finish tag, its
tenant's previous tag (or the class's virtual time, for a tenant with none waiting) plus
1 / weight, and the lowest tag goes first; so a tenant that queued a burst of 100 waits behind a
newcomer's single request, not the other way round. When the queue is full a newcomer is shed at
once with `Overloaded` (RESOURCE_EXHAUSTED / 429 and a retry-after hint), unless it would go before
the last waiter (a higher class, or a tenant with fewer waiting), which is shed instead.
"""

import asyncio
import bisect
import itertools
import math
import time
from collections.abc import Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from cluster import metrics
from cluster.errors import Overloaded
from cluster.gateway.tenants import ANONYMOUS, Tenant
from cluster.types import PriorityClass

RANK = {PriorityClass.INTERACTIVE: 0, PriorityClass.BATCH: 1}
RECHECK_S = 0.5  # the queue is looked at again this often: replicas may have become ready meanwhile
MAX_RETRY_AFTER_S = 60


@dataclass(order=True)
class _Waiter:
    rank: int
    tag: float  # virtual finish time within the class: the fair share's order
    seq: int
    priority_class: PriorityClass = field(compare=False)
    tenant: str = field(compare=False)
    start: float = field(compare=False)  # virtual start time: the class's clock once it is admitted
    granted: asyncio.Future = field(compare=False)
    queued: bool = field(default=False, compare=False)


SHED_REASONS = ("queue_full", "displaced", "queue_timeout")


class Admission:
    def __init__(self, max_in_flight_per_replica: int, max_queue: int, max_queue_wait_s: float,
                 ready_replicas: Callable[[], int], tenants: Callable[[], list[str]] = lambda: [ANONYMOUS.name]):
        self._per_replica = max_in_flight_per_replica
        self._max_queue = max_queue
        self._max_wait_s = max_queue_wait_s
        self._ready_replicas = ready_replicas
        self.running = 0
        # Sorted; every operation on it is O(log n) comparisons, so that a queue of thousands (a
        # backlog under overload) costs the event loop no more per request than a short one.
        self._queue: list[_Waiter] = []
        self._counts = {priority_class: 0 for priority_class in PriorityClass}
        self._rechecking: asyncio.Task | None = None
        self._seq = itertools.count()
        self._service_s = 1.0  # moving average of how long a request holds its slot
        self._clock = {rank: 0.0 for rank in RANK.values()}  # each class's virtual time
        self._last_tag: dict[tuple[int, str], float] = {}  # (class, tenant) → its newest waiter's tag
        for priority_class in PriorityClass:  # series at zero from the start: dashboards and alerts see 0, not none
            self._gauge(priority_class)
            for tenant in tenants():
                for reason in SHED_REASONS:
                    metrics.SHED.labels(tenant, priority_class.value, reason)

    def capacity(self) -> int:
        return self._per_replica * self._ready_replicas()

    def queued(self, priority_class: PriorityClass | None = None) -> int:
        return len(self._queue) if priority_class is None else self._counts[priority_class]

    @asynccontextmanager
    async def slot(self, priority_class: PriorityClass, tenant: Tenant = ANONYMOUS):
        """Holds one of the gateway's request slots for the body; raises Overloaded when shed."""
        await self._acquire(priority_class, tenant)
        began = time.monotonic()
        try:
            yield
        finally:
            self._service_s += 0.1 * (time.monotonic() - began - self._service_s)
            self._release()

    async def _acquire(self, priority_class: PriorityClass, tenant: Tenant) -> None:
        began = time.monotonic()
        try:
            if not self._queue and self.running < self.capacity():
                self.running += 1
            else:
                waiter = self._enqueue(priority_class, tenant)
                self._dispatch()  # capacity may have grown since the queue formed
                try:
                    await self._wait(waiter)
                except BaseException:
                    self._abandon(waiter)
                    raise
        finally:
            metrics.child(metrics.ADMISSION_WAIT, priority_class.value).observe(time.monotonic() - began)
        metrics.child(metrics.ADMITTED, priority_class.value).inc()

    def _enqueue(self, priority_class: PriorityClass, tenant: Tenant) -> _Waiter:
        rank = RANK[priority_class]
        start = max(self._clock[rank], self._last_tag.get((rank, tenant.name), 0.0))
        waiter = _Waiter(rank, start + 1 / tenant.limits.weight, next(self._seq), priority_class, tenant.name, start,
                         asyncio.get_running_loop().create_future())
        if len(self._queue) >= self._max_queue:
            if not self._queue or not waiter < self._queue[-1]:
                self._shed(priority_class, tenant.name, "queue_full")
            displaced = self._queue[-1]
            self._discard(displaced)
            displaced.granted.set_exception(self._overloaded(
                displaced.priority_class, displaced.tenant, "displaced",
                "the gateway's queue is full and a request of a higher class, or of a tenant with fewer requests "
                "waiting, took this one's place"))
        self._last_tag[(rank, tenant.name)] = waiter.tag
        bisect.insort(self._queue, waiter)
        waiter.queued = True
        self._counts[priority_class] += 1
        self._gauge(priority_class)
        if self._rechecking is None or self._rechecking.done():
            self._rechecking = asyncio.get_running_loop().create_task(self._recheck())
        return waiter

    def _discard(self, waiter: _Waiter) -> bool:
        """Takes the waiter out of the queue; False if it was not in it."""
        if not waiter.queued:
            return False
        i = bisect.bisect_left(self._queue, waiter)  # (rank, tag, seq) is unique: this is the waiter
        del self._queue[i]
        waiter.queued = False
        self._counts[waiter.priority_class] -= 1
        self._gauge(waiter.priority_class)
        return True

    async def _wait(self, waiter: _Waiter) -> None:
        try:
            await asyncio.wait_for(asyncio.shield(waiter.granted), self._max_wait_s)
        except TimeoutError:
            if not waiter.granted.done():
                self._discard(waiter)
                self._shed(waiter.priority_class, waiter.tenant, "queue_timeout",
                           f"no capacity freed within the admission limit of {self._max_wait_s:g} s")
        waiter.granted.result()  # raises Overloaded for a displaced waiter

    async def _recheck(self) -> None:
        """While anyone waits: one look every RECHECK_S at capacity that grew without a release (a
        replica became ready), for the whole queue, not a wake-up per waiter."""
        while self._queue:
            await asyncio.sleep(RECHECK_S)
            self._dispatch()

    def _abandon(self, waiter: _Waiter) -> None:
        """The waiter left (cancelled, deadline, shed): free its place, or the slot it was just granted."""
        if self._discard(waiter):
            return
        granted = waiter.granted
        if granted.done() and not granted.cancelled() and granted.exception() is None:
            self._release()

    def _release(self) -> None:
        self.running -= 1
        self._dispatch()

    def _dispatch(self) -> None:
        while self._queue and self.running < self.capacity():
            waiter = self._queue[0]
            self._discard(waiter)
            self._clock[waiter.rank] = max(self._clock[waiter.rank], waiter.start)
            self.running += 1
            waiter.granted.set_result(None)

    def retry_after_s(self) -> float:
        """A hint for shed callers: the time for the queue ahead of them to drain at the current pace."""
        estimate = (len(self._queue) + 1) * self._service_s / max(1, self.capacity())
        return float(min(MAX_RETRY_AFTER_S, max(1, math.ceil(estimate))))

    def _shed(self, priority_class: PriorityClass, tenant: str, reason: str, why: str = "") -> None:
        raise self._overloaded(priority_class, tenant, reason,
                               why or f"the gateway's queue is full ({self._max_queue} requests waiting)")

    def _overloaded(self, priority_class: PriorityClass, tenant: str, reason: str, why: str) -> Overloaded:
        metrics.SHED.labels(tenant, priority_class.value, reason).inc()
        retry = self.retry_after_s()
        return Overloaded(f"{why}; retry after {retry:.0f} s", retry)

    def _gauge(self, priority_class: PriorityClass) -> None:
        metrics.child(metrics.ADMISSION_QUEUE_DEPTH, priority_class.value).set(self._counts[priority_class])
