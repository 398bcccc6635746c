"""POST /v1/completions: a raw prompt (text or token ids) in, text out."""

import time
import uuid
from collections.abc import AsyncIterator

from cluster.errors import InvalidRequest, Unavailable
from cluster.gateway.http import sse
from cluster.gateway.http.chat import SamplingBody, finish_reason, sampling_of, usage_json
from cluster.types import Finish, FinishReason, GenerateEvent, GenerateRequest, TextChunk, Usage


class CompletionBody(SamplingBody):
    prompt: str | list[int] | list[str] | list[list[int]]
    stream_options: dict | None = None
    echo: bool | None = None
    logprobs: int | None = None


def to_generate_request(body: CompletionBody) -> GenerateRequest:
    if body.n not in (None, 1):
        raise InvalidRequest("n: only 1 choice per request is supported")
    if body.echo:
        raise InvalidRequest("echo: not supported")
    if body.logprobs:
        raise InvalidRequest("logprobs: not supported")
    prompt = body.prompt
    if isinstance(prompt, list) and prompt and isinstance(prompt[0], (str, list)):
        if len(prompt) != 1:
            raise InvalidRequest("prompt: a batch of prompts is not supported; send one prompt per request")
        prompt = prompt[0]
    sampling = sampling_of(body.max_tokens, body.temperature, body.top_p, body.seed, body.stop, body.min_tokens,
                           body.ignore_eos)
    common = dict(model=body.model, sampling=sampling, request_id=body.request_id, priority=body.priority)
    if isinstance(prompt, str):
        return GenerateRequest(text=prompt, **common)
    return GenerateRequest(token_ids=tuple(prompt), **common)


async def completion(events: AsyncIterator[GenerateEvent], model: str) -> dict:
    text, usage, finish = [], None, None
    async for e in events:
        match e:
            case TextChunk(_, piece):
                text.append(piece)
            case Usage():
                usage = e
            case Finish():
                finish = e
    if finish.reason is FinishReason.ERROR:
        raise Unavailable(finish.message)
    reason, stop_reason = finish_reason(finish)
    return {"id": f"cmpl-{uuid.uuid4().hex}", "object": "text_completion", "created": int(time.time()),
            "model": model, "choices": [{"index": 0, "text": "".join(text), "finish_reason": reason,
                                         "stop_reason": stop_reason, "logprobs": None}],
            "usage": usage_json(usage)}


async def chunks(events: AsyncIterator[GenerateEvent], model: str, include_usage: bool) -> AsyncIterator[str]:
    base = {"id": f"cmpl-{uuid.uuid4().hex}", "object": "text_completion", "created": int(time.time()),
            "model": model}

    def chunk(text: str, reason: str | None = None) -> str:
        return sse.data({**base, "choices": [{"index": 0, "text": text, "finish_reason": reason, "logprobs": None}]})

    async for e in events:
        match e:
            case TextChunk(_, piece) if piece:
                yield chunk(piece)
            case Usage():
                usage = e
            case Finish(FinishReason.ERROR, message):
                yield sse.data(sse.error_payload(message))
            case Finish():
                yield chunk("", finish_reason(e)[0])
    if include_usage:
        yield sse.data({**base, "choices": [], "usage": usage_json(usage)})
    yield sse.DONE
