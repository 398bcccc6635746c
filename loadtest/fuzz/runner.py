"""Sends fuzz cases to a running gateway and says what each outcome means.

A problem is what the gateway must never do, whatever it is sent: answer 500 / INTERNAL / UNKNOWN,
put a traceback in a response, leave a stream without its end, or never answer (a hang: no
answer within the client's timeout, far beyond what any fuzz case needs).
"""

import asyncio
import time
from collections.abc import Iterable
from dataclasses import dataclass

import grpc
import httpx
from hypothesis import HealthCheck, Phase, seed, settings
from hypothesis import given as hypothesis_given

from loadtest.fuzz.grpc_cases import GrpcCase
from loadtest.fuzz.http_cases import HttpCase

CLIENT_TIMEOUT_S = 120.0  # far beyond any fuzz case (a few tokens at most): reaching it means a hang
STREAM_ENDS = (b"data: [DONE]", b"event: response.completed", b"event: response.incomplete",
               b"event: response.failed")
BAD_GRPC = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN}


@dataclass(frozen=True)
class Outcome:
    api: str  # http | grpc
    target: str  # the path or the method
    status: str  # the HTTP status code, or the gRPC status name
    seconds: float
    problem: str = ""  # empty when the gateway behaved

    @property
    def ok(self) -> bool:
        return not self.problem


async def send_http(client: httpx.AsyncClient, case: HttpCase) -> Outcome:
    started = time.monotonic()
    try:
        async with client.stream("POST", case.path, content=case.body, headers=case.headers,
                                 timeout=CLIENT_TIMEOUT_S) as response:
            payload = await response.aread()
    except httpx.TimeoutException:
        return Outcome("http", case.path, "timeout", time.monotonic() - started, "hang")
    took, status = time.monotonic() - started, response.status_code
    problem = ""
    if status >= 500 and status not in (503, 504):
        problem = f"HTTP {status}: {payload[:300]!r}"
    elif b"Traceback" in payload:
        problem = "a traceback in the response"
    elif status == 200 and case.stream and not any(end in payload[-600:] for end in STREAM_ENDS):
        problem = f"a stream without its end: {payload[-300:]!r}"
    elif status != 200 and b'"error"' not in payload:
        problem = f"HTTP {status} without an error body: {payload[:300]!r}"
    return Outcome("http", case.path, str(status), took, problem)


async def send_grpc(channel: grpc.aio.Channel, case: GrpcCase) -> Outcome:
    started = time.monotonic()
    method = f"/cluster.v1.Inference/{case.method}"
    status = grpc.StatusCode.OK
    try:
        if case.server_streaming:
            async for _ in channel.unary_stream(method)(case.payload, timeout=CLIENT_TIMEOUT_S):
                pass
        else:
            await channel.unary_unary(method)(case.payload, timeout=CLIENT_TIMEOUT_S)
    except grpc.aio.AioRpcError as exc:
        status, details = exc.code(), exc.details() or ""
        took = time.monotonic() - started
        if status in BAD_GRPC:
            return Outcome("grpc", case.method, status.name, took, f"{status.name}: {details[:300]}")
        if status is grpc.StatusCode.DEADLINE_EXCEEDED and took >= CLIENT_TIMEOUT_S - 1:
            return Outcome("grpc", case.method, "timeout", took, "hang")
        if "Traceback" in details:
            return Outcome("grpc", case.method, status.name, took, "a traceback in the details")
    return Outcome("grpc", case.method, status.name, time.monotonic() - started)


async def send_all(cases: Iterable[HttpCase | GrpcCase], http_url: str, grpc_target: str,
                   concurrency: int) -> list[Outcome]:
    """Sends every case, `concurrency` at a time; returns the outcomes in the order of `cases`."""
    cases = list(cases)
    outcomes: list[Outcome | None] = [None] * len(cases)
    next_index = iter(range(len(cases)))
    async with httpx.AsyncClient(base_url=http_url) as client, grpc.aio.insecure_channel(grpc_target) as channel:
        async def worker():
            for i in next_index:
                case = cases[i]
                outcomes[i] = await (send_http(client, case) if isinstance(case, HttpCase)
                                     else send_grpc(channel, case))

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return outcomes


def draw(strategy, count: int, random_seed: int) -> list:
    """`count` cases from a strategy, reproducibly from `random_seed` (generation only: no shrinking)."""
    drawn = []

    @seed(random_seed)
    @settings(max_examples=count, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @hypothesis_given(strategy)
    def collect(case):
        drawn.append(case)

    collect()
    return drawn[:count]
