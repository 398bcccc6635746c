"""Small factories for routing tests: candidates and requests as plain data."""

from cluster.router.policy import Candidate, RouteRequest
from cluster.router.profile import load_policies

load_policies()


def candidate(rid: str, in_flight: int = 0, waiting: int = 0, kv: float | None = 0.1, fresh: bool = True,
              block_size: int = 4, kv_blocks: int = 0) -> Candidate:
    return Candidate(rid, in_flight=in_flight, waiting=waiting if fresh else 0, kv_cache_usage=kv if fresh else None,
                     fresh=fresh, block_size=block_size, kv_blocks=kv_blocks)


def request(tokens=(), session: str = "", rid: str = "r") -> RouteRequest:
    return RouteRequest(rid, list(tokens), session_id=session)
