"""The vLLM adapter: one AsyncLLM, token ids in, token-id deltas out."""

import asyncio
import dataclasses
import functools
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from cluster.config import ClusterConfig
from cluster.errors import InvalidRequest
from cluster.replica.engine import HARMONY_STOP_TOKEN_IDS, Rank, register
from cluster.types import EngineRequest, FinishReason, ReplicaLoad, TokenChunk

log = logging.getLogger(__name__)

# vLLM's name for the project's dummy loader (cluster/replica/engines/shape_loader.py): random weights
# filled so that expert routing is realistic. `model.load_format: dummy` in cluster.yaml selects it.
SHAPE_LOAD_FORMAT = "oss-shape-dummy"


@dataclass(frozen=True)
class VllmSettings:
    """The engine arguments a replica passes to vLLM, from the validated config."""

    model: str
    served_model_name: str
    max_model_len: int
    max_num_seqs: int
    max_num_batched_tokens: int
    enforce_eager: bool
    kv_cache_dtype: str = "auto"
    gpu_memory_utilization: float = 0.9
    kv_cache_memory_bytes: int | None = None
    tensor_parallel_size: int = 1
    load_format: str = "auto"
    data_parallel_size: int = 1  # the ranks of an expert-parallel group (docs/layouts.md)
    data_parallel_rank: int = 0
    data_parallel_address: str = ""  # rank 0's node; set per rank once the group is placed
    data_parallel_rpc_port: int = 0

    def engine_args(self) -> dict:
        args = dict(
            model=self.model, served_model_name=self.served_model_name, max_model_len=self.max_model_len,
            max_num_seqs=self.max_num_seqs, max_num_batched_tokens=self.max_num_batched_tokens,
            enforce_eager=self.enforce_eager, kv_cache_dtype=self.kv_cache_dtype,
            gpu_memory_utilization=self.gpu_memory_utilization, tensor_parallel_size=self.tensor_parallel_size,
            scheduling_policy="priority", enable_prefix_caching=True,
        )
        if self.kv_cache_memory_bytes is not None:
            args["kv_cache_memory_bytes"] = self.kv_cache_memory_bytes
        if self.load_format != "auto":
            args["load_format"] = self.load_format
        if self.tensor_parallel_size > 1 or self.data_parallel_size > 1:
            # Inside a Ray actor in a placement group vLLM would pick its Ray executor and ask Ray for
            # workers of its own (vllm/config/parallel.py, ParallelConfig.__post_init__); the actor
            # already holds its GPUs, so its tensor-parallel workers run as local processes.
            args["distributed_executor_backend"] = "mp"
        if self.data_parallel_size > 1:
            # One rank of an expert-parallel group in vLLM's external load-balancing mode: a
            # data_parallel_rank makes this AsyncLLM run that rank's engine only, and our router,
            # not vLLM, picks the rank per request. Rank 0's front end runs the coordinator that
            # keeps the ranks' steps in lockstep and takes the others' handshakes at
            # address:rpc_port (vllm/engine/arg_utils.py create_engine_config, vllm/v1/engine/utils.py
            # launch_core_engines; docs/layouts.md).
            args.update(data_parallel_size=self.data_parallel_size, data_parallel_rank=self.data_parallel_rank,
                        data_parallel_size_local=1, data_parallel_address=self.data_parallel_address,
                        data_parallel_rpc_port=self.data_parallel_rpc_port, data_parallel_backend="mp",
                        enable_expert_parallel=True)
        return args


