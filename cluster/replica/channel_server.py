"""The replica's end of the token channel: a TCP server in the actor's event loop.

Each gateway holds one connection. A request's chunks go into the connection's outbox; one writer
task per connection sends whatever the outbox holds as one `Step` frame, so an engine step costs
one frame and one write per gateway, whatever the number of streams. Ray stays the control plane:
the gateway learns the address and the secret from the actor's `channel()` call.
"""

import asyncio
import contextlib
import hmac
import logging
import secrets
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from cluster.errors import InvalidRequest
from cluster.replica import frames
from cluster.replica.client import ReplicaDraining
from cluster.types import EngineRequest, FinishReason, TokenChunk

log = logging.getLogger(__name__)

HELLO_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class ChannelAddress:
    host: str
    port: int
    secret: str  # a connection that does not send it first is closed


class ChannelServer:
    """Serves `stream(request)` to gateways; a connection's end cancels its requests' streams."""

    def __init__(self, stream: Callable[[EngineRequest], AsyncIterator[TokenChunk]], host: str):
        self._stream = stream
        self._host = host
        self._secret = secrets.token_hex(16)
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task] = set()

    async def start(self) -> ChannelAddress:
        """Listens on first call (port chosen by the system); returns the address."""
        if self._server is None:
            self._server = await asyncio.start_server(self._accept, self._host, 0)
        return ChannelAddress(self._host, self._server.sockets[0].getsockname()[1], self._secret)

    async def close(self) -> None:
        """Stops listening and ends every connection (their streams are cancelled)."""
        if self._server is not None:
            self._server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        task = asyncio.current_task()
        self._connections.add(task)
        try:
            await _Connection(self._stream, reader, writer).serve(self._secret)
        except asyncio.CancelledError:
            pass  # the server is closing
        finally:
            self._connections.discard(task)
            writer.close()


class _Connection:
    def __init__(self, stream, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self._stream = stream
        self._reader, self._writer = reader, writer
        self._tasks: dict[int, asyncio.Task] = {}
        self._chunks: list[tuple[int, list[int], FinishReason | None]] = []
        self._failures: list[tuple[int, str, str]] = []
        self._wake = asyncio.Event()

    async def serve(self, secret: str) -> None:
        try:
            hello = await asyncio.wait_for(frames.read(self._reader, frames.TO_REPLICA), HELLO_TIMEOUT_S)
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError, frames.FrameError) as exc:
            log.warning("token channel: a connection closed before saying hello (%s)", type(exc).__name__)
            return
        if not isinstance(hello, frames.Hello) or not hmac.compare_digest(hello.secret.encode(), secret.encode()):
            log.warning("token channel: a connection without the replica's secret was closed")
            return
        writing = asyncio.get_running_loop().create_task(self._write_forever())
        try:
            await self._read_forever()
        finally:
            for task in self._tasks.values():
                task.cancel()  # the gateway is gone: its requests are aborted in the engine
            await asyncio.gather(*self._tasks.values(), return_exceptions=True)
            writing.cancel()
            await asyncio.gather(writing, return_exceptions=True)

    async def _read_forever(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                message = await frames.read(self._reader, frames.TO_REPLICA)
                if isinstance(message, frames.Submit) and message.stream not in self._tasks:
                    self._tasks[message.stream] = loop.create_task(self._run(message.stream, message.request))
                elif isinstance(message, frames.Cancel):
                    task = self._tasks.get(message.stream)
                    if task is not None:
                        task.cancel()
                else:
                    raise frames.FrameError(f"unexpected {type(message).__name__} frame")
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the gateway closed the connection
        except frames.FrameError as exc:
            log.warning("token channel: closing a connection that broke the protocol: %s", exc)

    async def _run(self, stream: int, request: EngineRequest) -> None:
        finished = False
        try:
            async with contextlib.aclosing(self._stream(request)) as chunks:
                async for chunk in chunks:
                    finished = chunk.finish is not None
                    self._send(stream, chunk.token_ids, chunk.finish)
            if not finished:
                self._send(stream, [], FinishReason.STOP)
        except InvalidRequest as exc:
            self._fail(stream, frames.INVALID, str(exc))
        except ReplicaDraining as exc:
            self._fail(stream, frames.DRAINING, str(exc))
        except Exception as exc:
            log.error("request %s failed in the engine: %s: %s", request.request_id, type(exc).__name__, exc)
            self._fail(stream, frames.FAILED, f"{type(exc).__name__}: {exc}")
        finally:
            self._tasks.pop(stream, None)

    def _send(self, stream: int, token_ids: list[int], finish: FinishReason | None) -> None:
        self._chunks.append((stream, token_ids, finish))
        self._wake.set()

    def _fail(self, stream: int, kind: str, message: str) -> None:
        self._failures.append((stream, kind, message))
        self._wake.set()

    async def _write_forever(self) -> None:
        """One frame per wake-up: all streams' chunks of an engine step arrive before this task runs."""
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                step = frames.Step(self._chunks, self._failures)
                self._chunks, self._failures = [], []
                self._writer.write(frames.encode(step))
                await self._writer.drain()  # a gateway that reads slowly holds this writer only
        except ConnectionError:
            pass  # the reader sees the end too and cancels the streams
