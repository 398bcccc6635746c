"""The replica: a detached Ray actor owning one engine, streaming token-id chunks to the gateways
over its token channel (`channel_server.py`); Ray carries the control calls.

Replicas are detached and named `replica-<id>` in the cluster's namespace (`replica-<id>.<rank>` for
the ranks of an expert-parallel group), so they outlive the controller that created them; a restarted
controller finds them by name and asks each `info()`.
"""

import asyncio
import dataclasses
import logging
import os
import socket
import time

import psutil
import ray
from ray.util import get_node_ip_address

from cluster.replica import engine
from cluster.replica.channel_server import ChannelAddress, ChannelServer
from cluster.replica.client import ReplicaDraining
from cluster.replica.progress import Progress
from cluster.types import EngineRequest, ReplicaInfo, ReplicaLoad

log = logging.getLogger(__name__)

ACTOR_NAME_PREFIX = "replica-"
SHUTDOWN_TIMEOUT_S = 10.0


def actor_name(replica_id: str, rank: int = 0, ranks: int = 1) -> str:
    return f"{ACTOR_NAME_PREFIX}{replica_id}" + (f".{rank}" if ranks > 1 else "")


def parse_actor_name(name: str) -> tuple[str, int] | None:
    """(replica id, rank) of a replica actor's name; None for another actor's."""
    if not name.startswith(ACTOR_NAME_PREFIX):
        return None
    replica_id, _, rank = name.removeprefix(ACTOR_NAME_PREFIX).partition(".")
    if rank and not rank.isdigit():
        return None
    return replica_id, int(rank or 0)


@ray.remote(max_restarts=0, max_task_retries=0)
class ReplicaActor:
    """One engine behind Ray calls. The controller creates it and calls `start` before routing to it."""

    def __init__(self, replica_id: str, slot: int, template: str, engine_kind: str, settings, rank: int = 0,
                 ranks: int = 1):
        self._info = ReplicaInfo(replica_id=replica_id, slot=slot, template=template,
                                 node_id=ray.get_runtime_context().get_node_id(), pid=os.getpid(),
                                 created_at=time.time(), started=False, draining=False, rank=rank, ranks=ranks)
        self._kind, self._settings = engine_kind, settings
        # A rank of an expert-parallel group builds its engine at start, once it knows where rank 0 is.
        self._engine = engine.build(engine_kind, settings) if ranks == 1 else None
        self._starting: asyncio.Task | None = None
        self._meeting_point: tuple[str, int] | None = None
        self._progress = Progress()
        self._channel = ChannelServer(self._generate, get_node_ip_address())

    async def info(self) -> ReplicaInfo:
        """Answers as soon as the actor is placed on a node (a pending actor does not answer)."""
        return self._info

    async def meeting_point(self) -> tuple[str, int]:
        """Called on rank 0 of a group before any rank starts: this node's address and a port free on it
        now, where the ranks' engines meet (`engine.Rank`). The same answer every time, so that a restarted
        controller gives the ranks it starts the point the others already have."""
        if self._meeting_point is None:
            with socket.socket() as s:
                s.bind(("", 0))
                self._meeting_point = get_node_ip_address(), s.getsockname()[1]
        return self._meeting_point

    async def start(self, meeting_point: tuple[str, int] | None = None) -> str:
        """Loads the model; returns the replica id once it can serve. Idempotent: a restarted
        controller calls it again on a replica its predecessor was starting. A rank of a group is
        given rank 0's `meeting_point` (the first call's is kept)."""
        if self._starting is None:
            if self._engine is None:
                address, port = meeting_point or ("", 0)
                if not address:
                    raise RuntimeError(f"rank {self._info.rank} of replica {self._info.replica_id} started "
                                       "without rank 0's meeting point")
                rank = engine.Rank(self._info.rank, self._info.ranks, address, port)
                self._engine = engine.build(self._kind, engine.engine_class(self._kind).for_rank(self._settings, rank))
            self._starting = asyncio.get_running_loop().create_task(self._engine.start())
        await asyncio.shield(self._starting)
        self._info = dataclasses.replace(self._info, started=True)
        return self._info.replica_id

    async def channel(self) -> ChannelAddress:
        """Where a gateway connects for token streams, and the secret it must present; the server
        listens from the first call on."""
        return await self._channel.start()

    async def _generate(self, request: EngineRequest):
        """Streams a request's token chunks to the channel.

        Raises `ReplicaDraining` before any token when the replica is being removed. A gateway that
        stops early cancels the channel's task: the CancelledError, or the GeneratorExit of a closed
        stream, passes through the engine's generator, which aborts the engine request.
        """
        if self._info.draining:
            raise ReplicaDraining(f"replica {self._info.replica_id} is draining")
        stream = self._engine.generate(request)
        self._progress.begin()
        try:
            async for chunk in stream:
                if chunk.token_ids:
                    self._progress.advanced()
                yield chunk
        except (asyncio.CancelledError, GeneratorExit):
            log.debug("request %s cancelled by its caller", request.request_id)
            raise
        finally:
            self._progress.end()
            await stream.aclose()

    async def load(self) -> ReplicaLoad:
        """The engine's load and the actor's own progress (the gateways' load polls)."""
        load = self._engine.load() if self._engine is not None else ReplicaLoad()
        return dataclasses.replace(load, active=self._progress.active,
                                   stalled_s=self._progress.stalled_s())

    async def probe(self) -> ReplicaLoad:
        """The controller's probe, one call: raises if the engine cannot serve; its load otherwise."""
        if self._engine is None:
            raise RuntimeError("the engine was never started")
        await self._engine.check_health()
        return await self.load()

    async def drain(self) -> None:
        """From now on new requests are refused with `ReplicaDraining`; running streams go on."""
        self._info = dataclasses.replace(self._info, draining=True)

    async def stop(self) -> None:
        """Frees the engine. An engine process that does not exit in time (frozen, stuck in a
        kernel) is killed, so that nothing outlives the actor."""
        await self._channel.close()
        try:
            if self._engine is not None:
                await asyncio.wait_for(asyncio.to_thread(self._engine.shutdown), SHUTDOWN_TIMEOUT_S)
        except Exception as exc:
            log.warning("replica %s: engine shutdown failed (%s); killing its processes", self._info.replica_id, exc)
        for child in psutil.Process().children(recursive=True):
            try:
                child.kill()
            except psutil.Error:
                pass
