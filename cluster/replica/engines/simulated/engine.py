"""The stand-in engine: vLLM's scheduling and KV-cache behaviour with calibrated step times, and no model.

For control-plane experiments at a scale these machines cannot run for real (docs/scale.md); never
in place of vLLM in a test of serving. It computes nothing: each step sleeps for the time its
calibration gives, then every sequence that finished computing gets its next token of a seeded
Harmony reply. Structured-output constraints are not enforced.
"""

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

from cluster.config import ClusterConfig, ConfigError
from cluster.errors import InvalidRequest
from cluster.replica.engine import HARMONY_STOP_TOKEN_IDS, Rank, register
from cluster.replica.engines.simulated.blocks import BlockCache
from cluster.replica.engines.simulated.reply import Reply, reply_length
from cluster.replica.engines.simulated.scheduler import Scheduler, Sequence
from cluster.replica.engines.simulated.timing import Calibration, load_calibration
from cluster.types import EngineRequest, FinishReason, ReplicaLoad, TokenChunk

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SimulatedSettings:
    calibration: str
    max_model_len: int
    max_num_seqs: int
    max_num_batched_tokens: int
    kv_cache_dtype: str = "auto"
    reply_tokens: int = 256  # mean length of a reply that is not cut by max_tokens
    seed: int = 0
    time_scale: float = 1.0  # steps take this many times their calibrated time
    trace_file: str = ""  # where to append one JSON line per request; empty: none
    start_s: float | None = None  # how long starting takes; None: the calibration's


class _Stream:
    """One request's tokens between the step loop and its consumer: appended per step, taken all at once."""

    def __init__(self, request: EngineRequest, reply: Reply, arrival: float):
        self.request, self.reply, self.arrival = request, reply, arrival
        self.first_token_at: float | None = None
        self.sent = 0
        self.stops = frozenset(request.stop_token_ids + (() if request.ignore_eos else HARMONY_STOP_TOKEN_IDS))
        self.tokens: list[int] = []
        self.finish: FinishReason | None = None
        self.ready = asyncio.Event()

    def push(self, token: int, finish: FinishReason | None, now: float) -> None:
        if self.first_token_at is None:
            self.first_token_at = now
        self.sent += 1
        self.tokens.append(token)
        self.finish = finish
        self.ready.set()

    async def take(self) -> TokenChunk:
        await self.ready.wait()
        self.ready.clear()
        tokens, self.tokens = self.tokens, []
        return TokenChunk(token_ids=tokens, finish=self.finish)


