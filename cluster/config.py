"""cluster.yaml: parsed and validated once at start-up into frozen objects; errors name the field."""

import dataclasses
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

TENSOR_PARALLEL_SIZES = (1, 2, 4, 8)  # gpt-oss's 8 KV heads and 64 query heads split evenly over these
MAX_RANKS = 64
LOAD_FORMATS = ("auto", "dummy")
# The key in a model directory's config.json that `oss-cluster make-shape-model` writes: it has no weights.
# transformers and vLLM keep unknown keys as attributes and ignore them.
SHAPE_MODEL_MARKER = "oss_cluster_shape_model"
KV_CACHE_DTYPES = ("auto", "bfloat16", "fp8", "fp8_e4m3", "fp8_e5m2")
DEVICES = ("cpu", "gpu")
ENGINE_KINDS = ("vllm", "simulated")  # cluster.replica.engines registers one engine class for each
TINY_MODEL_NAME = "tiny-gpt-oss"
TINY_VARIANTS = ("trained", "random")  # of the embedded tiny model: docs/tiny-model.md


class ConfigError(ValueError):
    """The config file is invalid; the message names the field and what is allowed."""


@dataclass(frozen=True)
class Layout:
    """How one replica spans GPUs (docs/layouts.md): `ranks` engines, each over `tensor_parallel` GPUs.

    `tpN` is one rank over N GPUs. `depN` (and `depN-tpM`) are N data-parallel ranks, one Ray actor
    and one vLLM engine each, with the experts split over all N×M GPUs by vLLM's expert parallelism;
    the ranks of such a group step together, so the group lives and dies as one replica.
    """

    ranks: int = 1
    tensor_parallel: int = 1

    @property
    def expert_parallel(self) -> bool:
        return self.ranks > 1

    @property
    def gpus(self) -> int:
        return self.ranks * self.tensor_parallel

    def __str__(self) -> str:
        if not self.expert_parallel:
            return f"tp{self.tensor_parallel}"
        return f"dep{self.ranks}" + (f"-tp{self.tensor_parallel}" if self.tensor_parallel > 1 else "")


def parse_layout(text: object, path: str = "layout") -> Layout:
    """`tpN`, `depN` or `depN-tpM`, as a Layout; ConfigError naming `path` otherwise."""
    allowed = (f"tpN with N in {', '.join(map(str, TENSOR_PARALLEL_SIZES))}; depN with N from 2 to {MAX_RANKS}; "
               "or depN-tpM")
    match = re.fullmatch(r"tp(\d+)|dep(\d+)(?:-tp(\d+))?", text) if isinstance(text, str) else None
    if match is None:
        raise ConfigError(f"{path}: {text!r} is not a layout; allowed: {allowed}")
    tp_only, dep, tp = match.groups()
    tensor_parallel, ranks = int(tp_only or tp or 1), int(dep or 1)
    if tensor_parallel not in TENSOR_PARALLEL_SIZES:
        raise ConfigError(f"{path}: {text}: tensor parallel {tensor_parallel} does not divide gpt-oss's attention "
                          f"heads; allowed: {', '.join(map(str, TENSOR_PARALLEL_SIZES))}")
    if dep is not None and not 2 <= ranks <= MAX_RANKS:
        raise ConfigError(f"{path}: {text}: expert parallel needs 2 to {MAX_RANKS} ranks")
    return Layout(ranks, tensor_parallel)


@dataclass(frozen=True)
class ModelConfig:
    path: str = ""  # empty: the embedded tiny model, generated on first use
    tiny_variant: str = "trained"  # with no path: "trained" (speaks Harmony) or "random" (untrained weights)
    name: str = ""  # the name callers put in `model`; defaults to the directory name
    load_format: str = "auto"  # dummy: random weights with realistic expert routing (`make-shape-model`)


