"""Per-tenant limits, held by each gateway on its own: requests and tokens per minute, open requests,
allowed priority classes.

Rates are token buckets that hold a minute's worth and refill continuously, so a tenant may burst
its whole minute at once and then goes at its rate. Tokens are debited as they happen: the prompt's
when the request is admitted, each completion token as it streams; a bucket may go below zero
(a request already running is never cut for its tenant's rate), and the tenant's next requests
wait, as a `RESOURCE_EXHAUSTED` / 429 with a retry hint, until it refills above zero.

With N gateways a tenant may use up to N times its limits (the gateways do not share counters):
set limits per gateway, as docs/tenants.md says.
"""

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from cluster import metrics
from cluster.errors import Overloaded, PermissionDenied
from cluster.gateway.tenants import Tenant, TenantLimits
from cluster.types import PriorityClass

LIMIT_REASONS = ("requests_per_minute", "tokens_per_minute", "max_concurrent")
CONCURRENCY_RETRY_S = 1.0


class TokenBucket:
    """Holds up to `per_minute`, refills at `per_minute` / 60 a second; may be overdrawn."""

    def __init__(self, per_minute: int, now: float):
        self.capacity = float(per_minute)
        self.level = self.capacity
        self._rate = per_minute / 60.0
        self._at = now

    def refill(self, now: float) -> None:
        self.level = min(self.capacity, self.level + (now - self._at) * self._rate)
        self._at = now

    def seconds_until(self, level: float) -> float:
        """How long until the bucket holds `level`."""
        return max(0.0, (level - self.level) / self._rate)


@dataclass
class _Usage:
    limits: TenantLimits
    requests: TokenBucket | None
    tokens: TokenBucket | None
    open: int = 0


class Lease:
    """One admitted request's hold on its tenant's limits: spends completion tokens as they stream;
    `release()` (once) gives back its concurrency slot."""

    def __init__(self, usage: _Usage, clock: Callable[[], float]):
        self._usage, self._clock = usage, clock
        self._released = False

    def spend(self, tokens: int) -> None:
        if self._usage.tokens is not None and tokens:
            self._usage.tokens.refill(self._clock())
            self._usage.tokens.level -= tokens

    def release(self) -> None:
        if not self._released:
            self._released = True
            self._usage.open -= 1


class Quotas:
    """The limits of every tenant on this gateway."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._usage: dict[str, _Usage] = {}

    def admit(self, tenant: Tenant, priority_class: PriorityClass, prompt_tokens: int) -> Lease:
        """Takes a request of `prompt_tokens` into its tenant's limits; raises PermissionDenied for a
        priority class the tenant may not use, Overloaded (with a retry hint) for a limit reached."""
        limits = tenant.limits
        if priority_class not in limits.priority_classes:
            allowed = ", ".join(sorted(c.value for c in limits.priority_classes))
            raise PermissionDenied(f"priority class {priority_class.value!r} is not allowed for tenant {tenant.name}; "
                                   f"allowed: {allowed}")
        usage = self._usage_of(tenant)
        now = self._clock()
        if limits.max_concurrent and usage.open >= limits.max_concurrent:
            raise self._limited(tenant, priority_class, "max_concurrent", CONCURRENCY_RETRY_S,
                                f"tenant {tenant.name} has {usage.open} requests open, its limit")
        if usage.requests is not None:
            usage.requests.refill(now)
            if usage.requests.level < 1:
                raise self._limited(tenant, priority_class, "requests_per_minute", usage.requests.seconds_until(1),
                                    f"tenant {tenant.name} used its {limits.requests_per_minute} requests per minute")
        if usage.tokens is not None:
            usage.tokens.refill(now)
            if usage.tokens.level <= 0:  # any balance above zero admits: the prompt may overdraw it
                raise self._limited(tenant, priority_class, "tokens_per_minute", usage.tokens.seconds_until(0),
                                    f"tenant {tenant.name} used its {limits.tokens_per_minute} tokens per minute")
        if usage.requests is not None:
            usage.requests.level -= 1
        if usage.tokens is not None:
            usage.tokens.level -= prompt_tokens
        usage.open += 1
        return Lease(usage, self._clock)

    def _usage_of(self, tenant: Tenant) -> _Usage:
        """The tenant's counters. New limits from a reloaded tenants file apply in place: open leases
        keep counting, and what the buckets hold carries over (up to the new capacity)."""
        usage = self._usage.get(tenant.name)
        if usage is not None and usage.limits == tenant.limits:
            return usage
        now, limits = self._clock(), tenant.limits
        requests = TokenBucket(limits.requests_per_minute, now) if limits.requests_per_minute else None
        tokens = TokenBucket(limits.tokens_per_minute, now) if limits.tokens_per_minute else None
        if usage is None:
            usage = self._usage[tenant.name] = _Usage(limits, requests, tokens)
            return usage
        for old, new in ((usage.requests, requests), (usage.tokens, tokens)):
            if old is not None and new is not None:
                old.refill(now)
                new.level = min(new.capacity, old.level)
        usage.limits, usage.requests, usage.tokens = limits, requests, tokens
        return usage

    @staticmethod
    def _limited(tenant: Tenant, priority_class: PriorityClass, reason: str, wait_s: float, why: str) -> Overloaded:
        metrics.SHED.labels(tenant.name, priority_class.value, reason).inc()
        retry = max(1.0, float(math.ceil(wait_s)))
        return Overloaded(f"{why} on this gateway; retry after {retry:.0f} s", retry)
