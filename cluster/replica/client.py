"""The gateway's side of the token channel to one replica actor: Ray in, domain errors out."""

import ray
from ray.exceptions import RayActorError, RayTaskError

from cluster.errors import InvalidRequest
from cluster.types import EngineRequest, TokenChunk


class ReplicaDied(Exception):
    """The replica's actor is gone; its other requests fail too."""


class ReplicaFailed(Exception):
    """The replica is alive but its engine failed this request for a reason of its own."""


class ReplicaDraining(Exception):
    """The replica is being removed and takes no new request; another replica should serve it.
    Raised by the replica actor, passed on as is by `stream_tokens`."""


async def stream_tokens(handle, request: EngineRequest):
    """Calls a replica's `generate` and yields its `TokenChunk`s; leaving early cancels the replica's task.

    Raises `InvalidRequest` when the engine rejects the request (retrying it elsewhere fails
    the same way), `ReplicaDraining` when the replica is being removed, `ReplicaDied` or
    `ReplicaFailed` otherwise. The caller bounds the whole
    stream with the request's deadline.
    """
    refs = handle.generate.options(num_returns="streaming").remote(request)
    try:
        async for ref in refs:
            chunk: TokenChunk = await ref
            yield chunk
    except RayActorError:
        raise ReplicaDied("the replica serving this request failed") from None
    except RayTaskError as exc:
        if isinstance(exc.cause, InvalidRequest):
            raise InvalidRequest(f"the engine rejected the request: {exc.cause}") from None
        if isinstance(exc.cause, ReplicaDraining):
            raise ReplicaDraining(str(exc.cause)) from None
        raise ReplicaFailed(f"{type(exc.cause).__name__}: {exc.cause}") from None
    finally:
        ray.cancel(refs)