@register("simulated")
class SimulatedEngine:
    """See `cluster.replica.engine.Engine`."""

    resources = "none"  # it computes nothing: many fit on one machine

    @classmethod
    def settings_from(cls, config: ClusterConfig, model_path: str, tensor_parallel: int) -> SimulatedSettings:
        """Raises ConfigError for a calibration that does not exist or whose KV cache is too small."""
        e, s = config.engine, config.engine.simulated
        settings = SimulatedSettings(calibration=s.calibration, max_model_len=e.max_model_len,
                                     max_num_seqs=e.max_num_seqs, max_num_batched_tokens=e.max_num_batched_tokens,
                                     kv_cache_dtype=e.kv_cache_dtype, reply_tokens=s.reply_tokens, seed=s.seed,
                                     time_scale=s.time_scale, trace_file=s.trace_file, start_s=s.start_s)
        _kv_tokens(load_calibration(s.calibration), settings)
        return settings

    @classmethod
    def for_rank(cls, settings: SimulatedSettings, rank: Rank) -> SimulatedSettings:
        """Each rank a stand-in of its own with the calibration's KV cache: ranks do not step in
        lockstep here as vLLM's do (docs/layouts.md)."""
        return settings

    def __init__(self, settings: SimulatedSettings):
        self._settings = settings
        self._calibration: Calibration | None = None
        self._scheduler: Scheduler | None = None
        self._streams: dict[Sequence, _Stream] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._load = ReplicaLoad()
        self._trace = None

    async def start(self) -> None:
        s = self._settings
        self._calibration = calibration = load_calibration(s.calibration)
        tokens = _kv_tokens(calibration, s)
        start_s = calibration.start_s if s.start_s is None else s.start_s
        await asyncio.sleep(start_s * s.time_scale)  # a real engine loads before it serves
        cache = BlockCache(tokens // calibration.block_size, calibration.block_size)
        self._scheduler = Scheduler(cache, s.max_num_seqs, s.max_num_batched_tokens)
        self._loop = asyncio.get_running_loop()
        if s.trace_file:
            self._trace = open(s.trace_file, "a", buffering=1)  # a line per request, written as it ends
        self._task = self._loop.create_task(self._run())
        self._publish()

    async def generate(self, request: EngineRequest) -> AsyncIterator[TokenChunk]:
        s = self._settings
        prompt = len(request.prompt_token_ids)
        if not 0 < prompt < s.max_model_len:
            raise InvalidRequest(f"the prompt has {prompt} tokens; this engine takes 1 to {s.max_model_len - 1}")
        if request.max_tokens < 1:
            raise InvalidRequest(f"max_tokens must be at least 1, got {request.max_tokens}")
        seed = f"{s.seed}:{request.seed if request.seed is not None else request.request_id}"
        stream = _Stream(request, Reply(seed, reply_length(seed, s.reply_tokens, request.min_tokens)),
                         time.monotonic())
        seq = Sequence(request.request_id, list(request.prompt_token_ids), prompt, priority=request.priority)
        self._streams[seq] = stream
        self._scheduler.add(seq)
        self._wake.set()
        finished = False
        try:
            while not finished:
                chunk = await stream.take()
                finished = chunk.finish is not None
                yield chunk
        finally:
            if not finished:  # the caller went away: free the sequence's slot and blocks
                self._leave(seq)

    def load(self) -> ReplicaLoad:
        return self._load

    async def check_health(self) -> None:
        if self._task is None:
            raise RuntimeError("engine not started")
        if self._task.done():
            why = "stopped" if self._task.cancelled() else self._task.exception()
            raise RuntimeError(f"the step loop ended: {why}")

    def shutdown(self) -> None:
        if self._task is not None and self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._task.cancel)
        if self._trace is not None:
            self._loop.call_soon_threadsafe(self._trace.close)

    async def _run(self) -> None:
        loop, scheduler, calibration = self._loop, self._scheduler, self._calibration
        scale = self._settings.time_scale
        clock = loop.time()
        while True:
            if not scheduler.has_work():
                self._publish()
                self._wake.clear()
                await self._wake.wait()
                clock = loop.time()
            step = scheduler.schedule()
            if step.empty:  # every waiting sequence wants more blocks than are free right now
                await asyncio.sleep(0.001)
                continue
            clock = max(clock, loop.time()) + scale * calibration.step_time(step.prefill_tokens, step.decode_seqs,
                                                                            step.context_tokens)
            await asyncio.sleep(max(0.0, clock - loop.time()))
            for seq in scheduler.complete(step):
                stream = self._streams.get(seq)
                if stream is None:
                    continue
                token = stream.reply.token(seq.output_len)
                seq.token_ids.append(token)
                finish = self._finish(seq, stream, token)
                stream.push(token, finish, time.monotonic())
                if finish is not None:
                    self._leave(seq)
            self._publish()

    def _finish(self, seq: Sequence, stream: _Stream, token: int) -> FinishReason | None:
        """vLLM's order: nothing stops before min_tokens; then a stop token; then the length limits."""
        out = seq.output_len
        if out < stream.request.min_tokens:
            return None
        if token in stream.stops:
            return FinishReason.STOP
        if out >= stream.request.max_tokens or len(seq.token_ids) >= self._settings.max_model_len:
            return FinishReason.LENGTH
        return None

    def _leave(self, seq: Sequence) -> None:
        stream = self._streams.pop(seq, None)
        if stream is not None:
            self._scheduler.remove(seq)
            self._publish()
            if self._trace is not None and not self._trace.closed:
                self._write_trace(stream, seq)

    def _write_trace(self, stream: _Stream, seq: Sequence) -> None:
        """Times are time.monotonic(): the same clock in every process of this machine (the loop's may be
        another's, or coarser)."""
        r = stream.request
        self._trace.write(json.dumps({
            "request_id": r.request_id, "seed": r.seed, "prompt_tokens": seq.prompt_len, "output_tokens": stream.sent,
            "arrival": stream.arrival, "first_token": stream.first_token_at, "ended": time.monotonic(),
            "finish": stream.finish.value if stream.finish else "aborted", "preemptions": seq.preemptions}) + "\n")

    def _publish(self) -> None:
        scheduler = self._scheduler
        cache = scheduler.cache
        self._load = ReplicaLoad(running=len(scheduler.running), waiting=scheduler.waiting,
                                 kv_cache_usage=cache.usage(), prefix_cache_queries=cache.queries,
                                 prefix_cache_hits=cache.hits, block_size=cache.block_size,
                                 kv_blocks=cache.num_blocks)


def _kv_tokens(calibration: Calibration, settings: SimulatedSettings) -> int:
    tokens = calibration.kv_tokens(settings.kv_cache_dtype)
    if tokens < settings.max_model_len:
        raise ConfigError(f"engine.max_model_len: {settings.max_model_len} is more than the {tokens} tokens the KV "
                          f"cache of calibration {calibration.name} holds; lower it")
    return tokens
