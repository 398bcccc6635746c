"""`session-affinity`: requests with the same session id go to the same replica while it has room.

Consistent hashing with bounded loads: each replica owns `virtual_nodes` points on a hash ring; a
session goes to the first replica clockwise from its hash whose load is at most `load_factor` ×
the average load (rounded up, counting this request). When a replica joins or leaves, only the
sessions on its arcs move; a full replica passes its sessions to the next one on the ring. The
chosen candidate scores 1, the others 0; requests without a session id score 0 everywhere.

The hash is SHA-256, so every gateway maps a session to the same replica.

Parameters: `load_factor` (default 1.25, at least 1), `virtual_nodes` (default 100).
"""

import bisect
import hashlib
import math
from collections.abc import Sequence

from cluster.router.policy import Candidate, Kind, PolicyError, RouteRequest, Scorer, register


def stable_hash(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


@register(Kind.SCORER, "session-affinity")
class SessionAffinity(Scorer):
    def __init__(self, load_factor: float = 1.25, virtual_nodes: int = 100):
        if load_factor < 1:
            raise PolicyError(f"load_factor: {load_factor}; must be at least 1")
        if not 1 <= virtual_nodes <= 10000:
            raise PolicyError(f"virtual_nodes: {virtual_nodes} is out of range; allowed: 1 to 10000")
        self.load_factor, self.virtual_nodes = load_factor, virtual_nodes
        self._ring_of: frozenset[str] = frozenset()
        self._ring: list[tuple[int, str]] = []

    def score(self, request: RouteRequest, candidates: Sequence[Candidate]) -> list[float]:
        if not request.session_id:
            return [0.0] * len(candidates)
        chosen = self.owner(request.session_id, candidates)
        return [1.0 if c.replica_id == chosen else 0.0 for c in candidates]

    def owner(self, session_id: str, candidates: Sequence[Candidate]) -> str:
        """The replica the session belongs to now: its ring successor with room under the bound."""
        self._build_ring(frozenset(c.replica_id for c in candidates))
        load = {c.replica_id: c.load for c in candidates}
        bound = math.ceil(self.load_factor * (sum(load.values()) + 1) / len(load))
        start = bisect.bisect(self._ring, (stable_hash(session_id), ""))
        for step in range(len(self._ring)):
            replica_id = self._ring[(start + step) % len(self._ring)][1]
            if load[replica_id] + 1 <= bound:
                return replica_id
        return min(load, key=load.get)  # unreachable with load_factor >= 1; kept for safety

    def _build_ring(self, replica_ids: frozenset[str]) -> None:
        if replica_ids != self._ring_of:
            self._ring_of = replica_ids
            self._ring = sorted((stable_hash(f"{rid}#{v}"), rid) for rid in replica_ids
                                for v in range(self.virtual_nodes))
