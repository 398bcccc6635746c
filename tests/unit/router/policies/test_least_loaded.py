import random

from cluster.router.policies.least_loaded import LeastLoadedScorer, PowerOfTwoChoices
from tests.unit.router.factories import candidate, request


def test_scores_fall_with_queued_work_relative_to_the_least_loaded():
    scores = LeastLoadedScorer().score(request(), [candidate("a", 2), candidate("b", 1, waiting=2), candidate("c", 5)])
    assert scores == [1.0, 0.5, 1 / 4]


def test_stale_snapshots_count_gateway_in_flight_only():
    stale = candidate("a", in_flight=1, waiting=9, fresh=False)
    assert LeastLoadedScorer().score(request(), [stale, candidate("b", 2)]) == [1.0, 0.5]


def test_power_of_two_choices_takes_the_less_loaded_of_two_and_shares_ties():
    pick = PowerOfTwoChoices()
    rng = random.Random(0)
    assert pick.pick(request(), [candidate("a", 3), candidate("b", 0)], rng).replica_id == "b"
    chosen = {pick.pick(request(), [candidate("a"), candidate("b"), candidate("c")], rng).replica_id
              for _ in range(60)}
    assert chosen == {"a", "b", "c"}
    assert pick.pick(request(), [candidate("only", 9)], rng).replica_id == "only"
