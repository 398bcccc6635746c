"""How late the gateway's event loop runs: the one number that shows a request stalling all the others."""

import asyncio

from cluster import metrics

INTERVAL_S = 0.05


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
            if lag > self.max_lag_s:
                self.max_lag_s = lag
                metrics.EVENT_LOOP_LAG_MAX.set(lag)
