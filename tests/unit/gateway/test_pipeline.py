"""The pipeline's flow with a scripted replica client: what is retried, what is not, and whose ids
reach the engine."""

import asyncio
import random
import time

import pytest

from cluster import metrics
from cluster.config import RouterConfig
from cluster.errors import DeadlineExceeded, InvalidRequest, Unavailable
from cluster.gateway.accounting import Accountant
from cluster.gateway.admission import Admission
from cluster.gateway.pipeline import Pipeline
from cluster.gateway.prepare import Preparer
from cluster.gateway.render_pool import RenderPool
from cluster.gateway.tenants import ANONYMOUS
from cluster.gateway.validate import Limits
from cluster.replica.client import ReplicaDraining, ReplicaFailed
from cluster.router.profile import profile_from_config
from cluster.router.replica_set import Replica
from cluster.router.router import Router
from cluster.types import FinishReason, GenerateRequest, Sampling, TextChunk, TokenChunk
from tests.factories import chat, user

LIMITS = Limits(model_name="m", max_model_len=1000, default_max_tokens=10, max_message_bytes=4096)


class Replicas:
    def __init__(self, *ids: str):
        self.replicas = {rid: Replica(rid, handle=rid) for rid in ids}
        self.failed: list[str] = []
        self.cold_start = False
        self.next_view: tuple[str, ...] | None = None  # what the controller says at the next look
        self.looks = 0

    def ready(self) -> list[Replica]:
        return list(self.replicas.values())

    def can_serve(self) -> bool:
        return bool(self.replicas) or self.cold_start

    def mark_failed(self, replica_id: str) -> None:
        self.failed.append(replica_id)
        self.replicas.pop(replica_id, None)

    def mark_draining(self, replica_id: str) -> None:
        self.replicas.pop(replica_id, None)

    async def look_again(self) -> None:
        self.looks += 1
        if self.next_view is not None:
            self.replicas = {rid: Replica(rid, handle=rid) for rid in self.next_view}


class ScriptedClient:
    """Plays the replica client: each call takes the next outcome, chunks to yield or an error to raise."""

    def __init__(self, *outcomes):
        self.outcomes = list(outcomes)
        self.calls: list[tuple[str, str]] = []  # (replica, engine request id)
        self.requests = []  # the engine requests, in order

    async def __call__(self, replica_id, handle, request):
        self.calls.append((replica_id, request.request_id))
        self.requests.append(request)
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        for chunk in outcome:
            yield chunk


def pipeline(client: ScriptedClient, *ids: str) -> Pipeline:
    replicas = Replicas(*ids)
    router = Router(replicas, profile_from_config(RouterConfig()), 2.0, rng=random.Random(0))
    admission = Admission(8, 8, 5.0, lambda: len(replicas.ready()))
    return Pipeline(replicas, router, admission, Preparer(LIMITS, pool=None), request_timeout_s=10, max_attempts=3,
                    stream=client)


def run(p: Pipeline, request, timeout_s: float | None = None):
    """The pipeline's events for `request`, with the context the edge would build for an anonymous caller."""
    call = Accountant("m").open("grpc", type(request).__name__, ANONYMOUS)
    serve = p.generate if isinstance(request, GenerateRequest) else p.chat
    return serve(request, p.context(call, request, timeout_s))


def generate(p: Pipeline, request_id: str = "") -> list:
    async def main():
        return [e async for e in run(p, GenerateRequest(token_ids=(1, 2, 3), request_id=request_id,
                                                        sampling=Sampling(max_tokens=2)))]
    return asyncio.run(main())


def retries() -> float:
    return sum(s.value for m in metrics.ROUTING_RETRIES.collect() for s in m.samples if s.name.endswith("_total"))


DONE = [TokenChunk([7]), TokenChunk([8], finish=FinishReason.LENGTH)]


def test_a_request_the_engine_rejects_is_not_retried_elsewhere():
    client = ScriptedClient(InvalidRequest("the engine rejected the request: bad grammar"), DONE)
    before = retries()
    with pytest.raises(InvalidRequest, match="bad grammar"):
        generate(pipeline(client, "a", "b"))
    assert len(client.calls) == 1 and retries() == before


def test_a_replica_failing_before_the_first_token_costs_a_retry():
    client = ScriptedClient(ReplicaFailed("EngineGenerateError: boom"), DONE)
    before = retries()
    events = generate(pipeline(client, "a", "b"))
    assert [e.token_ids for e in events if isinstance(e, TextChunk)] == [[7], [8]]
    assert len({replica for replica, _ in client.calls}) == 2 and retries() == before + 1


