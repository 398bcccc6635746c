import random

from cluster.router.least_loaded import pick_least_loaded
from cluster.router.replica_set import Replica
from cluster.types import ReplicaLoad


def replica(rid: str, in_flight: int = 0, waiting: int = 0) -> Replica:
    return Replica(rid, handle=None, load=ReplicaLoad(waiting=waiting), in_flight=in_flight)


def test_no_candidates():
    assert pick_least_loaded([]) is None


def test_fewest_in_flight_plus_waiting_wins():
    picked = pick_least_loaded([replica("a", in_flight=3), replica("b", in_flight=1, waiting=1), replica("c", 4)])
    assert picked.replica_id == "b"


def test_ties_are_shared():
    candidates = [replica("a", 1), replica("b", 1), replica("c", 5)]
    rng = random.Random(0)
    chosen = {pick_least_loaded(candidates, rng).replica_id for _ in range(50)}
    assert chosen == {"a", "b"}
