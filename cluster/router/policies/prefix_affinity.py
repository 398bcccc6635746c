"""`prefix-affinity`: send a prompt where its longest prefix is already in the KV cache.

Scores a candidate by the share of the prompt's full blocks it holds (per the gateway's
`PrefixIndex`), so a request sharing a long system prompt or an earlier turn of its conversation
goes where that prefix need not be computed again. After each decision the prompt's blocks are
recorded for the chosen replica.

Balanced against load: a candidate whose load exceeds `balance_rel` × the lowest load plus
`balance_abs` scores 0, so one hot prefix spills to other replicas (which then cache it too)
instead of queueing on one.

Parameters: `max_blocks_per_replica` (index bound per replica, default 65,536 blocks; the engine's
own KV capacity bounds it further), `balance_abs` (default 4 requests), `balance_rel` (default 1.5).
"""

from collections.abc import Sequence

from cluster.router.policy import Candidate, Kind, PolicyError, RouteRequest, Scorer, register
from cluster.router.prefix_index import PrefixIndex


@register(Kind.SCORER, "prefix-affinity")
class PrefixAffinity(Scorer):
    def __init__(self, max_blocks_per_replica: int = 65536, balance_abs: float = 4, balance_rel: float = 1.5):
        if not 1 <= max_blocks_per_replica <= 1 << 26:
            raise PolicyError(f"max_blocks_per_replica: {max_blocks_per_replica} is out of range; allowed: 1 to "
                              f"{1 << 26}")
        if balance_abs < 0 or balance_rel < 1:
            raise PolicyError("balance_abs must be >= 0 and balance_rel >= 1")
        self.index = PrefixIndex(max_blocks_per_replica)
        self.balance_abs, self.balance_rel = balance_abs, balance_rel
        self._block_size: dict[str, int] = {}

    def score(self, request: RouteRequest, candidates: Sequence[Candidate]) -> list[float]:
        lowest = min(c.load for c in candidates)
        scores = []
        for c in candidates:
            self._block_size[c.replica_id] = c.block_size
            self.index.set_engine_capacity(c.replica_id, c.kv_blocks)
            hashes = request.block_hashes(c.block_size)
            if not hashes or c.load > self.balance_rel * lowest + self.balance_abs:
                scores.append(0.0)
            else:
                scores.append(self.index.matched_blocks(c.replica_id, hashes) / len(hashes))
        return scores

    def routed(self, request: RouteRequest, replica_id: str) -> None:
        block_size = self._block_size.get(replica_id)
        if block_size:
            self.index.insert(replica_id, request.block_hashes(block_size))

    def forget(self, replica_id: str) -> None:
        self.index.forget(replica_id)
        self._block_size.pop(replica_id, None)
