"""The engine seam: what a replica actor needs from an inference engine."""

from collections.abc import AsyncIterator
from typing import Protocol

from cluster.types import EngineRequest, ReplicaLoad, TokenChunk


class Engine(Protocol):
    async def start(self) -> None:
        """Called once by the replica actor before any request; loads the model. May raise if it cannot."""

    def generate(self, request: EngineRequest) -> AsyncIterator[TokenChunk]:
        """Called per request; yields token-id chunks, the last with `finish` set.

        Closing or cancelling the iterator must abort the request inside the engine, freeing its slot.
        Raises `cluster.errors.InvalidRequest` for a request the engine rejects (bad grammar, out-of-range
        parameter): the gateway reports it to the caller and does not retry it on another replica.
        """

    def load(self) -> ReplicaLoad:
        """Called often (by load probes); returns the latest load without blocking."""

    async def check_health(self) -> None:
        """Called by health probes; raises if the engine can no longer serve."""

    def shutdown(self) -> None:
        """Called once when the replica stops; frees the engine's processes and memory."""