@dataclass(frozen=True)
class SimulatedEngineConfig:
    """The stand-in engine (`engine.kind: simulated`), for control-plane experiments: docs/scale.md."""

    calibration: str = "tiny-cpu"  # a shipped calibration (h100-gpt-oss-120b, tiny-cpu, instant) or a .json path
    reply_tokens: int = 256  # mean length of a reply that max_tokens does not cut
    seed: int = 0
    time_scale: float = 1.0  # steps take this many times their calibrated time (>1: fast GPUs slowed down)
    trace_file: str = ""  # appends one JSON line per request: its seed and engine times (benchmarks of the stack)
    start_s: float | None = None  # seconds a replica takes to start; None: the calibration's measured start
    holds_gpus: bool = False  # on device gpu, ask Ray for the GPUs vLLM would (placement on logical GPUs)


@dataclass(frozen=True)
class EngineConfig:
    """The engine each replica runs, and the vLLM engine arguments that matter for gpt-oss serving."""

    kind: str = "vllm"  # vllm | simulated (a calibrated stand-in, never for serving)
    simulated: SimulatedEngineConfig = field(default_factory=SimulatedEngineConfig)
    gpu_memory_utilization: float = 0.90
    max_num_batched_tokens: int = 8192
    max_num_seqs: int = 256
    max_model_len: int = 131072
    kv_cache_dtype: str = "auto"
    enforce_eager: bool = False
    kv_cache_memory_bytes: int | None = None  # CPU engines size their KV cache in bytes
    cpu_threads_per_replica: int = 1  # CPU engines: cores bound to each replica


@dataclass(frozen=True)
class GatewayConfig:
    host: str = "127.0.0.1"
    grpc_port: int = 50051
    http_port: int = 8000  # the OpenAI-compatible HTTP API
    metrics_port: int = 9400
    default_max_tokens: int = 4096  # when a request leaves max_tokens at 0
    max_message_bytes: int = 262_144  # per message content, checked before tokenizing
    max_request_bytes: int = 4 * 2**20  # a whole HTTP body or gRPC message; larger ones are refused unread
    http_header_timeout_s: float = 10.0  # a connection must send a request's headers within this
    http_body_timeout_s: float = 30.0  # and then its whole body within this
    render_workers: int = 2  # processes that tokenize and render big requests off the event loop
    render_timeout_s: float = 10.0  # a request that takes longer to tokenize is refused
    request_timeout_s: float = 600.0  # deadline of requests that set none
    shutdown_grace_s: float = 30.0
    constrained_reasoning_max_tokens: int | None = None  # reasoning budget under tool_choice/json_schema
    tenants_file: str = ""  # tenants, their key hashes and limits (docs/tenants.md); empty: no authentication
    audit_log: str = ""  # one JSON line per call: "-" for stdout, a file path, or empty for none
    tls_cert_file: str = ""  # PEM; with tls_key_file: HTTPS and gRPC over TLS; empty: plaintext
    tls_key_file: str = ""
    tls_client_ca_file: str = ""  # PEM CA certificates: both APIs then require a client certificate (mTLS)
    admin_host: str = ""  # where metrics, /healthz and /readyz listen (plain HTTP, metrics_port); empty: host


@dataclass(frozen=True)
class RouterConfig:
    """The routing profile: filters → weighted scorers → picker, each a policy registered by name.

    The defaults are the default profile; `filters: [], scorers: {}, picker: round-robin` is the
    round-robin baseline. Policy names and parameters are checked when the router is built.
    """

    filters: tuple[str, ...] = ("kv-headroom",)
    scorers: dict[str, float] = field(default_factory=lambda: {"prefix-affinity": 2.0, "least-loaded": 1.0,
                                                               "kv-headroom": 1.0})
    picker: str = "least-loaded"
    params: dict[str, dict] = field(default_factory=dict)  # policy name → its parameters
    plugins: tuple[str, ...] = ()  # extra Python modules whose policies register themselves
    max_attempts: int = 3  # replicas tried per request while none has produced a token
    snapshot_max_age_s: float = 2.0  # older load snapshots count as unknown


@dataclass(frozen=True)
class AdmissionConfig:
    """The gateway's bounded waiting queue in front of the replicas."""

    max_in_flight_per_replica: int = 0  # requests a gateway runs at once per ready replica; 0: engine.max_num_seqs
    max_queue: int = 256  # requests waiting beyond that; more are shed with RESOURCE_EXHAUSTED / 429
    max_queue_wait_s: float = 30.0  # longest wait for admission before shedding


