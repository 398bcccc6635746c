"""The runner's scheduling on plain inputs: a client that takes a fixed time per request."""

import asyncio
import time

from loadtest.runner import run
from loadtest.stats import RequestResult
from loadtest.workload import WorkloadSpec, plan


class SlowClient:
    """Answers every request after `seconds`, and records how many were in flight at once."""

    def __init__(self, seconds: float):
        self.seconds, self.in_flight, self.peak = seconds, 0, 0

    async def send(self, request, run_start):
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        started = time.perf_counter()
        try:
            await asyncio.sleep(self.seconds)
        finally:
            self.in_flight -= 1
        return RequestResult(request.index, started - run_start, 0.001, (), self.seconds, 1)


def go(requests, client, concurrency, duration, stop=None, drain=5.0):
    async def main():
        return await run(requests, client, concurrency, duration, drain, stop or asyncio.Event())
    return asyncio.run(main())


def test_closed_loop_keeps_the_concurrency_and_the_request_bound():
    client = SlowClient(0.05)
    results, wall = go(plan(WorkloadSpec(concurrency=3), 12), client, 3, duration=10)
    assert len(results) == 12 and client.peak == 3
    assert 0.15 < wall < 2  # 4 waves of 3


def test_duration_bound_stops_sending():
    client = SlowClient(0.1)
    results, wall = go(plan(WorkloadSpec(concurrency=1), 1000), client, 1, duration=0.35)
    assert 3 <= len(results) <= 5 and wall < 1


def test_open_loop_follows_the_send_times():
    requests = plan(WorkloadSpec(pattern="poisson", rate=50, seed=1), 20)
    results, wall = go(requests, SlowClient(0.01), len(requests), duration=10)
    assert len(results) == 20
    for r in results:
        assert r.started_s >= requests[r.index].send_at_s - 0.005


def test_stop_ends_the_run_at_once_and_keeps_what_finished():
    async def main():
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(0.25, stop.set)
        return await run(plan(WorkloadSpec(concurrency=2), 100), SlowClient(0.1), 2, 30, 30, stop)

    results, wall = asyncio.run(main())
    assert 2 <= len(results) <= 6 and wall < 1


def test_started_marks_time_zero_before_the_first_request():
    events = []

    class Recording(SlowClient):
        async def send(self, request, run_start):
            events.append(("sent", run_start))
            return await super().send(request, run_start)

    async def main():
        return await run(plan(WorkloadSpec(concurrency=2), 4), Recording(0.01), 2, 10, 5, asyncio.Event(),
                         started=lambda: events.append(("started", time.perf_counter())))

    asyncio.run(main())
    assert [kind for kind, _ in events] == ["started", "sent", "sent", "sent", "sent"]
    assert all(abs(at - events[0][1]) < 0.05 for kind, at in events[1:])  # every request counts from it
