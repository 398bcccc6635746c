"""Whether a replica is making progress: the basis of readiness by progress, not by liveness."""

import time


class Progress:
    """Counts the requests a replica streams and when any of them last produced a token.

    A replica whose engine has frozen still answers Ray calls; what gives it away is that it has
    work and produces nothing. Going from idle to busy counts as progress, so a long prefill after
    a quiet spell starts its own clock.
    """

    def __init__(self, clock=time.monotonic):
        self._clock = clock
        self.active = 0
        self._progress_at = clock()

    def begin(self) -> None:
        if self.active == 0:
            self._progress_at = self._clock()
        self.active += 1

    def advanced(self) -> None:
        self._progress_at = self._clock()

    def end(self) -> None:
        self.active -= 1

    def stalled_s(self) -> float:
        """Seconds since the last progress while there is work; 0 when idle."""
        return self._clock() - self._progress_at if self.active else 0.0