@dataclass(frozen=True)
class LifecycleConfig:
    """How the controller keeps replicas healthy, replaces them and removes them."""

    stuck_after_s: float = 60.0  # a replica with running requests and no new token for this long is replaced
    drain_grace_s: float = 30.0  # a replica being removed finishes its streams for at most this long
    max_start_failures: int = 5  # failed starts in a row before the controller stops trying a slot
    start_backoff_s: float = 5.0  # wait before retrying a failed start; doubles with each failure
    start_backoff_max_s: float = 300.0
    start_timeout_s: float = 900.0  # loading the model; waiting for a node with resources does not count
    health_period_s: float = 1.0  # how often the controller polls each replica


@dataclass(frozen=True)
class AutoscalingConfig:
    """The replica count over time; see docs/autoscaling.md."""

    policy: str = ""  # queue-depth | kv-pressure | ttft-slo; empty: the count stays at `replicas`
    min_replicas: int = 1  # 0 allowed: the first queued request starts a replica
    max_replicas: int = 1
    max_step: int = 1  # replicas added or removed per decision
    period_s: float = 5.0  # how often the controller decides
    window_s: float = 30.0  # how far back each decision looks
    scale_up_cooldown_s: float = 30.0
    scale_down_cooldown_s: float = 120.0
    tolerance: float = 0.1  # within ±10 % of the policy's target the count stays
    params: dict[str, float] = field(default_factory=dict)  # the policy's parameters


@dataclass(frozen=True)
class ControllerConfig:
    """Where `oss-cluster controller` serves its metrics (`serve` exports them on the gateway's port)."""

    host: str = "127.0.0.1"
    metrics_port: int = 9401


@dataclass(frozen=True)
class ClusterConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    replicas: int = 1
    layout: Layout = field(default_factory=Layout)  # written tp1, tp2, dep4, dep2-tp2 ...
    device: str = ""  # cpu | gpu; empty: cpu for the tiny model, gpu for a checkpoint
    gpus_per_node: int = 8  # GPUs on each GPU node: an expert-parallel group that fits one is packed onto one
    engine: EngineConfig = field(default_factory=EngineConfig)
    gateway: GatewayConfig = field(default_factory=GatewayConfig)
    router: RouterConfig = field(default_factory=RouterConfig)
    admission: AdmissionConfig = field(default_factory=AdmissionConfig)
    lifecycle: LifecycleConfig = field(default_factory=LifecycleConfig)
    autoscaling: AutoscalingConfig = field(default_factory=AutoscalingConfig)
    controller: ControllerConfig = field(default_factory=ControllerConfig)
    ray_address: str = ""  # empty: `serve` starts a local Ray on loopback; the roles join this machine's Ray

    @property
    def served_model_name(self) -> str:
        if self.model.name:
            return self.model.name
        return Path(self.model.path).name if self.model.path else TINY_MODEL_NAME


def on_loopback(ray_address: str) -> bool:
    """Whether the address is of a Ray cluster on this machine's loopback."""
    return ray_address.startswith(("127.", "localhost"))


def embedded_default() -> ClusterConfig:
    """The configuration of `oss-cluster serve` with no arguments: one tiny CPU replica."""
    return ClusterConfig(
        device="cpu",
        engine=EngineConfig(max_model_len=8192, max_num_seqs=16, max_num_batched_tokens=8192,
                            enforce_eager=True, kv_cache_memory_bytes=64 * 2**20),
        gateway=GatewayConfig(default_max_tokens=512),
    )