@register("vllm")
class VllmEngine:
    """Hosts `vllm.v1.engine.async_llm.AsyncLLM`; see `cluster.replica.engine.Engine`."""

    resources = "device"

    @classmethod
    def settings_from(cls, config: ClusterConfig, model_path: str, tensor_parallel: int) -> VllmSettings:
        e = config.engine
        return VllmSettings(
            model=model_path, served_model_name=config.served_model_name, max_model_len=e.max_model_len,
            max_num_seqs=e.max_num_seqs, max_num_batched_tokens=e.max_num_batched_tokens,
            enforce_eager=e.enforce_eager, kv_cache_dtype=e.kv_cache_dtype,
            gpu_memory_utilization=e.gpu_memory_utilization, kv_cache_memory_bytes=e.kv_cache_memory_bytes,
            tensor_parallel_size=tensor_parallel,
            load_format=SHAPE_LOAD_FORMAT if config.model.load_format == "dummy" else "auto",
            data_parallel_size=config.layout.ranks)

    @classmethod
    def for_rank(cls, settings: VllmSettings, rank: Rank) -> VllmSettings:
        return dataclasses.replace(settings, data_parallel_rank=rank.index, data_parallel_address=rank.master_address,
                                   data_parallel_rpc_port=rank.rpc_port)

    def __init__(self, settings: VllmSettings):
        self._settings = settings
        self._llm = None
        self._load = ReplicaLoad()

    async def start(self) -> None:
        from vllm.engine.arg_utils import AsyncEngineArgs
        from vllm.v1.engine.async_llm import AsyncLLM

        args = AsyncEngineArgs(**self._settings.engine_args(), disable_log_stats=True)
        self._llm = AsyncLLM.from_engine_args(args, stat_loggers=[self._stat_logger_factory()])

    def _stat_logger_factory(self):
        from vllm.v1.metrics.loggers import StatLoggerBase

        engine = self

        class LoadRecorder(StatLoggerBase):
            """Keeps the latest scheduler snapshot and totals vLLM's per-step prefix-cache counts."""

            def __init__(self, vllm_config, engine_index=0):
                self._cache_config = vllm_config.cache_config
                self._queries = self._hits = 0

            def record(self, scheduler_stats, iteration_stats, mm_cache_stats=None, engine_idx=0):
                if scheduler_stats is None:
                    return
                cache = scheduler_stats.prefix_cache_stats
                if cache is not None:
                    self._queries += cache.queries
                    self._hits += cache.hits
                engine._load = ReplicaLoad(
                    running=scheduler_stats.num_running_reqs, waiting=scheduler_stats.num_waiting_reqs,
                    kv_cache_usage=scheduler_stats.kv_cache_usage, prefix_cache_queries=self._queries,
                    prefix_cache_hits=self._hits, block_size=self._cache_config.block_size,
                    kv_blocks=self._cache_config.num_gpu_blocks or 0)

            def log_engine_initialized(self):
                engine._load = dataclasses.replace(engine._load, block_size=self._cache_config.block_size,
                                                   kv_blocks=self._cache_config.num_gpu_blocks or 0)

        return LoadRecorder

    async def generate(self, request: EngineRequest) -> AsyncIterator[TokenChunk]:
        """Raises `InvalidRequest` when vLLM rejects the request (a grammar it cannot compile, a
        parameter out of its range): that is the caller's input, not a failure of this replica."""
        from vllm import TokensPrompt

        rejected = _rejection_types()
        try:
            params = _sampling_params(request)
        except rejected as exc:
            raise InvalidRequest(str(exc)) from None
        prompt = TokensPrompt(prompt_token_ids=request.prompt_token_ids)
        finished = False
        try:
            async for output in self._llm.generate(prompt, params, request.request_id, priority=request.priority):
                completion = output.outputs[0]
                finished = output.finished
                finish = _finish_reason(completion.finish_reason) if finished else None
                if completion.token_ids or finish:
                    yield TokenChunk(token_ids=list(completion.token_ids), finish=finish)
        except rejected as exc:
            finished = True  # never admitted: nothing to abort
            raise InvalidRequest(str(exc)) from None
        finally:
            if not finished:  # the caller went away (cancelled or closed): free the engine slot
                await asyncio.shield(self._llm.abort(request.request_id))

    def load(self) -> ReplicaLoad:
        return self._load  # vLLM records stats after every step, the one that finishes or aborts the last request too

    async def check_health(self) -> None:
        if self._llm is None:
            raise RuntimeError("engine not started")
        await self._llm.check_health()

    def shutdown(self) -> None:
        if self._llm is not None:
            self._llm.shutdown()
            self._llm = None


def _finish_reason(reason: str | None) -> FinishReason:
    return {"length": FinishReason.LENGTH, "abort": FinishReason.CANCELLED}.get(reason, FinishReason.STOP)


def _sampling_params(request: EngineRequest):
    from vllm import SamplingParams
    from vllm.sampling_params import RequestOutputKind, StructuredOutputsParams

    harmony_stops = () if request.ignore_eos else HARMONY_STOP_TOKEN_IDS
    structured = None
    if request.structural_tag is not None:
        structured = StructuredOutputsParams(structural_tag=request.structural_tag)
    return SamplingParams(
        max_tokens=request.max_tokens, temperature=request.temperature, top_p=request.top_p,
        seed=request.seed, min_tokens=request.min_tokens, ignore_eos=request.ignore_eos,
        stop_token_ids=list(harmony_stops + request.stop_token_ids),
        output_kind=RequestOutputKind.DELTA, detokenize=False, skip_special_tokens=False,
        structured_outputs=structured)


@functools.cache
def _rejection_types() -> tuple[type[Exception], ...]:
    """The exceptions by which vLLM says a request is invalid (vLLM 0.32's `VLLMClientError` is not a
    `ValueError`; older releases raise `ValueError`)."""
    try:
        from vllm.exceptions import VLLMClientError
    except ImportError:
        return (ValueError,)
    return (VLLMClientError, ValueError)
