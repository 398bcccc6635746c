"""The stand-in's paged KV cache: fixed blocks of tokens, reference-counted, with prefix caching by
block hash, as vLLM's KV-cache manager keeps it.

A full block is known by the hash of its tokens chained to its parent's hash, so two prompts that
share their first k full blocks share those blocks. A block no request holds stays cached until it
is taken for new tokens; the free list hands out the least recently freed first.
"""

from collections import OrderedDict


class BlockCache:
    def __init__(self, num_blocks: int, block_size: int):
        if num_blocks < 1 or block_size < 1:
            raise ValueError(f"a KV cache needs blocks: {num_blocks} blocks of {block_size} tokens")
        self.num_blocks, self.block_size = num_blocks, block_size
        self._refs = [0] * num_blocks
        self._free: OrderedDict[int, None] = OrderedDict.fromkeys(range(num_blocks))  # eviction order
        self._hash_of: dict[int, int] = {}  # block -> the hash it is cached under
        self._block_of: dict[int, int] = {}  # hash -> block
        self.queries = self.hits = 0  # prompt tokens looked up, and found, since start

    @property
    def free_blocks(self) -> int:
        return len(self._free)

    def usage(self) -> float:
        return 1.0 - len(self._free) / self.num_blocks

    def blocks_for(self, tokens: int) -> int:
        return -(-tokens // self.block_size)

    def hashes(self, token_ids: list[int], parent: int | None = None, start: int = 0) -> list[int]:
        """Chained hashes of the full blocks of `token_ids` from block `start` on."""
        out, bs = [], self.block_size
        for i in range(start, len(token_ids) // bs):
            parent = hash((parent, tuple(token_ids[i * bs:(i + 1) * bs])))
            out.append(parent)
        return out

    def lookup(self, hashes: list[int], tokens: int) -> list[int]:
        """The cached blocks of the longest prefix of `hashes`, held for the caller (give them back with
        `release`). At least the last of `tokens` is left to compute: the engine must run it to sample."""
        limit = (tokens - 1) // self.block_size
        found = []
        for h in hashes[:limit]:
            block = self._block_of.get(h)
            if block is None:
                break
            found.append(block)
        for block in found:
            self._hold(block)
        return found

    def count(self, tokens: int, hit_tokens: int) -> None:
        """Adds an admitted prompt to the prefix-cache totals."""
        self.queries += tokens
        self.hits += hit_tokens

    def allocate(self, held: list[int], tokens: int) -> bool:
        """Grows `held` to cover `tokens`; False, taking nothing, if too few blocks are free."""
        need = self.blocks_for(tokens) - len(held)
        if need <= 0:
            return True
        if need > len(self._free):
            return False
        for _ in range(need):
            block, _ = self._free.popitem(last=False)
            self._forget(block)
            self._refs[block] = 1
            held.append(block)
        return True

    def cache(self, held: list[int], hashes: list[int], first: int) -> None:
        """Records the hashes of blocks `first`.. of `held` that are now full of computed tokens."""
        for i in range(first, len(hashes)):
            block, h = held[i], hashes[i]
            if h not in self._block_of and block not in self._hash_of:
                self._block_of[h], self._hash_of[block] = block, h

    def release(self, held: list[int]) -> None:
        """Lets go of a request's blocks, last block first, so that a prompt's tail is evicted before its head."""
        for block in reversed(held):
            self._refs[block] -= 1
            if self._refs[block] == 0:
                self._free[block] = None
        held.clear()

    def _hold(self, block: int) -> None:
        if self._refs[block] == 0:
            del self._free[block]
        self._refs[block] += 1

    def _forget(self, block: int) -> None:
        h = self._hash_of.pop(block, None)
        if h is not None:
            del self._block_of[h]