def load_config(path: str | Path) -> ClusterConfig:
    """Reads and validates a cluster.yaml file."""
    try:
        raw = yaml.safe_load(Path(path).read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from None
    return parse_config(raw or {})


def parse_config(raw: dict) -> ClusterConfig:
    """Builds a validated ClusterConfig from the YAML mapping.

    Fields left out take the defaults of what is served: the embedded tiny model's when
    `model.path` is empty, a GPU checkpoint's otherwise.
    """
    serves_checkpoint = isinstance(raw.get("model"), dict) and bool(raw["model"].get("path"))
    cfg = _build(ClusterConfig() if serves_checkpoint else embedded_default(), raw, "")
    if not cfg.device:
        cfg = dataclasses.replace(cfg, device="gpu" if cfg.model.path else "cpu")
    _check(cfg)
    return cfg


def _build(default, raw, where: str):
    if not isinstance(raw, dict):
        raise ConfigError(f"{where or 'the config'}: expected a mapping, got {type(raw).__name__}")
    fields = {f.name: f for f in dataclasses.fields(default)}
    unknown = sorted(set(raw) - set(fields))
    if where == "gateway" and "api_keys_file" in unknown:
        raise ConfigError("gateway.api_keys_file: replaced by gateway.tenants_file, which stores keys hashed; "
                          "print each key's hash with `oss-cluster hash-key` and list it under a tenant "
                          "(docs/tenants.md)")
    if unknown:
        raise ConfigError(f"{where + '.' if where else ''}{unknown[0]}: unknown field; allowed: {', '.join(fields)}")
    values = {}
    for name, value in raw.items():
        path = f"{where}.{name}" if where else name
        current = getattr(default, name)
        if isinstance(current, Layout):
            values[name] = parse_layout(value, path)
        elif dataclasses.is_dataclass(current):
            values[name] = _build(current, value, path)
        else:
            values[name] = _coerce(value, fields[name].type, path)
    return dataclasses.replace(default, **values)


def _coerce(value, ftype, path: str):
    if ftype == tuple[str, ...]:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{path}: expected a list of names, got {value!r}")
        return tuple(value)
    if ftype == dict[str, float]:
        if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, (int, float))
                                                  and not isinstance(v, bool) for k, v in value.items()):
            raise ConfigError(f"{path}: expected a mapping of names to numbers, got {value!r}")
        return {k: float(v) for k, v in value.items()}
    if ftype == dict[str, dict]:
        if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, dict)
                                                  for k, v in value.items()):
            raise ConfigError(f"{path}: expected a mapping of names to mappings, got {value!r}")
        return {k: dict(v) for k, v in value.items()}
    allowed = {int: (int,), float: (int, float), bool: (bool,), str: (str,)}
    optional = ftype in (int | None, float | None)
    base = (int if ftype == (int | None) else float) if optional else ftype
    if value is None and optional:
        return None
    if isinstance(value, bool) and base is not bool or not isinstance(value, allowed[base]):
        raise ConfigError(f"{path}: expected {base.__name__}, got {value!r}")
    return base(value)


def is_shape_model(directory: str | Path) -> bool:
    """Whether `oss-cluster make-shape-model` wrote the directory (its config.json says so): its weights
    must be dummy."""
    try:
        return SHAPE_MODEL_MARKER in json.loads((Path(directory) / "config.json").read_text())
    except (OSError, ValueError, TypeError):
        return False


