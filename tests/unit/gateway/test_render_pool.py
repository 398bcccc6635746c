"""The render pool with real worker processes: results, errors, time limits, cancellation, and a
loop that keeps running while a worker tokenizes."""

import asyncio
import operator
import time

import pytest

from cluster.errors import InternalError, InvalidRequest
from cluster.gateway.prepare import prepare_chat, prepare_generate
from cluster.gateway.render_pool import RenderPool
from cluster.gateway.validate import Limits
from cluster.types import GenerateRequest
from tests.factories import chat, user

LIMITS = Limits(model_name="m", max_model_len=1_000_000, default_max_tokens=10, max_message_bytes=1 << 20)


def with_pool(body, workers: int = 1, timeout_s: float = 30.0):
    async def main():
        pool = RenderPool(workers, timeout_s)
        await pool.start()
        try:
            return await body(pool)
        finally:
            await pool.stop()

    return asyncio.run(main())


def test_a_job_returns_its_value_and_a_cluster_error_passes_through():
    async def body(pool):
        assert await pool.run(pow, 2, 10) == 1024
        prepared = await pool.run(prepare_chat, chat(user("Hello")), LIMITS)
        assert prepared.prompt[-2] == 200006 and prepared.max_tokens == 10  # ends with <|start|>assistant
        with pytest.raises(InvalidRequest, match=r"prompt.text: holds a run of 5000 characters"):
            await pool.run(prepare_generate, GenerateRequest(text="a" * 5000), LIMITS)

    with_pool(body)


def test_a_bug_in_a_job_is_internal_and_does_not_leak_its_message():
    async def body(pool):
        with pytest.raises(InternalError) as err:
            await pool.run(operator.truediv, 1, 0)
        assert "division" not in str(err.value)
        assert await pool.run(pow, 3, 2) == 9  # the worker survived

    with_pool(body)


def test_a_job_past_its_time_is_refused_and_its_worker_replaced():
    async def body(pool):
        with pytest.raises(InvalidRequest, match="took longer than"):
            await pool.run(time.sleep, 30)
        assert await asyncio.wait_for(pool.run(pow, 2, 3), 60) == 8  # served by the replacement

    with_pool(body, timeout_s=0.5)


def test_a_caller_that_goes_away_does_not_lose_the_worker():
    async def body(pool):
        job = asyncio.ensure_future(pool.run(time.sleep, 0.5))
        await asyncio.sleep(0.1)
        job.cancel()
        assert await asyncio.wait_for(pool.run(pow, 2, 5), 10) == 32  # the one worker came back

    with_pool(body)


def test_the_loop_runs_on_while_a_worker_tokenizes():
    """Harmony holds the GIL while it tokenizes: in a thread this would stall the loop for as long."""
    text = " ".join(["a" * 4000] * 60)  # 60 pieces of 4,000 bytes: ~0.5 s of tokenizing

    async def body(pool):
        gaps, done = [], False

        async def tick():
            last = time.monotonic()
            while not done:
                await asyncio.sleep(0.005)
                now = time.monotonic()
                gaps.append(now - last)
                last = now

        ticker = asyncio.ensure_future(tick())
        started = time.monotonic()
        prepared = await pool.run(prepare_generate, GenerateRequest(text=text), LIMITS)
        took = time.monotonic() - started
        done = True
        await ticker
        assert len(prepared.prompt) > 1000
        assert max(gaps) < took / 2, f"the loop stalled {max(gaps):.2f} s of a {took:.2f} s job"

    with_pool(body)
