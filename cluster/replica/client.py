"""The gateway's end of the token channel: one TCP connection per replica, shared by all of this
gateway's requests to it; transport errors out as domain ones.

The connection is opened on a replica's first request, with the address and secret its actor's
`channel()` gives through Ray, and lives until either side closes it: the replica stopping or
dying closes it, and every stream still on it fails with `ReplicaDied`.
"""

import asyncio
import collections
import contextlib
import functools
import logging
import socket

from ray.exceptions import RayError

from cluster.errors import InvalidRequest
from cluster.replica import frames
from cluster.types import EngineRequest, TokenChunk

log = logging.getLogger(__name__)

OPEN_TIMEOUT_S = 10.0


class ReplicaDied(Exception):
    """The replica's actor is gone; its other requests fail too."""


class ReplicaFailed(Exception):
    """The replica is alive but its engine failed this request for a reason of its own."""


class ReplicaDraining(Exception):
    """The replica is being removed and takes no new request; another replica should serve it.
    Raised by the replica actor, passed on as is by the client."""


_FAILURES = {frames.INVALID: lambda m: InvalidRequest(f"the engine rejected the request: {m}"),
             frames.DRAINING: ReplicaDraining, frames.FAILED: ReplicaFailed}


class Channels:
    """This gateway's connections to the replicas' token channels, by replica id."""

    def __init__(self):
        self._open: dict[str, Connection] = {}
        self._opening: dict[str, asyncio.Task] = {}

    async def stream(self, replica_id: str, handle, request: EngineRequest):
        """Yields the request's `TokenChunk`s; leaving early cancels it in the replica.

        Raises `InvalidRequest` when the engine rejects the request (retrying it elsewhere fails
        the same way), `ReplicaDraining` when the replica is being removed, `ReplicaDied` when it
        cannot be reached or its connection ends, `ReplicaFailed` otherwise. The caller bounds the
        whole stream with the request's deadline.
        """
        connection = await self._connection(replica_id, handle)
        async with contextlib.aclosing(connection.stream(request)) as chunks:  # its `finally` cancels now
            async for chunk in chunks:
                yield chunk

    async def close(self) -> None:
        for task in self._opening.values():
            task.cancel()
        for connection in list(self._open.values()):
            await connection.close()

    async def _connection(self, replica_id: str, handle) -> "Connection":
        connection = self._open.get(replica_id)
        if connection is not None and not connection.closed:
            return connection
        opening = self._opening.get(replica_id)
        if opening is None:
            opening = asyncio.get_running_loop().create_task(Connection.open(handle))
            self._opening[replica_id] = opening
            opening.add_done_callback(lambda task: self._opened(replica_id, task))
        try:
            return await asyncio.shield(opening)
        except (RayError, OSError, TimeoutError, asyncio.IncompleteReadError) as exc:
            raise ReplicaDied(f"the replica's token channel cannot be reached ({type(exc).__name__})") from None

    def _opened(self, replica_id: str, task: asyncio.Task) -> None:
        self._opening.pop(replica_id, None)
        if not task.cancelled() and task.exception() is None:
            connection: Connection = task.result()
            self._open[replica_id] = connection
            connection.on_close = functools.partial(self._closed, replica_id, connection)

    def _closed(self, replica_id: str, connection: "Connection") -> None:
        if self._open.get(replica_id) is connection:
            del self._open[replica_id]


class Connection:
    """One replica's channel: submits streams, and a reader task hands each frame's chunks out."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self._reader, self._writer = reader, writer
        self._streams: dict[int, _Inbox] = {}
        self._next_stream = 0
        self.closed = False
        self.on_close = lambda: None
        self._reading = asyncio.get_running_loop().create_task(self._read_forever())

    @classmethod
    async def open(cls, handle) -> "Connection":
        address = await asyncio.wait_for(handle.channel.remote(), OPEN_TIMEOUT_S)
        reader, writer = await asyncio.wait_for(asyncio.open_connection(address.host, address.port), OPEN_TIMEOUT_S)
        writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        writer.write(frames.encode(frames.Hello(address.secret)))
        return cls(reader, writer)

    async def stream(self, request: EngineRequest):
        if self.closed:
            raise ReplicaDied("the replica's token channel is closed")
        stream, self._next_stream = self._next_stream, self._next_stream + 1
        inbox = self._streams[stream] = _Inbox()
        finished = False
        try:
            try:
                self._writer.write(frames.encode(frames.Submit(stream, request)))
                await self._writer.drain()
            except ConnectionError:  # the replica went away before the reader noticed
                raise ReplicaDied("the replica closed its token channel") from None
            while not finished:
                chunk = await inbox.take()
                finished = chunk.finish is not None
                yield chunk
        finally:
            self._streams.pop(stream, None)
            if not finished and not self.closed:
                self._writer.write(frames.encode(frames.Cancel(stream)))  # no wait: the caller may be cancelled

    async def close(self) -> None:
        self._reading.cancel()
        await asyncio.gather(self._reading, return_exceptions=True)

    async def _read_forever(self) -> None:
        why = "the replica closed its token channel"
        try:
            while True:
                step: frames.Step = await frames.read(self._reader, frames.TO_GATEWAY)
                for stream, token_ids, finish in step.chunks:
                    inbox = self._streams.get(stream)
                    if inbox is not None:  # else cancelled by its caller: the replica aborts it
                        inbox.put(TokenChunk(token_ids, finish))
                for stream, kind, message in step.failures:
                    inbox = self._streams.get(stream)
                    if inbox is not None:
                        inbox.put(_FAILURES.get(kind, ReplicaFailed)(message))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        except frames.FrameError as exc:
            why = f"the replica's token channel broke the protocol: {exc}"
            log.error("%s", why)
        finally:
            self.closed = True
            self.on_close()
            for inbox in self._streams.values():
                inbox.put(ReplicaDied(why))
            self._writer.close()


class _Inbox:
    """One stream's chunks as the reader hands them out; it holds at most the request's max_tokens."""

    def __init__(self):
        self._items: collections.deque[TokenChunk | Exception] = collections.deque()
        self._ready = asyncio.Event()

    def put(self, item: TokenChunk | Exception) -> None:
        self._items.append(item)
        self._ready.set()

    async def take(self) -> TokenChunk:
        """The next chunk, joined with those already waiting behind it: a consumer that fell behind
        (a slow client) catches up in one chunk instead of one per engine step. Raises the failure
        that ends the stream once the chunks before it are taken."""
        await self._ready.wait()
        first = self._items.popleft()
        if isinstance(first, Exception):
            raise first
        last, token_ids = first, None
        while last.finish is None and self._items and isinstance(self._items[0], TokenChunk):
            last = self._items.popleft()
            if token_ids is None:
                token_ids = list(first.token_ids)
            token_ids.extend(last.token_ids)
        if not self._items:
            self._ready.clear()
        return first if token_ids is None else TokenChunk(token_ids, last.finish)