def _check(cfg: ClusterConfig) -> None:
    e, g = cfg.engine, cfg.gateway
    if cfg.device and cfg.device not in DEVICES:
        raise ConfigError(f"device: {cfg.device!r}; allowed: {', '.join(DEVICES)}")
    if cfg.layout.expert_parallel and cfg.device == "cpu" and e.kind == "vllm":
        raise ConfigError(f"layout: {cfg.layout} needs device gpu: vLLM's CPU build has no expert parallel "
                          "(docs/layouts.md); on the CPU use tp1 or tp2")
    _in_range("gpus_per_node", cfg.gpus_per_node, 1, 64)
    if cfg.layout.tensor_parallel > cfg.gpus_per_node:
        raise ConfigError(f"layout: {cfg.layout} runs {cfg.layout.tensor_parallel} GPUs in tensor parallel on one "
                          f"node; gpus_per_node is {cfg.gpus_per_node}")
    if cfg.model.load_format not in LOAD_FORMATS:
        raise ConfigError(f"model.load_format: {cfg.model.load_format!r}; allowed: {', '.join(LOAD_FORMATS)}")
    if cfg.model.path and cfg.model.load_format != "dummy" and is_shape_model(cfg.model.path):
        raise ConfigError(f"model.load_format: {cfg.model.path} has a config and tokenizer but no weights (written by "
                          "`oss-cluster make-shape-model`); set model.load_format: dummy to serve random weights")
    if cfg.model.load_format == "dummy" and not cfg.model.path:
        raise ConfigError("model.load_format: dummy needs model.path, a directory written by "
                          "`oss-cluster make-shape-model`")
    if cfg.model.tiny_variant not in TINY_VARIANTS:
        raise ConfigError(f"model.tiny_variant: {cfg.model.tiny_variant!r}; must be one of {', '.join(TINY_VARIANTS)}")
    if cfg.model.path and cfg.model.tiny_variant != "trained":
        raise ConfigError("model.tiny_variant: applies to the embedded tiny model only; remove it or model.path")
    if cfg.model.path and not Path(cfg.model.path).is_dir():
        raise ConfigError(f"model.path: {cfg.model.path} is not a directory")
    if cfg.model.path and not (Path(cfg.model.path) / "config.json").is_file():
        raise ConfigError(f"model.path: {cfg.model.path} has no config.json; expected a Hugging Face checkpoint")
    _in_range("replicas", cfg.replicas, 0 if cfg.autoscaling.policy else 1, 1024)
    _in_range("engine.gpu_memory_utilization", e.gpu_memory_utilization, 0.05, 0.99)
    _in_range("engine.max_num_batched_tokens", e.max_num_batched_tokens, 16, 1 << 20)
    _in_range("engine.max_num_seqs", e.max_num_seqs, 1, 4096)
    _in_range("engine.max_model_len", e.max_model_len, 64, 131072)
    _in_range("engine.cpu_threads_per_replica", e.cpu_threads_per_replica, 1, 1024)
    if e.kind not in ENGINE_KINDS:
        raise ConfigError(f"engine.kind: {e.kind!r}; allowed: {', '.join(ENGINE_KINDS)}")
    _in_range("engine.simulated.reply_tokens", e.simulated.reply_tokens, 1, 1 << 20)
    _in_range("engine.simulated.time_scale", e.simulated.time_scale, 0.001, 1000)
    if e.simulated.start_s is not None:
        _in_range("engine.simulated.start_s", e.simulated.start_s, 0, 3600)
    if e.kv_cache_dtype not in KV_CACHE_DTYPES:
        raise ConfigError(f"engine.kv_cache_dtype: {e.kv_cache_dtype!r}; allowed: {', '.join(KV_CACHE_DTYPES)}")
    if e.kv_cache_memory_bytes is not None:
        _in_range("engine.kv_cache_memory_bytes", e.kv_cache_memory_bytes, 1 << 20, 1 << 40)
    for name in ("grpc_port", "http_port", "metrics_port"):
        _in_range(f"gateway.{name}", getattr(g, name), 1, 65535)
    if len({g.grpc_port, g.http_port, g.metrics_port}) < 3:
        raise ConfigError("gateway.metrics_port: gateway.grpc_port, http_port and metrics_port must all differ")
    if g.constrained_reasoning_max_tokens is not None:
        _in_range("gateway.constrained_reasoning_max_tokens", g.constrained_reasoning_max_tokens, 0, e.max_model_len)
    if bool(g.tls_cert_file) != bool(g.tls_key_file):
        raise ConfigError("gateway.tls_key_file: set both gateway.tls_cert_file and gateway.tls_key_file, or neither")
    if g.tls_client_ca_file and not g.tls_cert_file:
        raise ConfigError("gateway.tls_client_ca_file: needs gateway.tls_cert_file and tls_key_file (mutual TLS is "
                          "TLS with client certificates)")
    for name in ("tls_cert_file", "tls_key_file", "tls_client_ca_file"):
        if getattr(g, name) and not Path(getattr(g, name)).is_file():
            raise ConfigError(f"gateway.{name}: {getattr(g, name)} is not a file")
    if g.tenants_file and not Path(g.tenants_file).is_file():
        raise ConfigError(f"gateway.tenants_file: {g.tenants_file} is not a file")
    if g.audit_log not in ("", "-") and not Path(g.audit_log).parent.is_dir():
        raise ConfigError(f"gateway.audit_log: the folder of {g.audit_log} does not exist")
    _in_range("gateway.default_max_tokens", g.default_max_tokens, 1, e.max_model_len)
    _in_range("gateway.max_message_bytes", g.max_message_bytes, 1024, 64 << 20)
    _in_range("gateway.max_request_bytes", g.max_request_bytes, 64 << 10, 256 << 20)
    _in_range("gateway.http_header_timeout_s", g.http_header_timeout_s, 0.1, 3600)
    _in_range("gateway.http_body_timeout_s", g.http_body_timeout_s, 0.1, 3600)
    _in_range("gateway.render_workers", g.render_workers, 1, 256)
    _in_range("gateway.render_timeout_s", g.render_timeout_s, 0.1, 3600)
    _in_range("gateway.request_timeout_s", g.request_timeout_s, 1, 86400)
    _in_range("gateway.shutdown_grace_s", g.shutdown_grace_s, 0, 3600)
    r, a = cfg.router, cfg.admission
    _in_range("router.max_attempts", r.max_attempts, 1, 10)
    _in_range("router.snapshot_max_age_s", r.snapshot_max_age_s, 0.1, 3600)
    _in_range("admission.max_in_flight_per_replica", a.max_in_flight_per_replica, 0, 1 << 20)
    _in_range("admission.max_queue", a.max_queue, 0, 1 << 20)
    _in_range("admission.max_queue_wait_s", a.max_queue_wait_s, 0, 3600)
    if cfg.ray_address.startswith("ray://"):
        raise ConfigError(f"ray_address: {cfg.ray_address} is a Ray Client address, which cannot stream tokens; "
                          "give the GCS address (host:6379) of a cluster this machine is a node of")
    _check_lifecycle(cfg.lifecycle)
    _check_autoscaling(cfg.autoscaling, cfg.replicas)
    _in_range("controller.metrics_port", cfg.controller.metrics_port, 1, 65535)


