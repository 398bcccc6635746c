"""Stop strings on streamed text: cut the answer before the first stop string, even across deltas."""


class StopMatcher:
    """Holds back the tail that could still grow into a stop string; reports when one is reached."""

    def __init__(self, stops: tuple[str, ...]):
        self._stops = stops
        self._hold = max((len(s) for s in stops), default=1) - 1
        self._buffer = ""
        self.stopped = False

    def feed(self, text: str) -> str:
        """Returns the text that is safe to send now. After a stop string, returns "" for ever."""
        if self.stopped or not self._stops:
            return "" if self.stopped else text
        self._buffer += text
        hits = [i for i in (self._buffer.find(s) for s in self._stops) if i >= 0]
        if hits:
            self.stopped = True
            out, self._buffer = self._buffer[:min(hits)], ""
            return out
        cut = max(len(self._buffer) - self._hold, 0)
        out, self._buffer = self._buffer[:cut], self._buffer[cut:]
        return out

    def flush(self) -> str:
        """The held-back tail, at the end of the stream."""
        out, self._buffer = ("" if self.stopped else self._buffer), ""
        return out
