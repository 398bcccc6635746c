"""The replica: a Ray actor owning one engine, streaming token-id chunks to the gateway."""

import asyncio
import logging

import ray

from cluster.replica.vllm_engine import VllmEngine, VllmSettings
from cluster.types import EngineRequest, ReplicaLoad

log = logging.getLogger(__name__)


@ray.remote(max_restarts=0, max_task_retries=0)
class ReplicaActor:
    """One engine behind Ray calls. The controller creates it and calls `start` before routing to it."""

    def __init__(self, replica_id: str, settings: VllmSettings):
        self.replica_id = replica_id
        self._engine = VllmEngine(settings)
        self._started = False

    async def start(self) -> str:
        """Loads the model; returns the replica id once it can serve."""
        await self._engine.start()
        self._started = True
        return self.replica_id

    async def generate(self, request: EngineRequest):
        """Streams token chunks; call with `num_returns="streaming"`.

        A caller that stops early cancels the task (`ray.cancel`): the CancelledError, or the
        GeneratorExit of a closed stream, passes through the engine's generator, which aborts the
        engine request.
        """
        stream = self._engine.generate(request)
        try:
            async for chunk in stream:
                yield chunk
        except (asyncio.CancelledError, GeneratorExit):
            log.debug("request %s cancelled by its caller", request.request_id)
            raise
        finally:
            await stream.aclose()

    async def load(self) -> ReplicaLoad:
        return self._engine.load()

    async def health(self) -> str:
        """Raises if the engine cannot serve; returns the replica id otherwise."""
        await self._engine.check_health()
        return self.replica_id

    async def stop(self) -> None:
        self._engine.shutdown()

