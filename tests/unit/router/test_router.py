import random
import time

from cluster.config import RouterConfig
from cluster.router.profile import profile_from_config
from cluster.router.replica_set import Replica
from cluster.router.router import Router
from cluster.types import ReplicaLoad
from tests.unit.router.factories import request


class StaticReplicas:
    def __init__(self, *replicas: Replica):
        self.replicas = list(replicas)

    def ready(self) -> list[Replica]:
        return list(self.replicas)


def replica(rid: str, waiting: int = 0, kv: float = 0.0, age_s: float = 0.0) -> Replica:
    load = ReplicaLoad(waiting=waiting, kv_cache_usage=kv, block_size=4, kv_blocks=1000)
    return Replica(rid, handle=None, load=load, loaded_at=time.monotonic() - age_s)


def router(replicas: StaticReplicas, config: RouterConfig = RouterConfig()) -> Router:
    return Router(replicas, profile_from_config(config), snapshot_max_age_s=2.0, rng=random.Random(0))


def test_no_ready_replica_or_all_excluded_gives_none():
    assert router(StaticReplicas()).choose(request()) is None
    assert router(StaticReplicas(replica("a"))).choose(request(), exclude={"a"}) is None


def test_a_retry_never_returns_to_the_replica_that_failed():
    r = router(StaticReplicas(replica("a"), replica("b")))
    assert all(r.choose(request(), exclude={"a"}).replica_id == "b" for _ in range(10))


def test_stale_snapshots_are_ignored_and_fresh_ones_used():
    stale_busy = replica("a", waiting=50, age_s=10)  # its queue may long be gone
    r = router(StaticReplicas(stale_busy, replica("b", waiting=1)),
               RouterConfig(filters=(), scorers={"least-loaded": 1}, picker="least-loaded"))
    assert {r.choose(request()).replica_id for _ in range(30)} == {"a"}  # 0 + 0 in flight beats 1 waiting


def test_replicas_leaving_are_forgotten_by_the_prefix_index():
    replicas = StaticReplicas(replica("a"), replica("b"))
    r = router(replicas)
    prompt = list(range(64))
    first = r.choose(request(prompt)).replica_id
    index = r._profile.scorers[0][1].index
    assert index.size(first) == 16
    replicas.replicas = [x for x in replicas.replicas if x.replica_id != first]
    assert r.choose(request(prompt)).replica_id != first
    assert index.size(first) == 0
