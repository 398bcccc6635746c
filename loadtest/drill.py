"""Fault drills: bounded gRPC traffic against a gateway while something fails, and what became of each request.

Every request is a Generate stream on a thread of its own with a deadline; its outcome is one of:

- completed: it ended as streams do (length or stop);
- shed: refused before its first token with RESOURCE_EXHAUSTED and a retry hint, as overload should;
- cut: it had tokens, then ended with finish `error` or a status (which one is counted);
- lost before first token: it failed before any token for another reason (must be 0 where a
  healthy replica was left to retry on);
- hung: it did not end by its deadline plus a margin (must always be 0).

`retried` is the gateway's own count of requests it moved to another replica before their first
token, read from its metrics around the drill.
"""

import json
import statistics
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import grpc

from cluster._proto.cluster.v1 import inference_pb2 as pb
from cluster._proto.cluster.v1 import inference_pb2_grpc as pb_grpc

HANG_MARGIN_S = 30.0


@dataclass
class Outcome:
    kind: str  # completed | shed | cut | lost | hung
    status: str  # OK or the gRPC status that ended it
    finish: str  # the finish reason, where one came
    tokens: int
    first_token_s: float | None
    end_s: float  # from sending to the end (or to giving up, when hung)
    retry_after_ms: int | None = None


@dataclass
class DrillReport:
    drill: str
    sent: int
    completed: int
    retried: int
    shed: int
    cut: dict[str, int]
    lost_before_first_token: dict[str, int]
    hung: int
    ttft_p50_ms: float | None
    ttft_max_ms: float | None
    shed_p50_ms: float | None
    shed_max_ms: float | None
    extra: dict = field(default_factory=dict)

    def print(self) -> None:
        def ms(value):
            return "-" if value is None else f"{value:.0f} ms"
        print(f"drill {self.drill}: sent {self.sent}, completed {self.completed}, retried {self.retried}, "
              f"shed {self.shed} (p50 {ms(self.shed_p50_ms)}, max {ms(self.shed_max_ms)}), cut {self.cut or 0}, "
              f"lost before first token {self.lost_before_first_token or 0}, hung {self.hung}; TTFT p50 "
              f"{ms(self.ttft_p50_ms)}, max {ms(self.ttft_max_ms)}"
              + "".join(f"; {k} {v}" for k, v in self.extra.items()), flush=True)

    def write(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"drill-{self.drill}.json"
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")
        return path


class Drill:
    """`count` Generate streams of `max_tokens` each, started `spacing_s` apart (0: all at once), each
    with `deadline_s`; `metadata` goes with every call (an API key)."""

    def __init__(self, target: str, count: int, max_tokens: int, spacing_s: float = 0.0, deadline_s: float = 120.0,
                 metadata: tuple = (), credentials: grpc.ChannelCredentials | None = None):
        self._target, self._count, self._max_tokens = target, count, max_tokens
        self._spacing_s, self._deadline_s, self._metadata = spacing_s, deadline_s, metadata
        self._credentials = credentials
        self._outcomes: list[Outcome | None] = [None] * count
        self._threads: list[threading.Thread] = []
        self._began = 0.0
        self.first_tokens = threading.Semaphore(0)  # released once per stream that got its first token

    def start(self) -> "Drill":
        self._began = time.monotonic()
        self._starter = threading.Thread(target=self._start_all, daemon=True)
        self._starter.start()
        return self

    def _start_all(self) -> None:
        for i in range(self._count):
            thread = threading.Thread(target=self._run, args=(i,), daemon=True)
            self._threads.append(thread)
            thread.start()
            if self._spacing_s:
                time.sleep(self._spacing_s)

    def _channel(self) -> grpc.Channel:
        if self._credentials is None:
            return grpc.insecure_channel(self._target)
        return grpc.secure_channel(self._target, self._credentials)

    def _run(self, i: int) -> None:
        request = pb.GenerateRequest(text=f"drill request {i}", sampling=pb.Sampling(max_tokens=self._max_tokens,
                                                                                     seed=i))
        first = None
        tokens, finish = 0, ""
        with self._channel() as channel:
            try:  # connected first: the figures time the call, not the client's connection set-up
                grpc.channel_ready_future(channel).result(timeout=self._deadline_s)
            except grpc.FutureTimeoutError:
                self._outcomes[i] = _outcome("UNAVAILABLE", "", 0, None, self._deadline_s, None)
                return
            sent = time.monotonic()
            stream = pb_grpc.InferenceStub(channel).Generate(request, timeout=self._deadline_s,
                                                             metadata=self._metadata or None)
            try:
                for event in stream:
                    kind = event.WhichOneof("event")
                    if kind == "tokens" and event.tokens.token_ids:
                        if first is None:
                            first = time.monotonic() - sent
                            self.first_tokens.release()
                        tokens += len(event.tokens.token_ids)
                    elif kind == "finish":
                        finish = pb.FinishReason.Name(event.finish.reason)
                status = "OK"
            except grpc.RpcError as exc:
                status = exc.code().name
                pushback = dict(exc.trailing_metadata() or ()).get("grpc-retry-pushback-ms")
                self._outcomes[i] = _outcome(status, finish, tokens, first, time.monotonic() - sent,
                                             int(pushback) if pushback else None)
                return
        self._outcomes[i] = _outcome(status, finish, tokens, first, time.monotonic() - sent, None)

    def join(self) -> list[Outcome]:
        """Waits for every stream, up to its deadline plus HANG_MARGIN_S; a stream still open then is hung."""
        limit = self._began + self._spacing_s * self._count + self._deadline_s + HANG_MARGIN_S
        self._starter.join(max(0.0, limit - time.monotonic()))
        for thread in self._threads:
            thread.join(max(0.0, limit - time.monotonic()))
        return [o or Outcome("hung", "", "", 0, None, time.monotonic() - self._began) for o in self._outcomes]

    def report(self, name: str, retried: int = 0, **extra) -> DrillReport:
        return summarize(name, self.join(), retried, **extra)


def _outcome(status: str, finish: str, tokens: int, first: float | None, end_s: float,
             retry_after_ms: int | None) -> Outcome:
    if status == "OK" and finish in ("FINISH_REASON_LENGTH", "FINISH_REASON_STOP"):
        kind = "completed"
    elif tokens:
        kind = "cut"
        status = status if status != "OK" else finish  # cut inside the stream: finish `error`
    elif status == "RESOURCE_EXHAUSTED" and retry_after_ms is not None:
        kind = "shed"
    else:
        kind = "lost"
    return Outcome(kind, status, finish, tokens, first, end_s, retry_after_ms)


def summarize(name: str, outcomes: list[Outcome], retried: int = 0, **extra) -> DrillReport:
    kinds = Counter(o.kind for o in outcomes)
    ttfts = [o.first_token_s * 1000 for o in outcomes if o.first_token_s is not None]
    sheds = [o.end_s * 1000 for o in outcomes if o.kind == "shed"]
    return DrillReport(
        drill=name, sent=len(outcomes), completed=kinds["completed"], retried=retried, shed=kinds["shed"],
        cut=dict(Counter(o.status for o in outcomes if o.kind == "cut")),
        lost_before_first_token=dict(Counter(o.status for o in outcomes if o.kind == "lost")), hung=kinds["hung"],
        ttft_p50_ms=statistics.median(ttfts) if ttfts else None, ttft_max_ms=max(ttfts) if ttfts else None,
        shed_p50_ms=statistics.median(sheds) if sheds else None, shed_max_ms=max(sheds) if sheds else None,
        extra=extra)
