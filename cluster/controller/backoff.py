"""The restart budget of a slot: exponential back-off after failed starts, then giving up. Pure."""

import dataclasses
import re

from cluster.config import LifecycleConfig
from cluster.controller.reconcile import SlotStatus


def started(slot: SlotStatus) -> SlotStatus:
    """A replica was created in the slot."""
    return dataclasses.replace(slot, starts=slot.starts + 1)


def start_succeeded(slot: SlotStatus) -> SlotStatus:
    return dataclasses.replace(slot, failures=0, retry_at=0.0, given_up="")


def start_failed(slot: SlotStatus, now: float, error: str, lifecycle: LifecycleConfig) -> SlotStatus:
    """The next start waits start_backoff_s, doubled per failure up to start_backoff_max_s; after
    max_start_failures in a row the slot is given up, with the last error as the reason."""
    failures = slot.failures + 1
    delay = min(lifecycle.start_backoff_s * 2 ** (failures - 1), lifecycle.start_backoff_max_s)
    given_up = ""
    if failures >= lifecycle.max_start_failures:
        given_up = f"{failures} failed starts in a row; the last: {error}"
    return dataclasses.replace(slot, failures=failures, retry_at=now + delay, given_up=given_up)


def failure_reason(exc: BaseException) -> str:
    """One line an operator can act on, out of an error that crossed Ray with a traceback: the last
    line that names an error (pydantic's "Value error, ..." too), without links; at most 300 characters."""
    if isinstance(exc, TimeoutError):
        return "timed out"
    lines = [line.strip() for line in str(exc).splitlines()
             if line.strip() and not line.strip().startswith("For further information")]
    named = [line for line in lines if _NAMES_AN_ERROR.search(line) and not line.startswith("File ")]
    return (named or lines or [type(exc).__name__])[-1][:300]


_NAMES_AN_ERROR = re.compile(r"(Error|Exception|error)\b\s*[:,]")
