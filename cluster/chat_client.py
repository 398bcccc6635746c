"""`oss-cluster chat`: one chat over gRPC, reasoning and answer printed apart, then usage."""

import sys

import grpc

from cluster._proto.cluster.v1 import inference_pb2 as pb
from cluster._proto.cluster.v1 import inference_pb2_grpc as pb_grpc

REASONING_EFFORTS = {"low": pb.REASONING_EFFORT_LOW, "medium": pb.REASONING_EFFORT_MEDIUM,
                     "high": pb.REASONING_EFFORT_HIGH}


def run_chat(args) -> int:
    messages = [pb.Message(role=pb.ROLE_DEVELOPER, content=args.system)] if args.system else []
    messages.append(pb.Message(role=pb.ROLE_USER, content=args.message))
    sampling = pb.Sampling(max_tokens=args.max_tokens, temperature=args.temperature, seed=args.seed)
    request = pb.ChatRequest(messages=messages, reasoning_effort=REASONING_EFFORTS[args.effort], sampling=sampling)
    section = None
    usage, finish = None, None
    with grpc.insecure_channel(args.target) as channel:
        try:
            metadata = [("authorization", f"Bearer {args.api_key}")] if args.api_key else None
            for event in pb_grpc.InferenceStub(channel).Chat(request, timeout=args.timeout, metadata=metadata):
                kind = event.WhichOneof("event")
                if kind in ("reasoning_delta", "content_delta"):
                    name = "reasoning" if kind == "reasoning_delta" else "answer"
                    if section != name:
                        print(f"{'' if section is None else chr(10)}[{name}]", flush=True)
                        section = name
                    print(getattr(event, kind), end="", flush=True)
                elif kind == "tool_call":
                    call = event.tool_call
                    print(f"\n[tool call] {call.name}({call.arguments}) id={call.id}", flush=True)
                elif kind == "usage":
                    usage = event.usage
                elif kind == "finish":
                    finish = event.finish
        except grpc.RpcError as exc:
            print(f"\noss-cluster chat: {exc.code().name}: {exc.details()}", file=sys.stderr)
            return 1
    if section is not None:
        print()
    reason = pb.FinishReason.Name(finish.reason).removeprefix("FINISH_REASON_").lower()
    print(f"[finish] {reason}{': ' + finish.message if finish.message else ''}")
    decode_s = (usage.total_time_ms - usage.time_to_first_token_ms) / 1000
    rate = (usage.completion_tokens - 1) / decode_s if usage.completion_tokens > 1 and decode_s > 0 else 0.0
    print(f"[usage] prompt {usage.prompt_tokens} tokens, completion {usage.completion_tokens} "
          f"(reasoning {usage.reasoning_tokens}); time to first token {usage.time_to_first_token_ms:.0f} ms; "
          f"{rate:.1f} tokens/s")
    return 0
