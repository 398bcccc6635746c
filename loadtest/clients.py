"""Clients that send one planned request and time it: gRPC (cluster.v1) and HTTP (OpenAI API).

On the chat endpoints the time to first token is the time to the first visible delta (reasoning,
content or a tool call): the Harmony headers before it are generated but never shown. Output
tokens are the server's count (usage), reasoning included.
"""

import json
import time
from dataclasses import dataclass

import grpc
import httpx

from cluster._proto.cluster.v1 import inference_pb2 as pb
from cluster._proto.cluster.v1 import inference_pb2_grpc as pb_grpc
from cluster.chat_client import REASONING_EFFORTS
from loadtest.stats import RequestResult
from loadtest.workload import PlannedRequest

VISIBLE_CHAT_EVENTS = ("reasoning_delta", "content_delta", "tool_call")
STREAM_FAILED = "FINISH_REASON_ERROR"  # the error of a stream that ended in an error finish, not a status


def harmony_prompt(r: PlannedRequest) -> str:
    """The request as a Harmony prompt, for the raw-completion endpoints."""
    developer = f"<|start|>developer<|message|># Instructions\n\n{r.system}<|end|>" if r.system else ""
    return (f"<|start|>system<|message|>Reasoning: {r.reasoning_effort}<|end|>{developer}"
            f"<|start|>user<|message|>{r.prompt}<|end|><|start|>assistant")


def finish_name(reason: int) -> str:
    """A proto FinishReason as the HTTP API spells it: stop, length, tool_calls, invalid_output..."""
    return pb.FinishReason.Name(reason).removeprefix("FINISH_REASON_").lower()


FINISH_NAMES = frozenset(finish_name(value) for value in pb.FinishReason.values())


class Timer:
    """Collects arrival times of generated tokens."""

    def __init__(self, run_start: float):
        self.run_start = run_start
        self.start = time.perf_counter()
        self.first: float | None = None
        self.last: float | None = None
        self.gaps: list[float] = []
        self.tokens = 0

    def tokens_arrived(self, n: int) -> None:
        if n <= 0:
            return
        now = time.perf_counter()
        if self.first is None:
            self.first = now
        elif self.last is not None:
            self.gaps.extend([(now - self.last) / n] * n)
        self.last = now
        self.tokens += n

    def result(self, index: int, error: str | None = None, tokens: int | None = None,
               finish_reason: str | None = None) -> RequestResult:
        """`tokens`: the server's count where it sent one; else the tokens (or deltas) seen arriving."""
        end = time.perf_counter()
        if error is None and finish_reason == "error":
            error = STREAM_FAILED
        return RequestResult(index=index, started_s=self.start - self.run_start,
                             ttft_s=None if self.first is None else self.first - self.start,
                             inter_token_s=tuple(self.gaps), e2e_s=end - self.start,
                             output_tokens=self.tokens if tokens is None else tokens, error=error,
                             finish_reason=finish_reason)


@dataclass
class Reply:
    """What a stream said, beside its timing."""

    content: str = ""  # the answer's visible text (content deltas, or completion text)
    completion_tokens: int | None = None  # from usage, when the server sent it
    finish_reason: str | None = None
    error: str | None = None  # an error event inside an HTTP stream that had started


async def read_chat(events, timer: Timer) -> Reply:
    """Reads a gRPC Chat stream to its end, timing each visible delta on `timer` (a delta per engine
    step; the exact token count comes with usage). Raises what the call raises (grpc.aio.AioRpcError)."""
    reply = Reply()
    async for event in events:
        kind = event.WhichOneof("event")
        if kind in VISIBLE_CHAT_EVENTS:
            timer.tokens_arrived(1)
            if kind == "content_delta":
                reply.content += event.content_delta
        elif kind == "usage":
            reply.completion_tokens = event.usage.completion_tokens
        elif kind == "finish":
            reply.finish_reason = finish_name(event.finish.reason)
    return reply


