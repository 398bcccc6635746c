"""The engine seam: what a replica actor needs from an inference engine, and engines by name.

`engine.kind` in cluster.yaml names the engine; each engine module registers its class with
`@register(name)`. The class is built from the settings its `settings_from(config, model_path,
tensor_parallel)` makes at planning time (and, for a rank of an expert-parallel group, that its
`for_rank(settings, rank)` makes when the group is placed), so the actor knows nothing but this protocol.
"""

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Protocol

from cluster.types import EngineRequest, ReplicaLoad, TokenChunk

HARMONY_STOP_TOKEN_IDS = (200002, 200012)  # <|return|>, <|call|>; never <|end|>


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


@dataclass(frozen=True)
class Rank:
    """One rank of an expert-parallel group, as its engine needs it once the group is placed."""

    index: int
    size: int
    master_address: str  # rank 0's node: where the ranks meet (vLLM's data-parallel master)
    rpc_port: int  # a free port on that node, for rank 0's handshake with the other ranks


class EngineError(ValueError):
    """An engine name that is not registered; the message lists the registered ones."""


_REGISTRY: dict[str, Callable] = {}


def register(name: str):
    """Class decorator: makes the engine class buildable as `engine.kind: name`.

    The class takes one settings object; its classmethod `settings_from(config, model_path,
    tensor_parallel)` makes that object from the validated config (raising ConfigError for what only
    the engine can check); its classmethod `for_rank(settings, rank)` returns the settings of one
    `Rank` of an expert-parallel group; and its `resources` attribute says what a replica asks
    Ray for ("device": CPU cores or GPUs as the layout needs them; "none": a stand-in that computes
    nothing).
    """

    def add(cls):
        if name in _REGISTRY:
            raise EngineError(f"engine {name!r} is registered twice")
        _REGISTRY[name] = cls
        return cls

    return add


def engine_class(name: str):
    import cluster.replica.engines  # noqa: F401  (the built-in engines register themselves)

    cls = _REGISTRY.get(name)
    if cls is None:
        raise EngineError(f"{name!r} is not an engine; registered: {', '.join(registered())}")
    return cls


def registered() -> list[str]:
    import cluster.replica.engines  # noqa: F401

    return sorted(_REGISTRY)


def build(name: str, settings) -> Engine:
    return engine_class(name)(settings)
