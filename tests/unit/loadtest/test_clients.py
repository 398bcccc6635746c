"""What the clients measure: TTFT at the first visible delta, output tokens from usage, finish reasons;
the stream readers on a fake clock, the gRPC client against a real grpc.aio server."""

import asyncio
import json
from types import SimpleNamespace

import grpc
import pytest

from cluster._proto.cluster.v1 import inference_pb2 as pb
from cluster._proto.cluster.v1 import inference_pb2_grpc as pb_grpc
from loadtest import clients
from loadtest.clients import GrpcClient, Timer, read_chat, read_sse
from loadtest.workload import PlannedRequest


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(clients, "time", SimpleNamespace(perf_counter=clock))
    return clock


def arriving(clock: Clock, timed: list[tuple[float, object]]):
    """An async stream of `item`s, each after the clock advanced by its seconds."""
    async def stream():
        for seconds, item in timed:
            clock.now += seconds
            yield item
    return stream()


def read(reader, clock: Clock, timed: list[tuple[float, object]]):
    timer = Timer(run_start=0.0)
    reply = asyncio.run(reader(arriving(clock, timed), timer))
    return reply, timer.result(0, error=reply.error, tokens=reply.completion_tokens,
                               finish_reason=reply.finish_reason)


def usage(tokens: int) -> pb.ChatEvent:
    return pb.ChatEvent(usage=pb.Usage(prompt_tokens=50, completion_tokens=tokens))


def finish(reason: int) -> pb.ChatEvent:
    return pb.ChatEvent(finish=pb.Finish(reason=reason))


def test_chat_ttft_is_the_first_visible_delta_and_tokens_come_from_usage(clock):
    reply, result = read(read_chat, clock, [
        (0.3, pb.ChatEvent(reasoning_delta="Let me")), (0.1, pb.ChatEvent(reasoning_delta=" see")),
        (0.2, pb.ChatEvent(content_delta="Hi")), (0.1, pb.ChatEvent(tool_call=pb.ToolCall(id="c", name="f"))),
        (0.1, usage(9)), (0.0, finish(pb.FINISH_REASON_STOP))])
    assert result.ttft_s == pytest.approx(0.3)
    assert result.inter_token_s == pytest.approx((0.1, 0.2, 0.1))  # between deltas; usage is no token
    assert result.output_tokens == 9 and result.e2e_s == pytest.approx(0.8)  # fewer than max_tokens is fine
    assert (result.finish_reason, result.error, reply.content) == ("stop", None, "Hi")


def test_chat_without_visible_text_has_no_ttft_but_counts_its_tokens(clock):
    _, result = read(read_chat, clock, [(0.5, usage(16)), (0.0, finish(pb.FINISH_REASON_INVALID_OUTPUT))])
    assert result.ttft_s is None and result.inter_token_s == ()
    assert (result.output_tokens, result.finish_reason, result.error) == (16, "invalid_output", None)


def test_an_error_finish_fails_the_request(clock):
    _, result = read(read_chat, clock, [(0.1, pb.ChatEvent(content_delta="x")), (0.1, usage(1)),
                                        (0.0, finish(pb.FINISH_REASON_ERROR))])
    assert result.error == "FINISH_REASON_ERROR" and result.finish_reason == "error"


def sse(payload) -> str:
    return "data: " + (payload if isinstance(payload, str) else json.dumps(payload))


def chunk(delta: dict | None = None, finish_reason=None, stop_reason=None, text=None) -> str:
    choice = {"index": 0, "finish_reason": finish_reason}
    choice.update({"delta": delta} if text is None else {"text": text})
    if stop_reason is not None:
        choice["stop_reason"] = stop_reason
    return sse({"choices": [choice]})


