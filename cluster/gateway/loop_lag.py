"""How late the gateway's event loop runs: the one number that shows a request stalling all the others."""

import asyncio
import logging

from cluster import metrics

log = logging.getLogger(__name__)

INTERVAL_S = 0.05
WARN_AT_S = 0.5  # a stall this long shows in the log too


class LoopLagMonitor:
    """Sleeps `interval_s` again and again and records how much later than asked each wake-up came."""

    def __init__(self, interval_s: float = INTERVAL_S):
        self._interval_s = interval_s
        self._task: asyncio.Task | None = None
        self.max_lag_s = 0.0

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            asked = loop.time() + self._interval_s
            await asyncio.sleep(self._interval_s)
            lag = max(0.0, loop.time() - asked)
            metrics.EVENT_LOOP_LAG.observe(lag)
            if lag >= WARN_AT_S:
                log.warning("the event loop was held for %.0f ms: every request, stream and health check waited",
                            lag * 1e3)
            if lag > self.max_lag_s:
                self.max_lag_s = lag
                metrics.EVENT_LOOP_LAG_MAX.set(lag)
