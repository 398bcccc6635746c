"""A request made ready for the engine: checked, rendered to prompt token ids, its budget and constraint.

Tokenizing is CPU-bound, holds the GIL (Harmony's tokenizer never releases it) and, for text
with a long piece, takes time quadratic in that piece (`cluster.harmony.pieces`). So only small
requests are prepared on the event loop; every other one goes to a render worker process, where
it is bounded in size (no piece over `MAX_PIECE_BYTES`) and in time (the pool's job timeout).
"""

import logging
import time
from dataclasses import dataclass

from cluster import metrics
from cluster.errors import ClusterError, InvalidRequest
from cluster.gateway.json_schema_check import check_json_schema
from cluster.gateway.render_pool import RenderPool
from cluster.gateway.validate import Limits, completion_budget, validate_chat, validate_generate
from cluster.harmony.constrain import structural_tag
from cluster.harmony.pieces import MAX_UTF8_BYTES_PER_CHAR, longest_piece
from cluster.harmony.render import render_chat
from cluster.harmony.vocab import harmony_encoding
from cluster.types import ChatRequest, GenerateRequest

log = logging.getLogger(__name__)

INLINE_MAX_CHARS = 2048  # worst case ~2 ms of tokenizing on the loop, even as one long piece
MAX_PIECE_BYTES = 4096  # ~9 ms to tokenize as one piece; 262,000 bytes took ~30 s


@dataclass(frozen=True)
class Prepared:
    prompt: list[int]
    max_tokens: int
    structural_tag: str | None = None  # JSON of the xgrammar structural tag, when output is constrained


def prepare_chat(request: ChatRequest, limits: Limits) -> Prepared:
    """Checks what is costly to check, renders, and sizes the completion; raises InvalidRequest.
    Pure and picklable: runs inline or in a render worker."""
    for i, tool in enumerate(request.tools):
        if tool.parameters is not None:
            check_json_schema(tool.parameters, f"tools[{i}].parameters")
    if request.json_schema is not None:
        check_json_schema(request.json_schema, "response_json_schema")
    for where, text in _chat_texts(request):
        _check_pieces(where, text)
    try:
        prompt = render_chat(request)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # Harmony refused this input (a Rust panic is a BaseException): say so,
        log.warning("Harmony could not render a conversation: %s", type(exc).__name__)  # not the input
        raise InvalidRequest(f"the conversation cannot be rendered in the Harmony format: {str(exc)[:200]}") from None
    return Prepared(prompt, completion_budget(len(prompt), request.sampling, limits),
                    structural_tag(request, limits.constrained_reasoning_max_tokens))


def prepare_generate(request: GenerateRequest, limits: Limits) -> Prepared:
    if request.token_ids is not None:
        prompt = list(request.token_ids)
    else:
        _check_pieces("prompt.text", request.text)
        prompt = harmony_encoding().encode(request.text, allowed_special="all")
    return Prepared(prompt, completion_budget(len(prompt), request.sampling, limits))


class Preparer:
    """Validates on the loop (cheap, linear), then prepares inline or in the render pool.

    Without a pool (tools and tests that prepare one request at a time) everything runs inline;
    the gateway always has one.
    """

    def __init__(self, limits: Limits, pool: RenderPool | None):
        self.limits = limits
        self._pool = pool

    async def chat(self, request: ChatRequest, limits: Limits | None = None) -> Prepared:
        """`limits`: the gateway's, or a tenant's narrower ones (`Limits.for_tenant`)."""
        limits = limits or self.limits
        validate_chat(request, limits)
        small = not request.tools and request.json_schema is None and _chars(request) <= INLINE_MAX_CHARS
        return await self._run(small, prepare_chat, request, limits)

    async def generate(self, request: GenerateRequest, limits: Limits | None = None) -> Prepared:
        limits = limits or self.limits
        validate_generate(request, limits)
        small = request.token_ids is not None or len(request.text) <= INLINE_MAX_CHARS
        return await self._run(small, prepare_generate, request, limits)

    async def _run(self, inline: bool, prepare, request, limits: Limits) -> Prepared:
        inline = inline or self._pool is None
        where, outcome, started = "inline" if inline else "worker", "ok", time.monotonic()
        try:
            if inline:
                return prepare(request, limits)
            return await self._pool.run(prepare, request, limits)
        except ClusterError as exc:
            outcome = "invalid" if isinstance(exc, InvalidRequest) else "error"
            raise
        except BaseException:
            outcome = "cancelled"
            raise
        finally:
            metrics.RENDER_JOBS.labels(where, outcome).inc()
            metrics.RENDER_SECONDS.labels(where).observe(time.monotonic() - started)


def _chat_texts(request: ChatRequest):
    for i, m in enumerate(request.messages):
        yield f"messages[{i}].content", m.content
        yield f"messages[{i}].reasoning", m.reasoning
        for j, call in enumerate(m.tool_calls):
            yield f"messages[{i}].tool_calls[{j}].arguments", call.arguments
    for i, tool in enumerate(request.tools):
        yield f"tools[{i}].description", tool.description


def _check_pieces(where: str, text: str) -> None:
    if len(text) * MAX_UTF8_BYTES_PER_CHAR <= MAX_PIECE_BYTES:  # too short to hold a piece that long
        return
    piece = longest_piece(text, MAX_PIECE_BYTES + 1)
    if piece.utf8_bytes:
        raise InvalidRequest(
            f"{where}: holds a run of {piece.chars} characters ({piece.utf8_bytes} bytes) with no space, digit or "
            f"punctuation; the tokenizer's time grows with the square of such a run, so at most {MAX_PIECE_BYTES} "
            "bytes are allowed; break it up")


def _chars(request: ChatRequest) -> int:
    return sum(len(text) for _, text in _chat_texts(request))
