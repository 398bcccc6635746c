import random

import pytest

from cluster.config import ConfigError, RouterConfig
from cluster.router.policy import PolicyError
from cluster.router.profile import Profile, profile_from_config
from tests.unit.router.factories import candidate, request

SYSTEM = list(range(64))


def default_profile() -> Profile:
    return profile_from_config(RouterConfig())


def test_the_default_profile_sends_a_shared_prefix_where_it_is_cached():
    profile, rng = default_profile(), random.Random(0)
    idle = [candidate("a"), candidate("b")]
    first = profile.decide(request(SYSTEM + [1] * 8), idle, rng).candidate.replica_id
    for i in range(10):
        assert profile.decide(request(SYSTEM + [i + 2] * 8), idle, rng).candidate.replica_id == first


def test_the_default_profile_prefers_load_over_a_prefix_on_a_much_busier_replica():
    profile, rng = default_profile(), random.Random(0)
    profile.decide(request(SYSTEM), [candidate("a"), candidate("b", 9)], rng)  # learns SYSTEM is on a
    decision = profile.decide(request(SYSTEM), [candidate("a", 8), candidate("b", 0)], rng)
    assert decision.candidate.replica_id == "b"
    assert "prefix-affinity a=0.00 b=0.00" in decision.explain()


def test_nearly_full_replicas_are_avoided_unless_all_are():
    profile, rng = default_profile(), random.Random(0)
    full, free = candidate("full", kv=0.97), candidate("free", in_flight=3, kv=0.2)
    assert all(profile.decide(request(), [full, free], rng).candidate.replica_id == "free" for _ in range(20))
    both_full = [candidate("x", kv=0.95), candidate("y", kv=0.99)]
    assert profile.decide(request(), both_full, rng).candidate.replica_id in {"x", "y"}


def test_ties_are_broken_at_random_and_stale_replicas_still_serve():
    profile, rng = default_profile(), random.Random(1)
    stale = [candidate("a", fresh=False), candidate("b", fresh=False)]
    assert {profile.decide(request(), stale, rng).candidate.replica_id for _ in range(40)} == {"a", "b"}


def test_round_robin_profile_ignores_load_and_prefixes():
    profile = profile_from_config(RouterConfig(filters=(), scorers={}, picker="round-robin"))
    rng = random.Random(0)
    picks = [profile.decide(request(SYSTEM), [candidate("a", 5), candidate("b")], rng).candidate.replica_id
             for _ in range(4)]
    assert picks == ["a", "b", "a", "b"]


def test_weights_scale_scorers():
    profile = Profile.from_names([], {"least-loaded": 1.0, "kv-headroom": 3.0}, "least-loaded", {})
    busy_roomy, idle_full = candidate("a", 1, kv=0.0), candidate("b", 0, kv=0.6)
    decision = profile.decide(request(), [busy_roomy, idle_full], random.Random(0))
    assert decision.candidate.replica_id == "a" and decision.totals == [0.5 + 3.0, 1.0 + 3 * 0.4]


@pytest.mark.parametrize("router, message", [
    (RouterConfig(picker="fastest"), "'fastest' is not a picker; registered: least-loaded, round-robin"),
    (RouterConfig(filters=("prefix-affinity",)), "'prefix-affinity' is not a filter"),
    (RouterConfig(scorers={"least-loaded": 0}), "weight 0 is out of range"),
    (RouterConfig(params={"kv-headroom": {"max_usage": 2}}), "max_usage: 2"),
    (RouterConfig(params={"kv-headroom": {"maxusage": 0.5}}), "unknown parameter 'maxusage'; allowed: max_usage"),
    (RouterConfig(params={"session-affinity": {}}), "params given for 'session-affinity'"),
    (RouterConfig(plugins=("no_such_module",)), "plugin module 'no_such_module' cannot be imported"),
])
def test_bad_profiles_name_the_policy_or_parameter(router, message):
    with pytest.raises(ConfigError, match="^router: ") as error:
        profile_from_config(router)
    assert message in str(error.value)


def test_a_policy_name_is_registered_once_per_kind():
    from cluster.router.policy import Kind, register

    with pytest.raises(PolicyError, match="registered twice"):
        register(Kind.PICKER, "round-robin")(object)
