"""The token channel on loopback: a real server and client, with a scripted engine stream in place
of the actor's."""

import asyncio
import contextlib
from types import SimpleNamespace

import pytest

from cluster.errors import InvalidRequest
from cluster.replica import frames
from cluster.replica.channel_server import ChannelAddress, ChannelServer
from cluster.replica.client import Channels, ReplicaDied, ReplicaDraining, ReplicaFailed
from cluster.types import EngineRequest, FinishReason, TokenChunk


class Engine:
    """Streams `steps` chunks per request, one per step; `step()` lets every stream advance at once,
    as vLLM's output handler does. Records which requests ended early."""

    def __init__(self, steps: int = 3, fail: Exception | None = None):
        self.steps, self.fail = steps, fail
        self._step = asyncio.Condition()
        self._clock = 0
        self.started: list[str] = []
        self.aborted: list[str] = []

    async def step(self, times: int = 1) -> None:
        for _ in range(times):
            async with self._step:
                self._clock += 1
                self._step.notify_all()
            await asyncio.sleep(0.02)

    async def stream(self, request: EngineRequest):
        if self.fail is not None:
            raise self.fail
        self.started.append(request.request_id)
        try:
            for i in range(self.steps):
                async with self._step:
                    seen = self._clock
                    await self._step.wait_for(lambda: self._clock > seen)
                yield TokenChunk([i], FinishReason.LENGTH if i == self.steps - 1 else None)
        except (asyncio.CancelledError, GeneratorExit):
            self.aborted.append(request.request_id)
            raise


def request(rid: str) -> EngineRequest:
    return EngineRequest(rid, [1, 2, 3], max_tokens=8)


@contextlib.asynccontextmanager
async def channel(engine: Engine, secret: str | None = None):
    server = ChannelServer(engine.stream, "127.0.0.1")
    address = await server.start()
    if secret is not None:
        address = ChannelAddress(address.host, address.port, secret)

    async def channel_call():
        return address

    handle = SimpleNamespace(channel=SimpleNamespace(remote=channel_call))
    channels = Channels()
    try:
        yield server, lambda rid: channels.stream("r1", handle, request(rid)), channels
    finally:
        await channels.close()
        await server.close()


