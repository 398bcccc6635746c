import asyncio
import logging
import time

from cluster import metrics
from cluster.gateway.loop_lag import LoopLagMonitor


def test_a_blocking_call_on_the_loop_shows_as_lag_and_in_the_log(caplog):
    async def main():
        monitor = LoopLagMonitor(interval_s=0.01)
        monitor.start()
        await asyncio.sleep(0.05)
        time.sleep(0.6)  # what a tokenizer holding the GIL did to the gateway
        await asyncio.sleep(0.05)
        await monitor.stop()
        return monitor.max_lag_s

    with caplog.at_level(logging.WARNING, logger="cluster.gateway.loop_lag"):
        assert asyncio.run(main()) >= 0.55
    assert metrics.EVENT_LOOP_LAG_MAX._value.get() >= 0.55
    assert "the event loop was held for" in caplog.text
