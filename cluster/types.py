"""Domain types shared by the gateway, router, replicas and controller. Imports nothing of the project."""

from dataclasses import dataclass, field
from enum import Enum


class Role(str, Enum):
    SYSTEM = "system"
    DEVELOPER = "developer"
    USER = "user"
    ASSISTANT = "assistant"
    TOOL = "tool"


class ReasoningEffort(str, Enum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class FinishReason(str, Enum):
    STOP = "stop"
    LENGTH = "length"
    TOOL_CALLS = "tool_calls"
    CANCELLED = "cancelled"
    ERROR = "error"
    INVALID_OUTPUT = "invalid_output"


class PriorityClass(str, Enum):
    """Admission and engine scheduling order: interactive traffic goes before batch traffic."""

    INTERACTIVE = "interactive"
    BATCH = "batch"


class ToolChoice(str, Enum):
    AUTO = "auto"  # the model decides
    NONE = "none"  # the model is not shown the tools
    REQUIRED = "required"  # the model must call one of the tools
    FUNCTION = "function"  # the model must call the named tool


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: str  # JSON text


@dataclass(frozen=True)
class Message:
    role: Role
    content: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    name: str = ""  # tool turns: the function whose result this is
    tool_call_id: str = ""  # tool turns: the call answered
    reasoning: str = ""  # assistant turns: earlier chain of thought


@dataclass(frozen=True)
class Tool:
    name: str
    description: str = ""
    parameters: dict | None = None  # JSON schema of the arguments object


@dataclass(frozen=True)
class Sampling:
    max_tokens: int | None = None  # None: the gateway default, capped by the context
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int | None = None
    stop: tuple[str, ...] = ()
    min_tokens: int = 0  # the end of the turn (or a stop token) cannot come sooner
    ignore_eos: bool = False  # raw prompts: run to max_tokens past <|return|> and <|call|>; a chat turn still ends


@dataclass(frozen=True)
class ChatRequest:
    messages: tuple[Message, ...]
    model: str = ""
    reasoning_effort: ReasoningEffort = ReasoningEffort.MEDIUM
    tools: tuple[Tool, ...] = ()
    sampling: Sampling = field(default_factory=Sampling)
    request_id: str = ""
    priority: int = 0
    priority_class: PriorityClass = PriorityClass.INTERACTIVE
    session_id: str = ""  # requests of one conversation; the router may keep them on one replica
    tool_choice: ToolChoice = ToolChoice.AUTO
    tool_choice_name: str = ""  # with ToolChoice.FUNCTION: the function to call
    json_schema: dict | None = None  # the final answer must be JSON valid against this schema


@dataclass(frozen=True)
class GenerateRequest:
    model: str = ""
    token_ids: tuple[int, ...] | None = None
    text: str | None = None
    sampling: Sampling = field(default_factory=Sampling)
    stop_token_ids: tuple[int, ...] = ()
    request_id: str = ""
    priority: int = 0
    priority_class: PriorityClass = PriorityClass.INTERACTIVE
    session_id: str = ""


@dataclass(frozen=True)
class EngineRequest:
    """What the gateway sends a replica: token ids in, token ids out."""

    request_id: str
    prompt_token_ids: list[int]
    max_tokens: int
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int | None = None
    stop_token_ids: tuple[int, ...] = ()
    min_tokens: int = 0
    ignore_eos: bool = False  # the engine leaves out Harmony's stop tokens; the caller's stop_token_ids still stop
    priority: int = 0
    structural_tag: str | None = None  # JSON of an xgrammar structural tag constraining the output


@dataclass(frozen=True)
class TokenChunk:
    """Token ids a replica generated in one engine step; `finish` is set on the last chunk."""

    token_ids: list[int]
    finish: FinishReason | None = None


# Events of a parsed chat stream.
@dataclass(frozen=True)
class ReasoningDelta:
    text: str


@dataclass(frozen=True)
class ContentDelta:
    text: str


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int
    reasoning_tokens: int = 0
    time_to_first_token_ms: float = 0.0
    total_time_ms: float = 0.0


@dataclass(frozen=True)
class Finish:
    reason: FinishReason
    message: str = ""


@dataclass(frozen=True)
class TextChunk:
    """Generated tokens with their text (Generate streams)."""

    token_ids: list[int]
    text: str


ChatEvent = ReasoningDelta | ContentDelta | ToolCall | Usage | Finish
GenerateEvent = TextChunk | Usage | Finish


@dataclass(frozen=True)
class ReplicaLoad:
    """A replica's load as its engine reports it after each step.

    The prefix-cache counters are totals since the engine started, in prompt tokens.
    """

    running: int = 0
    waiting: int = 0
    kv_cache_usage: float = 0.0
    prefix_cache_queries: int = 0
    prefix_cache_hits: int = 0
    block_size: int = 16  # tokens per KV-cache block
    kv_blocks: int = 0  # KV-cache blocks the engine has; 0 while unknown
    active: int = 0  # requests the replica actor is streaming (the engine's view may lag)
    stalled_s: float = 0.0  # while active: seconds since the last token of any request; 0 when idle


@dataclass(frozen=True)
class ReplicaInfo:
    """What a replica actor says of itself; a restarted controller rebuilds its registry from these."""

    replica_id: str
    slot: int
    template: str  # the hash of the replica plan it was started with
    node_id: str
    pid: int
    created_at: float  # wall-clock seconds
    started: bool  # its engine is loaded
    draining: bool  # it refuses new requests and finishes its streams
    rank: int = 0  # in an expert-parallel group: this actor's data-parallel rank
    ranks: int = 1  # the group's ranks; 1 for a tensor-parallel (or single-GPU) replica

    @property
    def endpoint_id(self) -> str:
        """What gateways route to and label metrics with: the replica id, or `<replica id>.<rank>` for one
        rank of an expert-parallel group."""
        return self.replica_id if self.ranks == 1 else f"{self.replica_id}.{self.rank}"

@dataclass(frozen=True)
class GatewayReport:
    """What a gateway tells the controller with each look at the ready set: the autoscaler's signals."""

    gateway_id: str
    queue_depth: int  # requests waiting in its admission queue
    ttft_p90_s: float | None  # time to first token, p90 since its previous report; None without samples


@dataclass(frozen=True)
class RoutingView:
    """The controller's answer to a gateway: where to route, and whether to hold requests meanwhile."""

    replicas: tuple[tuple[ReplicaInfo, object], ...]  # the ready replicas and their Ray actor handles
    cold_start: bool  # the cluster may scale from zero: with no replica ready, queue requests, don't refuse
    plan: str  # the digest of the plan the controller runs
