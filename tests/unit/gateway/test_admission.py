import asyncio

import pytest
from prometheus_client import REGISTRY

from cluster.errors import Overloaded
from cluster.gateway.admission import Admission
from cluster.gateway.tenants import Tenant, TenantLimits
from cluster.types import PriorityClass

INTER, BATCH = PriorityClass.INTERACTIVE, PriorityClass.BATCH


def admission(per_replica=1, queue=2, wait_s=5.0, replicas=1) -> Admission:
    return Admission(per_replica, queue, wait_s, lambda: replicas)


async def hold(adm: Admission, cls: PriorityClass, order: list, release: asyncio.Event, name: str,
               tenant: Tenant | None = None):
    async with adm.slot(cls, *([tenant] if tenant else [])):
        order.append(name)
        await release.wait()


def test_within_capacity_admits_at_once():
    async def main():
        adm = admission(per_replica=2, replicas=2)
        async with adm.slot(INTER), adm.slot(BATCH), adm.slot(INTER), adm.slot(INTER):
            assert adm.running == 4 and adm.queued() == 0
        assert adm.running == 0

    asyncio.run(main())


def test_interactive_waiters_go_before_batch_ones_that_came_earlier():
    async def main():
        adm, order, release = admission(queue=4), [], asyncio.Event()
        tasks = [asyncio.create_task(hold(adm, INTER, order, release, "first"))]
        await asyncio.sleep(0)
        for name, cls in (("batch1", BATCH), ("batch2", BATCH), ("inter", INTER)):
            tasks.append(asyncio.create_task(hold(adm, cls, order, release, name)))
            await asyncio.sleep(0)
        assert adm.queued(BATCH) == 2 and adm.queued(INTER) == 1
        release.set()
        await asyncio.gather(*tasks)
        assert order == ["first", "inter", "batch1", "batch2"]

    asyncio.run(main())


def test_a_full_queue_sheds_the_newcomer_with_a_retry_hint():
    async def main():
        adm, release = admission(queue=1), asyncio.Event()
        tasks = [asyncio.create_task(hold(adm, INTER, [], release, str(i))) for i in range(2)]
        await asyncio.sleep(0)
        with pytest.raises(Overloaded, match="queue is full") as shed:
            async with adm.slot(INTER):
                pass
        assert shed.value.retry_after_s >= 1
        release.set()
        await asyncio.gather(*tasks)

    asyncio.run(main())


def test_interactive_displaces_the_newest_batch_request_from_a_full_queue():
    async def main():
        adm, order, release = admission(queue=2), [], asyncio.Event()
        running = asyncio.create_task(hold(adm, INTER, order, release, "running"))
        await asyncio.sleep(0)
        b1 = asyncio.create_task(hold(adm, BATCH, order, release, "b1"))
        b2 = asyncio.create_task(hold(adm, BATCH, order, release, "b2"))
        await asyncio.sleep(0)
        inter = asyncio.create_task(hold(adm, INTER, order, release, "inter"))
        await asyncio.sleep(0)
        with pytest.raises(Overloaded, match="took this one.s place"):
            await b2
        release.set()
        await asyncio.gather(running, b1, inter)
        assert order == ["running", "inter", "b1"]

    asyncio.run(main())


def test_waiting_past_the_limit_is_shed_and_frees_the_place():
    async def main():
        adm, release = admission(queue=4, wait_s=0.05), asyncio.Event()
        running = asyncio.create_task(hold(adm, INTER, [], release, "running"))
        await asyncio.sleep(0)
        with pytest.raises(Overloaded, match="within the admission limit of 0.05 s"):
            async with adm.slot(BATCH):
                pass
        assert adm.queued() == 0
        release.set()
        await running

    asyncio.run(main())


def test_a_cancelled_waiter_leaves_no_trace_and_slots_are_not_leaked():
    async def main():
        adm, release = admission(queue=4), asyncio.Event()
        running = asyncio.create_task(hold(adm, INTER, [], release, "running"))
        await asyncio.sleep(0)
        waiter = asyncio.create_task(hold(adm, INTER, [], release, "gone"))
        await asyncio.sleep(0)
        waiter.cancel()
        await asyncio.gather(waiter, return_exceptions=True)
        assert adm.queued() == 0
        release.set()
        await running
        assert adm.running == 0

    asyncio.run(main())


def test_waiters_are_admitted_when_replicas_become_ready():
    async def main():
        ready = [0]
        adm = Admission(1, 4, 5.0, lambda: ready[0])
        waiter = asyncio.create_task(hold(adm, INTER, [], asyncio.Event(), "w"))
        await asyncio.sleep(0.05)
        assert adm.queued() == 1
        ready[0] = 1
        await asyncio.sleep(0.7)  # waiters look again every half second
        assert adm.running == 1
        waiter.cancel()
        await asyncio.gather(waiter, return_exceptions=True)
        assert adm.running == 0

    asyncio.run(main())


