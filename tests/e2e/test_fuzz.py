"""Property-based fuzzing of both APIs on the real stack, from the HTTP request schemas and the proto:
never a 500 / INTERNAL / UNKNOWN, never a traceback, never a stream without its end, never a hang.
`benchmarks/fuzz.py` runs the same cases by the ten thousand."""

import asyncio

import grpc
import httpx
import pytest
from hypothesis import HealthCheck, given, settings

from loadtest.fuzz import grpc_cases, http_cases
from loadtest.fuzz.runner import send_grpc, send_http

pytestmark = pytest.mark.e2e

SETTINGS = settings(max_examples=150, deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck))


@SETTINGS
@given(case=http_cases.cases())
def test_http_bodies(cluster, case):
    async def send():
        async with httpx.AsyncClient(base_url=cluster.http_url) as client:
            return await send_http(client, case)

    outcome = asyncio.run(send())
    assert outcome.ok, outcome.problem


@SETTINGS
@given(case=grpc_cases.cases())
def test_grpc_messages(cluster, case):
    async def send():
        async with grpc.aio.insecure_channel(cluster.grpc_target) as channel:
            return await send_grpc(channel, case)

    outcome = asyncio.run(send())
    assert outcome.ok, outcome.problem


def test_the_event_loop_never_stalled(cluster):
    """After everything above (and whatever ran before on this cluster), the loop never waited a second."""
    assert cluster.metric("oss_cluster_event_loop_lag_max_seconds") < 1.0
