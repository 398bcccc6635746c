"""Clients that send one planned request and time it: gRPC (cluster.v1) and HTTP (OpenAI API)."""

import json
import time

import grpc
import httpx

from cluster._proto.cluster.v1 import inference_pb2 as pb
from cluster._proto.cluster.v1 import inference_pb2_grpc as pb_grpc
from cluster.chat_client import REASONING_EFFORTS
from loadtest.stats import RequestResult
from loadtest.workload import PlannedRequest



def harmony_prompt(r: PlannedRequest) -> str:
    """The request as a Harmony prompt, for the raw-completion endpoints."""
    developer = f"<|start|>developer<|message|># Instructions\n\n{r.system}<|end|>" if r.system else ""
    return (f"<|start|>system<|message|>Reasoning: {r.reasoning_effort}<|end|>{developer}"
            f"<|start|>user<|message|>{r.prompt}<|end|><|start|>assistant")


class _Timer:
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

    def result(self, index: int, error: str | None = None, tokens: int | None = None) -> RequestResult:
        end = time.perf_counter()
        return RequestResult(index=index, started_s=self.start - self.run_start,
                             ttft_s=None if self.first is None else self.first - self.start,
                             inter_token_s=tuple(self.gaps), e2e_s=end - self.start,
                             output_tokens=self.tokens if tokens is None else tokens, error=error)


class GrpcClient:
    def __init__(self, target: str, endpoint: str, timeout_s: float, api_key: str = ""):
        self._channel = grpc.aio.insecure_channel(target)
        self._stub = pb_grpc.InferenceStub(self._channel)
        self._endpoint = endpoint
        self._timeout_s = timeout_s
        self._metadata = [("authorization", f"Bearer {api_key}")] if api_key else None

    async def send(self, r: PlannedRequest, run_start: float) -> RequestResult:
        timer = _Timer(run_start)
        sampling = pb.Sampling(max_tokens=r.max_tokens, seed=r.index)
        try:
            if self._endpoint == "completions":
                call = self._stub.Generate(pb.GenerateRequest(text=harmony_prompt(r), sampling=sampling),
                                           timeout=self._timeout_s, metadata=self._metadata)
                async for event in call:
                    if event.HasField("tokens"):
                        timer.tokens_arrived(len(event.tokens.token_ids))
                return timer.result(r.index)
            messages = ([pb.Message(role=pb.ROLE_DEVELOPER, content=r.system)] if r.system else []) + \
                [pb.Message(role=pb.ROLE_USER, content=r.prompt)]
            request = pb.ChatRequest(messages=messages, reasoning_effort=REASONING_EFFORTS[r.reasoning_effort],
                                     sampling=sampling)
            usage = None
            async for event in self._stub.Chat(request, timeout=self._timeout_s, metadata=self._metadata):
                kind = event.WhichOneof("event")
                if kind in ("reasoning_delta", "content_delta", "tool_call"):
                    timer.tokens_arrived(1)  # a delta per engine step; the exact count comes with usage
                elif kind == "usage":
                    usage = event.usage
            return timer.result(r.index, tokens=usage.completion_tokens if usage else None)
        except grpc.aio.AioRpcError as exc:
            return timer.result(r.index, error=exc.code().name)

    async def close(self) -> None:
        await self._channel.close()


class HttpClient:
    def __init__(self, base_url: str, endpoint: str, timeout_s: float, model: str, api_key: str = ""):
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.AsyncClient(base_url=base_url, timeout=timeout_s, headers=headers,
                                         limits=httpx.Limits(max_connections=None, max_keepalive_connections=64))
        self._endpoint = endpoint
        self._model = model

    async def send(self, r: PlannedRequest, run_start: float) -> RequestResult:
        timer = _Timer(run_start)
        common = {"model": self._model, "max_tokens": r.max_tokens, "seed": r.index, "stream": True,
                  "stream_options": {"include_usage": True}}
        if self._endpoint == "completions":
            path, body = "/v1/completions", {**common, "prompt": harmony_prompt(r)}
        else:
            messages = ([{"role": "developer", "content": r.system}] if r.system else []) + \
                [{"role": "user", "content": r.prompt}]
            path, body = "/v1/chat/completions", {**common, "messages": messages,
                                                  "reasoning_effort": r.reasoning_effort}
        tokens = None
        try:
            async with self._client.stream("POST", path, json=body) as response:
                if response.status_code != 200:
                    await response.aread()
                    return timer.result(r.index, error=str(response.status_code))
                async for line in response.aiter_lines():
                    if not line.startswith("data: ") or line == "data: [DONE]":
                        continue
                    event = json.loads(line[6:])
                    if "error" in event:
                        return timer.result(r.index, error=str(event["error"].get("code", "stream_error")))
                    if event.get("usage"):
                        tokens = event["usage"]["completion_tokens"]
                    choice = (event.get("choices") or [{}])[0]
                    delta = choice.get("delta") or {}
                    if choice.get("text") or delta.get("content") or delta.get("reasoning_content") or \
                            delta.get("tool_calls"):
                        timer.tokens_arrived(1)
            return timer.result(r.index, tokens=tokens)
        except httpx.TimeoutException:
            return timer.result(r.index, error="timeout")
        except httpx.HTTPError as exc:
            return timer.result(r.index, error=type(exc).__name__)

    async def close(self) -> None:
        await self._client.aclose()