def test_shed_and_queue_series_exist_at_zero_before_any_request():
    admission()
    for priority_class in PriorityClass:
        assert REGISTRY.get_sample_value("oss_cluster_admission_queue_depth",
                                         {"priority_class": priority_class.value}) == 0
        for reason in ("queue_full", "displaced", "queue_timeout"):
            assert REGISTRY.get_sample_value("oss_cluster_shed_requests_total", {
                "tenant": "anonymous", "priority_class": priority_class.value, "reason": reason}) is not None


def tenant(name: str, weight: float = 1.0) -> Tenant:
    return Tenant(name, TenantLimits(weight=weight))


async def queue_in_order(adm: Admission, order: list, release: asyncio.Event, *waiters) -> list[asyncio.Task]:
    """Starts one request that takes the only slot, then queues `waiters` ((name, tenant), ...) in turn."""
    tasks = [asyncio.create_task(hold(adm, INTER, order, release, "running"))]
    await asyncio.sleep(0)
    for name, who in waiters:
        tasks.append(asyncio.create_task(hold(adm, INTER, order, release, name, who)))
        await asyncio.sleep(0)
    return tasks


def test_a_tenants_burst_does_not_make_another_tenant_wait_behind_all_of_it():
    async def main():
        adm, order, release = admission(queue=10), [], asyncio.Event()
        a, b = tenant("a"), tenant("b")
        tasks = await queue_in_order(adm, order, release, *[(f"a{i}", a) for i in range(1, 6)], ("b1", b))
        release.set()
        await asyncio.gather(*tasks)
        assert order == ["running", "a1", "b1", "a2", "a3", "a4", "a5"]

    asyncio.run(main())


def test_weights_share_a_busy_queue_in_proportion():
    async def main():
        adm, order, release = admission(queue=20), [], asyncio.Event()
        heavy, light = tenant("heavy", weight=2), tenant("light")
        waiters = [(f"h{i}", heavy) for i in range(6)] + [(f"l{i}", light) for i in range(6)]
        tasks = await queue_in_order(adm, order, release, *waiters)
        release.set()
        await asyncio.gather(*tasks)
        first_six = order[1:7]
        assert sum(name.startswith("h") for name in first_six) == 4  # two of heavy's for each of light's

    asyncio.run(main())


def test_a_full_queue_sheds_from_the_tenant_with_most_waiting_not_the_newcomer():
    async def main():
        adm, order, release = admission(queue=3), [], asyncio.Event()
        a, b = tenant("a"), tenant("b")
        tasks = await queue_in_order(adm, order, release, ("a1", a), ("a2", a), ("a3", a))
        newcomer = asyncio.create_task(hold(adm, INTER, order, release, "b1", b))
        await asyncio.sleep(0)
        with pytest.raises(Overloaded, match="fewer requests waiting"):
            await tasks[3]  # a3 lost its place to b1
        with pytest.raises(Overloaded, match="queue is full"):
            async with adm.slot(INTER, a):  # a's fourth would go last: it is shed itself
                pass
        release.set()
        await asyncio.gather(*tasks[:3], newcomer)
        assert order == ["running", "a1", "b1", "a2"]

    asyncio.run(main())


def test_a_long_queue_is_looked_at_once_per_period_not_once_per_waiter(monkeypatch):
    """A backlog of thousands under overload must not wake the loop thousands of times a period:
    each waiter used to poll capacity on its own every RECHECK_S, holding the gateway's loop for
    most of a second with a queue of 4,000."""
    looks = []

    async def main():
        adm = Admission(1, 2000, 5.0, lambda: 0)  # no replica ready: everyone waits
        original = adm._dispatch
        monkeypatch.setattr(adm, "_dispatch", lambda: (looks.append(1), original())[1])
        tasks = [asyncio.create_task(hold(adm, INTER, [], asyncio.Event(), str(i))) for i in range(1000)]
        await asyncio.sleep(0.01)  # all queued (each arrival looks once: capacity may have grown)
        assert adm.queued() == 1000 and adm.queued(INTER) == 1000
        looks.clear()
        await asyncio.sleep(1.2)  # two periods of waiting
        periods = len(looks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        assert adm.queued() == 0 and adm.queued(INTER) == 0
        return periods

    assert asyncio.run(main()) <= 4


def test_waiters_leaving_from_the_middle_keep_the_queue_in_order():
    async def main():
        adm, order, release = admission(queue=8), [], asyncio.Event()
        first = asyncio.create_task(hold(adm, INTER, order, release, "first"))
        await asyncio.sleep(0)
        waiting = {name: asyncio.create_task(hold(adm, cls, order, release, name))
                   for name, cls in (("b1", BATCH), ("i1", INTER), ("b2", BATCH), ("i2", INTER), ("i3", INTER))}
        await asyncio.sleep(0)
        for name in ("i2", "b1"):
            waiting.pop(name).cancel()
        await asyncio.sleep(0.01)
        assert adm.queued(INTER) == 2 and adm.queued(BATCH) == 1
        release.set()
        await asyncio.gather(first, *waiting.values())
        assert order == ["first", "i1", "i3", "b2"]

    asyncio.run(main())