async def read_sse(lines, timer: Timer) -> Reply:
    """Reads an OpenAI server-sent event stream (chat or completion chunks) to its end or its first
    error event, timing each chunk that carries text, reasoning or tool calls on `timer`; the
    opening chunk of a chat stream (role, empty content) shows nothing and is not timed."""
    reply = Reply()
    async for line in lines:
        if not line.startswith("data: ") or line == "data: [DONE]":
            continue
        event = json.loads(line[6:])
        if "error" in event:
            reply.error = str(event["error"].get("code", "stream_error"))
            return reply
        if event.get("usage"):
            reply.completion_tokens = event["usage"]["completion_tokens"]
        choice = (event.get("choices") or [{}])[0]
        delta = choice.get("delta") or {}
        if choice.get("text") or delta.get("content") or delta.get("reasoning_content") or delta.get("tool_calls"):
            timer.tokens_arrived(1)  # a chunk per engine step; the exact count comes with usage
            reply.content += choice.get("text") or delta.get("content") or ""
        if choice.get("finish_reason"):  # our `stop_reason` says more (invalid_output...) where it is set
            stop_reason = choice.get("stop_reason")
            reply.finish_reason = stop_reason if stop_reason in FINISH_NAMES else choice["finish_reason"]
    return reply


class GrpcClient:
    def __init__(self, target: str, endpoint: str, timeout_s: float, api_key: str = "", ignore_eos: bool = False):
        self._channel = grpc.aio.insecure_channel(target)
        self._stub = pb_grpc.InferenceStub(self._channel)
        self._endpoint = endpoint
        self._ignore_eos = ignore_eos
        self._timeout_s = timeout_s
        self._metadata = [("authorization", f"Bearer {api_key}")] if api_key else None

    async def send(self, r: PlannedRequest, run_start: float) -> RequestResult:
        timer = Timer(run_start)
        sampling = pb.Sampling(max_tokens=r.max_tokens, seed=r.index)
        try:
            if self._endpoint == "completions":
                sampling.ignore_eos = self._ignore_eos
                call = self._stub.Generate(pb.GenerateRequest(text=harmony_prompt(r), sampling=sampling),
                                           timeout=self._timeout_s, metadata=self._metadata)
                finish = None
                async for event in call:
                    kind = event.WhichOneof("event")
                    if kind == "tokens":
                        timer.tokens_arrived(len(event.tokens.token_ids))
                    elif kind == "finish":
                        finish = finish_name(event.finish.reason)
                return timer.result(r.index, finish_reason=finish)
            messages = ([pb.Message(role=pb.ROLE_DEVELOPER, content=r.system)] if r.system else []) + \
                [pb.Message(role=pb.ROLE_USER, content=r.prompt)]
            request = pb.ChatRequest(messages=messages, reasoning_effort=REASONING_EFFORTS[r.reasoning_effort],
                                     sampling=sampling)
            reply = await read_chat(self._stub.Chat(request, timeout=self._timeout_s, metadata=self._metadata), timer)
            return timer.result(r.index, tokens=reply.completion_tokens, finish_reason=reply.finish_reason)
        except grpc.aio.AioRpcError as exc:
            return timer.result(r.index, error=exc.code().name)

    async def close(self) -> None:
        await self._channel.close()


class HttpClient:
    def __init__(self, base_url: str, endpoint: str, timeout_s: float, model: str, api_key: str = "",
                 ignore_eos: bool = False):
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.AsyncClient(base_url=base_url, timeout=timeout_s, headers=headers,
                                         limits=httpx.Limits(max_connections=None, max_keepalive_connections=64))
        self._endpoint = endpoint
        self._model = model
        self._ignore_eos = ignore_eos

    async def send(self, r: PlannedRequest, run_start: float) -> RequestResult:
        timer = Timer(run_start)
        common = {"model": self._model, "max_tokens": r.max_tokens, "seed": r.index, "stream": True,
                  "stream_options": {"include_usage": True}}
        if self._endpoint == "completions":
            path, body = "/v1/completions", {**common, "prompt": harmony_prompt(r), "ignore_eos": self._ignore_eos}
        else:
            messages = ([{"role": "developer", "content": r.system}] if r.system else []) + \
                [{"role": "user", "content": r.prompt}]
            path, body = "/v1/chat/completions", {**common, "messages": messages,
                                                  "reasoning_effort": r.reasoning_effort}
        try:
            async with self._client.stream("POST", path, json=body) as response:
                if response.status_code != 200:
                    await response.aread()
                    return timer.result(r.index, error=str(response.status_code))
                reply = await read_sse(response.aiter_lines(), timer)
            return timer.result(r.index, error=reply.error, tokens=reply.completion_tokens,
                                finish_reason=reply.finish_reason)
        except httpx.TimeoutException:
            return timer.result(r.index, error="timeout")
        except httpx.HTTPError as exc:
            return timer.result(r.index, error=type(exc).__name__)

    async def close(self) -> None:
        await self._client.aclose()
