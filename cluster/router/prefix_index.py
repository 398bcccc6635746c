"""Which prompt prefixes each replica probably holds in its KV cache, as chained block hashes.

A prompt is cut into blocks of the engine's KV block size; block i's hash covers block i and,
through block i-1's hash, everything before it, so equal hashes mean equal prefixes (as in vLLM's
own prefix cache). Only full blocks count: the engine caches nothing smaller.

The index is a guess kept by one gateway: it records where this gateway sent each prompt and
forgets least-recently-used blocks once a replica holds more than its bound (the smaller of the
configured bound and the engine's own KV capacity), as the engine would evict them.
"""

from collections import OrderedDict
from collections.abc import Sequence


def block_hashes(token_ids: Sequence[int], block_size: int) -> list[int]:
    """Chained hashes of the full blocks of `token_ids`.

    Python hashes tuples of ints the same way in every process, so gateways agree on them.
    """
    hashes, previous = [], 0
    for end in range(block_size, len(token_ids) + 1, block_size):
        previous = hash((previous, *token_ids[end - block_size:end]))
        hashes.append(previous)
    return hashes


class PrefixIndex:
    """Per replica, an LRU set of block hashes with a bound on its size."""

    def __init__(self, max_blocks_per_replica: int):
        self._max_blocks = max_blocks_per_replica
        self._blocks: dict[str, OrderedDict[int, None]] = {}
        self._capacity: dict[str, int] = {}

    def set_engine_capacity(self, replica_id: str, kv_blocks: int) -> None:
        """Bounds a replica's entries by its engine's KV-cache size too (0: unknown, no extra bound)."""
        if kv_blocks > 0 and self._capacity.get(replica_id) != kv_blocks:
            self._capacity[replica_id] = kv_blocks
            self._evict(replica_id)

    def matched_blocks(self, replica_id: str, hashes: Sequence[int]) -> int:
        """How many leading blocks of the prompt the replica holds."""
        blocks = self._blocks.get(replica_id)
        if not blocks:
            return 0
        count = 0
        for h in hashes:
            if h not in blocks:
                break
            count += 1
        return count

    def insert(self, replica_id: str, hashes: Sequence[int]) -> None:
        """Records that the replica now holds the prompt's blocks."""
        if not hashes:
            return
        blocks = self._blocks.setdefault(replica_id, OrderedDict())
        # Touch the last block first, so a prefix outlives its own continuations: when space runs
        # out, tails go before the heads that other prompts share (vLLM evicts in the same order).
        for h in reversed(hashes):
            blocks[h] = None
            blocks.move_to_end(h)
        self._evict(replica_id)

    def forget(self, replica_id: str) -> None:
        self._blocks.pop(replica_id, None)
        self._capacity.pop(replica_id, None)

    def replicas(self) -> set[str]:
        return set(self._blocks)

    def size(self, replica_id: str | None = None) -> int:
        """Entries held, for one replica or in all."""
        if replica_id is not None:
            return len(self._blocks.get(replica_id, ()))
        return sum(len(b) for b in self._blocks.values())

    def _evict(self, replica_id: str) -> None:
        blocks = self._blocks.get(replica_id)
        if blocks is None:
            return
        bound = min(self._max_blocks, self._capacity.get(replica_id, self._max_blocks))
        while len(blocks) > bound:
            blocks.popitem(last=False)
