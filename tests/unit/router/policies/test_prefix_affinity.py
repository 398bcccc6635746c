from cluster.router.policies.prefix_affinity import PrefixAffinity
from tests.unit.router.factories import candidate, request

SYSTEM = list(range(40))  # ten blocks of four


def test_scores_the_share_of_the_prompt_cached_and_learns_where_requests_went():
    policy = PrefixAffinity()
    first = request(SYSTEM + [1, 2, 3, 4])
    both = [candidate("a"), candidate("b")]
    assert policy.score(first, both) == [0.0, 0.0]
    policy.routed(first, "b")
    later = request(SYSTEM + [9, 9, 9, 9, 9, 9, 9, 9])
    assert policy.score(later, both) == [0.0, 10 / 12]


def test_prompts_shorter_than_a_block_score_zero():
    policy = PrefixAffinity()
    policy.routed(request([1, 2]), "a")
    assert policy.score(request([1, 2]), [candidate("a")]) == [0.0]


def test_a_hot_prefix_stops_attracting_once_its_replica_is_much_busier():
    policy = PrefixAffinity(balance_abs=2, balance_rel=1.5)
    policy.score(request(SYSTEM), [candidate("a")])
    policy.routed(request(SYSTEM), "a")
    assert policy.score(request(SYSTEM), [candidate("a", 2), candidate("b", 0)])[0] == 1.0  # 2 <= 1.5*0 + 2
    assert policy.score(request(SYSTEM), [candidate("a", 3), candidate("b", 0)])[0] == 0.0  # 3 > 2
    assert policy.score(request(SYSTEM), [candidate("a", 9), candidate("b", 5)])[0] == 1.0  # 9 <= 1.5*5 + 2
    assert policy.score(request(SYSTEM), [candidate("a", 10), candidate("b", 5)])[0] == 0.0


def test_forgetting_a_replica_drops_its_index():
    policy = PrefixAffinity()
    policy.score(request(SYSTEM), [candidate("a")])
    policy.routed(request(SYSTEM), "a")
    policy.forget("a")
    assert policy.score(request(SYSTEM), [candidate("a")]) == [0.0]
