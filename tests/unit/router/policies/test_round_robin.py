import random

from cluster.router.policies.round_robin import RoundRobin
from tests.unit.router.factories import candidate, request


def test_takes_candidates_in_turn_whatever_their_order_or_load():
    pick, rng = RoundRobin(), random.Random(0)
    seq = [pick.pick(request(), [candidate("b", 5), candidate("a"), candidate("c")], rng).replica_id for _ in range(6)]
    assert seq == ["a", "b", "c", "a", "b", "c"]