async def until(condition, timeout_s: float = 5.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not condition():
            await asyncio.sleep(0.01)


async def first_chunk_awaited(engine: Engine, stream, running: int = 1) -> asyncio.Task:
    """Starts waiting for the stream's first chunk and returns once the engine runs `running` requests."""
    first = asyncio.create_task(anext(stream))
    await until(lambda: len(engine.started) == running)
    return first


async def collect(stream) -> list[TokenChunk]:
    return [chunk async for chunk in stream]


def steps_encoded(monkeypatch) -> list[frames.Step]:
    sent: list[frames.Step] = []
    encode = frames.encode

    def counting(message):
        if isinstance(message, frames.Step):
            sent.append(message)
        return encode(message)

    monkeypatch.setattr(frames, "encode", counting)
    return sent


async def test_one_frame_carries_an_engine_steps_chunks_for_all_the_gateways_streams(monkeypatch):
    sent = steps_encoded(monkeypatch)
    engine = Engine(steps=4)
    async with channel(engine) as (_, stream, _):
        streams = [asyncio.create_task(collect(stream(f"q{i}"))) for i in range(8)]
        await until(lambda: len(engine.started) == 8)
        await engine.step(4)
        results = await asyncio.wait_for(asyncio.gather(*streams), 5)
    assert all([c.token_ids for c in r] == [[0], [1], [2], [3]] for r in results)
    assert results[0][-1].finish is FinishReason.LENGTH
    assert len(sent) == 4 and all(len(s.chunks) == 8 for s in sent)  # not 32 frames


async def test_a_caller_that_stops_early_aborts_its_request_in_the_engine_and_the_others_go_on():
    engine = Engine(steps=3)
    async with channel(engine) as (_, stream, _):
        kept = asyncio.create_task(collect(stream("kept")))
        left = stream("left")
        first = await first_chunk_awaited(engine, left, running=2)
        await engine.step()
        assert (await first).token_ids == [0]
        await left.aclose()
        await until(lambda: engine.aborted)
        assert engine.aborted == ["left"]
        await engine.step(2)
        assert len(await asyncio.wait_for(kept, 5)) == 3


@pytest.mark.parametrize("error, expected, message", [
    (InvalidRequest("bad grammar"), InvalidRequest, "the engine rejected the request: bad grammar"),
    (ReplicaDraining("replica r1 is draining"), ReplicaDraining, "replica r1 is draining"),
    (RuntimeError("engine dead"), ReplicaFailed, "RuntimeError: engine dead"),
])
async def test_an_engine_error_reaches_the_caller_as_its_domain_error(error, expected, message):
    async with channel(Engine(fail=error)) as (_, stream, _):
        with pytest.raises(expected) as raised:
            await asyncio.wait_for(collect(stream("q")), 5)
    assert str(raised.value) == message


async def test_a_replica_that_goes_away_fails_its_open_streams_and_is_not_reached_again():
    engine = Engine(steps=3)
    async with channel(engine) as (server, stream, _):
        open_stream = stream("q")
        first = await first_chunk_awaited(engine, open_stream)
        await engine.step()
        assert (await first).token_ids == [0]
        await server.close()
        with pytest.raises(ReplicaDied):
            await asyncio.wait_for(anext(open_stream), 5)
        assert engine.aborted == ["q"]
        with pytest.raises(ReplicaDied, match="cannot be reached"):
            await asyncio.wait_for(collect(stream("next")), 5)


async def test_a_gateway_that_closes_its_connection_aborts_its_requests():
    engine = Engine(steps=3)
    async with channel(engine) as (_, stream, channels):
        open_stream = stream("q")
        pending = await first_chunk_awaited(engine, open_stream)
        await channels.close()
        with pytest.raises(ReplicaDied):
            await asyncio.wait_for(pending, 5)
        await until(lambda: engine.aborted)
        assert engine.aborted == ["q"]


async def test_a_connection_without_the_secret_is_closed_before_any_request_runs():
    engine = Engine()
    async with channel(engine, secret="wrong") as (_, stream, _):
        with pytest.raises(ReplicaDied):
            await asyncio.wait_for(collect(stream("q")), 5)
    assert engine.started == []


async def test_a_slow_consumer_gets_what_piled_up_as_one_chunk_and_stalls_no_one():
    engine = Engine(steps=4)
    async with channel(engine) as (_, stream, _):
        slow, fast = stream("slow"), asyncio.create_task(collect(stream("fast")))
        first = await first_chunk_awaited(engine, slow, running=2)
        await engine.step()
        assert (await first).token_ids == [0]
        await engine.step(3)  # the slow caller reads nothing meanwhile
        assert [c.token_ids for c in await asyncio.wait_for(fast, 5)] == [[0], [1], [2], [3]]
        rest = await asyncio.wait_for(collect(slow), 5)
    assert [(c.token_ids, c.finish) for c in rest] == [([1, 2, 3], FinishReason.LENGTH)]


async def test_garbage_on_the_port_is_refused_and_the_server_serves_on():
    engine = Engine(steps=1)
    async with channel(engine) as (server, stream, _):
        address = await server.start()
        reader, writer = await asyncio.open_connection(address.host, address.port)
        writer.write(b"\xff\xff\xff\xff" + b"x" * 16)  # a frame over the size limit
        assert await asyncio.wait_for(reader.read(1), 5) == b""  # closed by the replica
        writer.close()
        collecting = asyncio.create_task(collect(stream("q")))
        await until(lambda: engine.started)
        await engine.step()
        assert [c.token_ids for c in await asyncio.wait_for(collecting, 5)] == [[0]]