def test_sse_chat_times_visible_chunks_only_and_prefers_our_stop_reason(clock):
    _, result = read(read_sse, clock, [
        (0.2, chunk({"role": "assistant", "content": ""})),  # the opening chunk shows nothing
        (0.3, chunk({"reasoning_content": "hm"})), (0.1, chunk({"content": "Hi"})),
        (0.2, chunk({"tool_calls": [{"index": 0, "id": "c"}]})), (0.0, ""),
        (0.1, chunk({}, "stop", "invalid_output")), (0.0, sse({"choices": [], "usage": {"completion_tokens": 12}})),
        (0.0, sse("[DONE]"))])
    assert result.ttft_s == pytest.approx(0.5) and result.inter_token_s == pytest.approx((0.1, 0.2))
    assert (result.output_tokens, result.finish_reason, result.error) == (12, "invalid_output", None)


def test_sse_completions_and_a_plain_finish_reason(clock):
    _, result = read(read_sse, clock, [(0.2, chunk(text="a")), (0.1, chunk(text="b")),
                                       (0.0, chunk(text="", finish_reason="length", stop_reason=7)),
                                       (0.0, sse({"choices": [], "usage": {"completion_tokens": 2}}))])
    assert (result.ttft_s, result.output_tokens, result.finish_reason) == (pytest.approx(0.2), 2, "length")


def test_sse_error_event_fails_the_request_and_stops_reading(clock):
    reply, result = read(read_sse, clock, [(0.1, chunk({"content": "x"})),
                                           (0.1, sse({"error": {"message": "gone", "code": 503}})),
                                           (5.0, chunk({"content": "never read"}))])
    assert result.error == "503" and reply.content == "x" and result.e2e_s == pytest.approx(0.2)


class FakeInference(pb_grpc.InferenceServicer):
    """Answers Chat and Generate with a fixed stream, and keeps the requests."""

    def __init__(self):
        self.requests = []

    async def Chat(self, request, context):
        self.requests.append(request)
        for event in (pb.ChatEvent(reasoning_delta="r"), pb.ChatEvent(content_delta="a"), usage(5),
                      finish(pb.FINISH_REASON_STOP)):
            yield event

    async def Generate(self, request, context):
        self.requests.append(request)
        for event in (pb.GenerateEvent(tokens=pb.TokenChunk(token_ids=[1, 2, 3])),
                      pb.GenerateEvent(tokens=pb.TokenChunk(token_ids=[4, 5])),
                      pb.GenerateEvent(finish=pb.Finish(reason=pb.FINISH_REASON_LENGTH))):
            yield event


def send(endpoint: str, request: PlannedRequest, ignore_eos: bool = False):
    async def main():
        fake, server = FakeInference(), grpc.aio.server()
        pb_grpc.add_InferenceServicer_to_server(fake, server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        client = GrpcClient(f"127.0.0.1:{port}", endpoint, timeout_s=10, ignore_eos=ignore_eos)
        try:
            return fake.requests, await client.send(request, run_start=0.0)
        finally:
            await client.close()
            await server.stop(0)

    return asyncio.run(main())


PLANNED = PlannedRequest(index=7, send_at_s=None, system="be brief", prompt="the cat", max_tokens=64,
                         reasoning_effort="high")


def test_grpc_chat_sends_messages_and_counts_usage():
    (request,), result = send("chat", PLANNED)
    assert [(m.role, m.content) for m in request.messages] == [(pb.ROLE_DEVELOPER, "be brief"),
                                                              (pb.ROLE_USER, "the cat")]
    assert request.reasoning_effort == pb.REASONING_EFFORT_HIGH
    assert (request.sampling.max_tokens, request.sampling.seed) == (64, 7)
    assert result.error is None and result.ttft_s is not None and len(result.inter_token_s) == 1
    assert (result.index, result.output_tokens, result.finish_reason) == (7, 5, "stop")


def test_grpc_completions_sends_a_harmony_prompt_and_counts_token_ids():
    (request,), result = send("completions", PLANNED)
    assert request.text.endswith("<|start|>user<|message|>the cat<|end|><|start|>assistant")
    assert "Reasoning: high" in request.text and "be brief" in request.text
    assert (result.output_tokens, result.finish_reason, result.error) == (5, "length", None)
    assert not request.sampling.ignore_eos


def test_grpc_completions_can_ignore_the_end_of_turn():
    (request,), _ = send("completions", PLANNED, ignore_eos=True)
    assert request.sampling.ignore_eos
