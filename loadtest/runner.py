"""Runs a plan against a client within a request count and a duration; stops cleanly when asked."""

import asyncio
import sys
import time
from collections.abc import Callable

from loadtest.stats import RequestResult
from loadtest.workload import PlannedRequest


async def run(plan: list[PlannedRequest], client, concurrency: int, max_duration_s: float, drain_s: float,
              stop: asyncio.Event, progress: Callable[[int], None] = lambda done: None,
              started: Callable[[], None] = lambda: None) -> tuple[list[RequestResult], float]:
    """Sends the plan (already cut to the maximum request count) until it is done, the duration is up,
    or `stop` is set. Requests in flight at the end get `drain_s` to finish, then are cancelled.
    `started` is called at the run's time zero, the one requests' times count from. Returns the
    results received and the wall time."""
    start = time.perf_counter()
    started()
    deadline = start + max_duration_s
    results: list[RequestResult] = []
    in_flight: set[asyncio.Task] = set()
    slots = asyncio.Semaphore(concurrency)

    async def one(request: PlannedRequest) -> None:
        try:
            results.append(await client.send(request, start))
            progress(len(results))
        finally:
            if request.send_at_s is None:
                slots.release()

    def remaining() -> float:
        return deadline - time.perf_counter()

    for request in plan:
        if stop.is_set() or remaining() <= 0:
            break
        if request.send_at_s is None:  # closed loop: wait for a free slot
            if not await _wait(slots.acquire(), stop, remaining()):
                break
        else:  # open loop: wait for the send time
            delay = request.send_at_s - (time.perf_counter() - start)
            if delay > 0 and (delay > remaining() or not await _wait(asyncio.sleep(delay), stop, delay + 1)):
                break
        task = asyncio.get_running_loop().create_task(one(request))
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)
    if in_flight and not stop.is_set():
        await _wait(asyncio.wait(set(in_flight)), stop, drain_s)
    for task in list(in_flight):
        task.cancel()
    await asyncio.gather(*in_flight, return_exceptions=True)
    return results, time.perf_counter() - start


async def _wait(awaitable, stop: asyncio.Event, timeout_s: float) -> bool:
    """Awaits `awaitable` unless `stop` is set or `timeout_s` passes first; True if it completed."""
    task = asyncio.ensure_future(awaitable)
    stopper = asyncio.ensure_future(stop.wait())
    done, _ = await asyncio.wait({task, stopper}, timeout=max(timeout_s, 0), return_when=asyncio.FIRST_COMPLETED)
    stopper.cancel()
    if task in done:
        return True
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return False


class Progress:
    """A one-line progress bar on stderr."""

    def __init__(self, total: int, duration_s: float):
        self.total, self.duration_s, self.start = total, duration_s, time.perf_counter()

    def __call__(self, done: int) -> None:
        elapsed = time.perf_counter() - self.start
        width = 30
        filled = int(width * min(1.0, max(done / self.total, elapsed / self.duration_s)))
        sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{self.total} requests, "
                         f"{elapsed:5.1f}/{self.duration_s:.0f} s")
        sys.stderr.flush()

    def close(self) -> None:
        sys.stderr.write("\n")