def test_a_draining_replica_hands_the_request_to_another_without_being_reported_failed():
    client = ScriptedClient(ReplicaDraining("replica a is draining"), DONE)
    p = pipeline(client, "a", "b")
    events = generate(p)
    assert [e.token_ids for e in events if isinstance(e, TextChunk)] == [[7], [8]]
    first, second = (replica for replica, _ in client.calls)
    assert first != second and p._replicas.failed == [] and [r.replica_id for r in p._replicas.ready()] == [second]


def test_a_rollouts_draining_replica_hands_over_to_the_new_one_the_gateway_has_not_seen_yet():
    """The controller drains the old replica once the new one is ready; a request that reaches the old
    one before this gateway's next refresh was refused with 'no other replica is ready'."""
    client = ScriptedClient(ReplicaDraining("replica old is draining"), DONE)
    p = pipeline(client, "old")
    p._replicas.next_view = ("new",)
    events = generate(p)
    assert [e.token_ids for e in events if isinstance(e, TextChunk)] == [[7], [8]]
    assert [replica for replica, _ in client.calls] == ["old", "new"] and p._replicas.looks == 1


def test_when_the_fresh_view_has_no_other_replica_the_request_is_refused_after_one_look():
    client = ScriptedClient(ReplicaFailed("EngineGenerateError: boom"))
    p = pipeline(client, "a")
    with pytest.raises(Unavailable, match="failed on 1 replica"):
        generate(p)
    assert p._replicas.looks == 1 and len(client.calls) == 1


def test_with_no_replica_a_request_is_refused_unless_the_cluster_scales_from_zero():
    with pytest.raises(Unavailable, match="no replica is ready"):
        generate(pipeline(ScriptedClient(DONE)))
    p = pipeline(ScriptedClient(DONE))
    p._replicas.cold_start = True

    async def main():
        waiting = asyncio.create_task(collect(p))
        await asyncio.sleep(0.1)
        assert not waiting.done()  # held in admission while the first replica starts
        p._replicas.replicas["cold"] = Replica("cold", handle="cold")
        return await asyncio.wait_for(waiting, 5)

    events = asyncio.run(main())
    assert [e.token_ids for e in events if isinstance(e, TextChunk)] == [[7], [8]]


async def collect(p: Pipeline) -> list:
    return [e async for e in run(p, GenerateRequest(token_ids=(1, 2, 3), sampling=Sampling(max_tokens=2)))]


def test_engine_ids_are_the_gateways_own_whatever_the_caller_sends():
    client = ScriptedClient(DONE, DONE)
    p = pipeline(client, "a")
    generate(p, request_id="shared-id")
    generate(p, request_id="shared-id")
    ids = [engine_id for _, engine_id in client.calls]
    assert len(set(ids)) == 2 and "shared-id" not in ids


def test_ignore_eos_reaches_the_engine_for_raw_prompts_only_and_min_tokens_always():
    client = ScriptedClient(DONE, DONE)
    p = pipeline(client, "a")
    sampling = Sampling(max_tokens=8, min_tokens=3, ignore_eos=True)

    async def main():
        [e async for e in run(p, GenerateRequest(token_ids=(1, 2, 3), sampling=sampling))]
        [e async for e in run(p, chat(user(), sampling=sampling))]
    asyncio.run(main())
    raw, turn = client.requests
    assert (raw.min_tokens, raw.ignore_eos) == (3, True)
    assert (turn.min_tokens, turn.ignore_eos) == (3, False)  # a chat answer ends with the model's turn


def test_waiting_for_a_render_worker_counts_against_the_deadline():
    async def main():
        pool = RenderPool(1, 30)
        await pool.start()
        try:
            busy = asyncio.ensure_future(pool.run(time.sleep, 2))  # the only worker is taken
            await asyncio.sleep(0.1)
            p = Pipeline(Replicas("a"), None, None, Preparer(LIMITS, pool), request_timeout_s=10, max_attempts=1,
                         stream=ScriptedClient())
            big = GenerateRequest(text="word " * 500, sampling=Sampling(max_tokens=2))  # prepared in a worker
            with pytest.raises(DeadlineExceeded, match="deadline of 0.3 s"):
                async for _ in run(p, big, timeout_s=0.3):
                    pass
            await busy
        finally:
            await pool.stop()

    asyncio.run(main())
