from cluster.controller.registry import group_load
from cluster.replica.actor import actor_name, parse_actor_name
from cluster.types import ReplicaInfo, ReplicaLoad


def test_a_group_load_adds_counts_and_keeps_the_fullest_cache_and_longest_stall():
    ranks = [ReplicaLoad(running=2, waiting=1, kv_cache_usage=0.2, prefix_cache_queries=10, prefix_cache_hits=4,
                         block_size=16, kv_blocks=100, active=3, stalled_s=0.0),
             ReplicaLoad(running=5, waiting=0, kv_cache_usage=0.7, prefix_cache_queries=6, prefix_cache_hits=1,
                         block_size=16, kv_blocks=100, active=5, stalled_s=4.5)]
    assert group_load(ranks) == ReplicaLoad(running=7, waiting=1, kv_cache_usage=0.7, prefix_cache_queries=16,
                                            prefix_cache_hits=5, block_size=16, kv_blocks=200, active=8, stalled_s=4.5)
    assert group_load(ranks[:1]) is ranks[0]


def test_rank_actors_are_named_and_routed_by_group_and_rank():
    assert actor_name("ab12cd34") == "replica-ab12cd34" and actor_name("ab12cd34", 3, 4) == "replica-ab12cd34.3"
    assert parse_actor_name("replica-ab12cd34.3") == ("ab12cd34", 3)
    assert parse_actor_name("replica-ab12cd34") == ("ab12cd34", 0)
    assert parse_actor_name("replica-ab12cd34.x") is None and parse_actor_name("oss-cluster-controller") is None
    info = ReplicaInfo("ab12cd34", 0, "t", "n", 1, 0.0, True, False, rank=3, ranks=4)
    assert info.endpoint_id == "ab12cd34.3"
    assert ReplicaInfo("ab12cd34", 0, "t", "n", 1, 0.0, True, False).endpoint_id == "ab12cd34"
