"""The stand-in's scheduler: vLLM v1's step loop, reduced to what decides time and memory.

Each step first gives the running sequences their next tokens (one to decode, or the next chunk of
a prefill), preempting the latest of the lowest priority when the KV cache is out of blocks, then,
if nothing was preempted, admits waiting sequences in priority order while the step's token budget,
`max_num_seqs` and free blocks allow, looking their prompts up in the prefix cache. A preempted
sequence frees its blocks and computes everything again when readmitted (vLLM's recompute). A
sequence whose tokens are all computed samples one token.
"""

import heapq
from dataclasses import dataclass, field

from cluster.replica.engines.simulated.blocks import BlockCache


@dataclass(eq=False)
class Sequence:
    request_id: str
    token_ids: list[int]  # the prompt, then the tokens sampled so far
    prompt_len: int
    priority: int = 0
    arrival: int = 0  # order of arrival; ties of priority go first come, first served
    computed: int = 0  # tokens whose KV is in the cache
    blocks: list[int] = field(default_factory=list)
    hashes: list[int] = field(default_factory=list)  # of the full blocks of token_ids
    cached_blocks: int = 0  # blocks recorded in the prefix cache
    preemptions: int = 0
    done: bool = False  # finished or aborted: it left the scheduler

    @property
    def output_len(self) -> int:
        return len(self.token_ids) - self.prompt_len


@dataclass(frozen=True)
class Step:
    """What one engine step computes: (sequence, tokens) pairs, and the figures its time depends on."""

    work: tuple[tuple[Sequence, int], ...]
    prefill_tokens: int  # tokens of sequences still prefilling
    decode_seqs: int  # sequences computing their one newest token
    context_tokens: int  # KV the step's attention reads: the sequences' lengths after the step

    @property
    def empty(self) -> bool:
        return not self.work


class Scheduler:
    def __init__(self, cache: BlockCache, max_num_seqs: int, max_num_batched_tokens: int):
        self.cache = cache
        self.max_num_seqs, self.max_num_batched_tokens = max_num_seqs, max_num_batched_tokens
        self.running: list[Sequence] = []
        self._waiting: list[tuple[int, int, Sequence]] = []  # heap by (priority, arrival)
        self._arrivals = 0
        self.preemptions = 0

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def has_work(self) -> bool:
        return bool(self.running or self._waiting)

    def add(self, seq: Sequence) -> None:
        seq.arrival, self._arrivals = self._arrivals, self._arrivals + 1
        heapq.heappush(self._waiting, (seq.priority, seq.arrival, seq))

    def remove(self, seq: Sequence) -> None:
        """A finished or aborted sequence leaves, freeing its blocks (they stay cached)."""
        seq.done = True
        if seq in self.running:
            self.running.remove(seq)
        else:
            entries = [e for e in self._waiting if e[2] is not seq]
            if len(entries) != len(self._waiting):
                self._waiting = entries
                heapq.heapify(self._waiting)
        self.cache.release(seq.blocks)

    def schedule(self) -> Step:
        budget, work, preempted = self.max_num_batched_tokens, [], False
        i = 0
        while i < len(self.running) and budget > 0:
            seq = self.running[i]
            n = min(len(seq.token_ids) - seq.computed, budget)
            while not self.cache.allocate(seq.blocks, seq.computed + n):
                victim = max(self.running, key=lambda s: (s.priority, s.arrival))
                preempted = True
                at = self.running.index(victim)
                self._preempt(victim)
                if victim is seq:
                    break
                if at < i:
                    i -= 1
                    budget += next(k for s, k in work if s is victim)
                    work = [(s, k) for s, k in work if s is not victim]
            else:
                work.append((seq, n))
                budget -= n
                i += 1
                continue
            break
        while not preempted and self._waiting and budget > 0 and len(self.running) < self.max_num_seqs:
            seq = self._waiting[0][2]
            self._refresh_hashes(seq)
            seq.blocks = self.cache.lookup(seq.hashes, len(seq.token_ids))
            seq.cached_blocks = len(seq.blocks)
            seq.computed = seq.cached_blocks * self.cache.block_size
            n = min(len(seq.token_ids) - seq.computed, budget)
            if not self.cache.allocate(seq.blocks, seq.computed + n):
                self.cache.release(seq.blocks)
                seq.computed = seq.cached_blocks = 0
                break
            self.cache.count(len(seq.token_ids), seq.computed)
            heapq.heappop(self._waiting)
            self.running.append(seq)
            work.append((seq, n))
            budget -= n
        prefill = sum(n for s, n in work if len(s.token_ids) - s.computed > 1 or s.output_len == 0)
        return Step(work=tuple(work), prefill_tokens=prefill,
                    decode_seqs=sum(1 for s, n in work if len(s.token_ids) - s.computed == 1 and s.output_len > 0),
                    context_tokens=sum(s.computed + n for s, n in work))

    def complete(self, step: Step) -> list[Sequence]:
        """Marks the step's tokens computed; returns the sequences that now sample a token."""
        sampling = []
        for seq, n in step.work:
            if seq.done:  # aborted while the step ran
                continue
            seq.computed += n
            self._refresh_hashes(seq)
            full = min(len(seq.hashes), seq.computed // self.cache.block_size)
            self.cache.cache(seq.blocks, seq.hashes[:full], seq.cached_blocks)
            seq.cached_blocks = max(seq.cached_blocks, full)
            if seq.computed == len(seq.token_ids):
                sampling.append(seq)
        return sampling

    def _preempt(self, seq: Sequence) -> None:
        self.running.remove(seq)
        self.cache.release(seq.blocks)
        seq.computed = seq.cached_blocks = 0
        seq.preemptions += 1
        self.preemptions += 1
        heapq.heappush(self._waiting, (seq.priority, seq.arrival, seq))

    def _refresh_hashes(self, seq: Sequence) -> None:
        parent = seq.hashes[-1] if seq.hashes else None
        seq.hashes.extend(self.cache.hashes(seq.token_ids, parent, start=len(seq.hashes)))
