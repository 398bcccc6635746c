"""Per-tenant limits on one gateway, on a clock the test moves."""

import pytest

from cluster.errors import Overloaded, PermissionDenied
from cluster.gateway.quota import Quotas
from cluster.gateway.tenants import Tenant, TenantLimits
from cluster.types import PriorityClass

INTER, BATCH = PriorityClass.INTERACTIVE, PriorityClass.BATCH


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def quotas() -> tuple[Quotas, Clock]:
    clock = Clock()
    return Quotas(clock), clock


def team(**limits) -> Tenant:
    return Tenant("team", TenantLimits(**limits))


def test_requests_per_minute_allow_a_minutes_burst_then_the_rate_with_a_retry_hint():
    q, clock = quotas()
    t = team(requests_per_minute=6)
    for _ in range(6):
        q.admit(t, INTER, 10).release()
    with pytest.raises(Overloaded, match="used its 6 requests per minute on this gateway; retry after 10 s") as limited:
        q.admit(t, INTER, 10)
    assert limited.value.retry_after_s == 10  # one request refills every 10 s
    clock.now += 10
    q.admit(t, INTER, 10).release()


def test_tokens_per_minute_count_the_prompt_and_each_streamed_token():
    q, clock = quotas()
    t = team(tokens_per_minute=600)
    lease = q.admit(t, INTER, 400)
    lease.spend(150)
    lease.spend(100)  # overdrawn by 50: the running request is never cut for it
    lease.release()
    with pytest.raises(Overloaded, match="used its 600 tokens per minute") as limited:
        q.admit(t, INTER, 1)
    assert limited.value.retry_after_s == 5  # 50 tokens at 10 a second
    clock.now += 5.1
    q.admit(t, INTER, 1000).release()  # any balance above zero admits


def test_open_requests_are_capped_and_released_once():
    q, _ = quotas()
    t = team(max_concurrent=2)
    first, second = q.admit(t, INTER, 1), q.admit(t, INTER, 1)
    with pytest.raises(Overloaded, match="has 2 requests open, its limit"):
        q.admit(t, INTER, 1)
    first.release()
    first.release()  # twice: still one slot back, not two
    third = q.admit(t, INTER, 1)
    with pytest.raises(Overloaded):
        q.admit(t, INTER, 1)
    second.release(), third.release()


def test_a_priority_class_the_tenant_may_not_use_is_permission_denied():
    q, _ = quotas()
    with pytest.raises(PermissionDenied, match="'interactive' is not allowed for tenant team; allowed: batch"):
        q.admit(team(priority_classes=frozenset({BATCH})), INTER, 1)


def test_a_refused_request_takes_nothing_from_the_other_limits():
    q, clock = quotas()
    t = team(requests_per_minute=60, tokens_per_minute=60)
    q.admit(t, INTER, 100).release()  # tokens overdrawn by 40
    for _ in range(5):
        with pytest.raises(Overloaded, match="tokens per minute"):
            q.admit(t, INTER, 1)
    clock.now += 41
    q.admit(t, INTER, 1).release()  # the refusals spent none of the 60 requests


def test_tenants_do_not_share_limits():
    q, _ = quotas()
    limits = TenantLimits(requests_per_minute=1)
    q.admit(Tenant("a", limits), INTER, 1).release()
    q.admit(Tenant("b", limits), INTER, 1).release()
    with pytest.raises(Overloaded, match="tenant a used"):
        q.admit(Tenant("a", limits), INTER, 1)


def test_new_limits_from_a_reloaded_file_keep_what_was_used_and_the_open_requests():
    q, _ = quotas()
    before = team(requests_per_minute=10, max_concurrent=1)
    lease = q.admit(before, INTER, 1)
    after = team(requests_per_minute=5, max_concurrent=1)  # the file changed while the request runs
    with pytest.raises(Overloaded, match="1 requests open"):
        q.admit(after, INTER, 1)
    lease.release()  # the lease taken under the old limits frees the slot under the new ones
    for _ in range(5):
        q.admit(after, INTER, 1).release()  # 9 requests were left of 10: the new bucket holds at most 5
    with pytest.raises(Overloaded, match="5 requests per minute"):
        q.admit(after, INTER, 1)


def test_no_limits_means_none():
    q, _ = quotas()
    leases = [q.admit(team(), INTER, 10**6) for _ in range(1000)]
    for lease in leases:
        lease.spend(10**6)
        lease.release()