def _check_lifecycle(life: LifecycleConfig) -> None:
    _in_range("lifecycle.stuck_after_s", life.stuck_after_s, 1, 86400)
    _in_range("lifecycle.drain_grace_s", life.drain_grace_s, 0, 86400)
    _in_range("lifecycle.max_start_failures", life.max_start_failures, 1, 1000)
    _in_range("lifecycle.start_backoff_s", life.start_backoff_s, 0, 3600)
    _in_range("lifecycle.start_backoff_max_s", life.start_backoff_max_s, life.start_backoff_s, 86400)
    _in_range("lifecycle.start_timeout_s", life.start_timeout_s, 1, 86400)
    _in_range("lifecycle.health_period_s", life.health_period_s, 0.1, 60)


def _check_autoscaling(auto: AutoscalingConfig, replicas: int) -> None:
    _in_range("autoscaling.min_replicas", auto.min_replicas, 0, 1024)
    _in_range("autoscaling.max_replicas", auto.max_replicas, max(1, auto.min_replicas), 1024)
    _in_range("autoscaling.max_step", auto.max_step, 1, 1024)
    _in_range("autoscaling.period_s", auto.period_s, 0.1, 3600)
    _in_range("autoscaling.window_s", auto.window_s, auto.period_s, 86400)
    _in_range("autoscaling.scale_up_cooldown_s", auto.scale_up_cooldown_s, 0, 86400)
    _in_range("autoscaling.scale_down_cooldown_s", auto.scale_down_cooldown_s, 0, 86400)
    _in_range("autoscaling.tolerance", auto.tolerance, 0, 1)
    if auto.policy:
        _in_range("replicas", replicas, auto.min_replicas, auto.max_replicas)


def _in_range(path: str, value, low, high) -> None:
    if not low <= value <= high:
        raise ConfigError(f"{path}: {value} is out of range; allowed: {low} to {high}")
