import asyncio
from types import SimpleNamespace

from cluster.router.replica_set import ReplicaSet
from cluster.types import ReplicaInfo, ReplicaLoad, RoutingView


class Method:
    """A Ray actor method as the replica set calls it: `.remote(...)` gives an awaitable."""

    def __init__(self, fn):
        self._fn = fn

    def remote(self, *args):
        return self._fn(*args)


def info(replica_id: str) -> ReplicaInfo:
    return ReplicaInfo(replica_id, slot=0, template="t", node_id="n", pid=1, created_at=0.0, started=True,
                       draining=False)


def test_loads_go_to_their_own_replica_when_one_is_marked_failed_during_the_poll():
    replicas: ReplicaSet | None = None

    async def load_of_a():
        replicas.mark_failed("a")  # a request to `a` failed while the loads were being polled
        return ReplicaLoad(running=7)

    async def load_of_b():
        return ReplicaLoad(running=1)

    handles = {"a": SimpleNamespace(load=Method(load_of_a)), "b": SimpleNamespace(load=Method(load_of_b))}

    async def view(report=None):
        return RoutingView(tuple((info(rid), h) for rid, h in handles.items()), cold_start=False, plan="p")

    controller = SimpleNamespace(routing_view=Method(view), report_failure=Method(lambda replica_id: None))
    replicas = ReplicaSet(controller)
    asyncio.run(replicas.refresh())
    assert [r.replica_id for r in replicas.ready()] == ["b"]
    assert replicas.ready()[0].load.running == 1  # not `a`'s 7


def test_the_view_says_whether_requests_may_wait_for_a_cold_start():
    async def view(report=None):
        return RoutingView((), cold_start=True, plan="p")

    replicas = ReplicaSet(SimpleNamespace(routing_view=Method(view)))
    asyncio.run(replicas.refresh())
    assert replicas.cold_start and replicas.plan == "p" and replicas.ready() == []


def test_requests_looking_again_at_once_share_one_call_and_a_failed_call_keeps_the_view():
    calls = []
    handle = SimpleNamespace(load=Method(lambda: asyncio.sleep(0, ReplicaLoad())))
    answers = [RoutingView(((info("new"), handle),), cold_start=False, plan="p")]

    async def view(report=None):
        calls.append(1)
        await asyncio.sleep(0.05)
        if not answers:
            raise TimeoutError("controller restarting")
        return answers.pop(0)

    replicas = ReplicaSet(SimpleNamespace(routing_view=Method(view)))

    async def main():
        await asyncio.gather(*(replicas.look_again() for _ in range(5)))
        assert len(calls) == 1 and [r.replica_id for r in replicas.ready()] == ["new"]
        await replicas.look_again()  # the controller does not answer: the request decides with what it has
        assert len(calls) == 2 and [r.replica_id for r in replicas.ready()] == ["new"]

    asyncio.run(main())
