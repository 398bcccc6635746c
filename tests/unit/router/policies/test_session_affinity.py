from collections import Counter

import pytest

from cluster.router.policies.session_affinity import SessionAffinity
from cluster.router.policy import PolicyError
from tests.unit.router.factories import candidate, request

THREE = [candidate("a"), candidate("b"), candidate("c")]


def owner(policy, session, candidates):
    scores = policy.score(request(session=session), candidates)
    assert sorted(scores) == [0.0] * (len(candidates) - 1) + [1.0]
    return candidates[scores.index(1.0)].replica_id


def test_a_session_keeps_its_replica_and_sessions_spread():
    policy = SessionAffinity()
    owners = {s: owner(policy, f"s{s}", THREE) for s in range(300)}
    assert all(owner(policy, f"s{s}", list(reversed(THREE))) == owners[s] for s in range(300))
    spread = Counter(owners.values())
    assert set(spread) == {"a", "b", "c"} and min(spread.values()) > 60


def test_only_the_sessions_of_a_departed_replica_move():
    policy = SessionAffinity()
    before = {s: owner(policy, f"s{s}", THREE) for s in range(300)}
    after = {s: owner(policy, f"s{s}", THREE[:2]) for s in range(300)}
    assert all(after[s] == before[s] for s in before if before[s] != "c")


def test_a_full_replica_passes_the_session_to_the_next_with_room():
    policy = SessionAffinity(load_factor=1.25)
    home = owner(policy, "chat-1", THREE)
    busy = [candidate(c.replica_id, in_flight=6 if c.replica_id == home else 0) for c in THREE]
    assert owner(policy, "chat-1", busy) != home  # 6 + 1 > ceil(1.25 * 7 / 3) = 3


def test_requests_without_a_session_are_neutral():
    assert SessionAffinity().score(request(), THREE) == [0.0, 0.0, 0.0]


def test_parameters_are_checked():
    with pytest.raises(PolicyError, match="load_factor"):
        SessionAffinity(load_factor=0.5)
