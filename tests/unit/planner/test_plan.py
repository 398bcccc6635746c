import pytest

from cluster.config import Layout, parse_layout
from cluster.planner.plan import candidate_layouts, plan_all, plan_layout, recommend, replicas_that_fit
from tests.unit.planner.factories import inputs, shape


def layouts(*names: str) -> list[Layout]:
    return [parse_layout(name) for name in names]


def test_candidates_are_the_layouts_a_node_holds_and_dep_groups_over_whole_nodes():
    assert candidate_layouts(8, 1) == layouts("tp1", "tp2", "tp4", "tp8", "dep2", "dep4", "dep8", "dep2-tp2",
                                              "dep4-tp2")
    assert candidate_layouts(4, 3) == layouts("tp1", "tp2", "tp4", "dep2", "dep4", "dep8", "dep12", "dep2-tp2",
                                              "dep4-tp2", "dep6-tp2")


@pytest.mark.parametrize("layout, gpus_per_node, nodes, replicas, reason", [
    ("tp2", 8, 2, 8, ""),
    ("dep4-tp2", 8, 1, 1, ""),
    ("dep16", 8, 3, 1, ""),
    ("dep16", 8, 1, 0, "needs 16 GPUs; the cluster has 8"),
    ("dep12", 8, 2, 0, "a group of 12 GPUs spans nodes, so it needs whole nodes of 8"),
    ("tp8", 4, 2, 0, "tensor parallel over 8 GPUs needs them in one node of 4"),
])
def test_replicas_fit_within_a_node_or_over_whole_nodes(layout, gpus_per_node, nodes, replicas, reason):
    assert replicas_that_fit(parse_layout(layout), gpus_per_node, nodes) == (replicas, reason)


def test_dep4_holds_more_kv_tokens_per_gpu_than_tp1():
    tp1, dep4 = plan_all(shape(), layouts("tp1", "dep4"), inputs())
    assert dep4.kv_tokens_per_gpu > 5 * tp1.kv_tokens_per_gpu
    assert dep4.kv_tokens_per_replica == 4 * dep4.kv_tokens_per_rank  # a cache per rank


def test_120b_on_one_h100_holds_31_sequences_of_8k():
    plan = plan_layout(shape(), Layout(), inputs(context=8192))
    assert (plan.fits, plan.seqs_per_replica, plan.replicas_fit) == (True, 31, 8)
    assert plan.kv_tokens_per_rank == pytest.approx(262_048, rel=0.01)  # vLLM's logged 131,024 × 2


def test_an_engine_runs_at_most_max_num_seqs():
    plan = plan_layout(shape(), parse_layout("tp4"), inputs(context=1024))
    assert plan.seqs_per_rank_kv > 256 and plan.seqs_per_rank == 256


def test_weights_that_do_not_fit_are_reported_with_the_reason():
    plan = plan_layout(shape(), Layout(), inputs(gpu_memory_utilization=0.75))
    assert not plan.fits and plan.replicas_fit == 0 and plan.cluster_seqs == 0
    assert plan.reason == "weights (60.8 GiB per GPU) and vLLM's other 3.1 GiB exceed the 59.4 GiB it may use"


def test_a_cache_that_holds_no_whole_sequence_does_not_fit():
    plan = plan_layout(shape(), Layout(), inputs(gpu_memory_utilization=0.85, context=131072))
    assert plan.reason == "the KV cache (3.4 GiB per GPU) holds no sequence of 131072 tokens"


def test_the_recommendation_needs_fewest_gpus_then_carries_most():
    plans = plan_all(shape(), candidate_layouts(8, 1), inputs(concurrency=512))
    best = recommend(plans)
    four_gpu_plans = {str(p.layout) for p in plans if p.meets and p.replicas_needed * p.layout.gpus == 4}
    assert four_gpu_plans == {"tp2", "dep2", "dep4", "dep2-tp2"}
    assert (str(best.plan.layout), best.replicas, best.gpus, best.seqs, best.short) == ("dep4", 1, 4, 720, False)


def test_when_nothing_carries_the_target_the_most_is_recommended_and_flagged_short():
    best = recommend(plan_all(shape(), candidate_layouts(8, 1), inputs(concurrency=100_000)))
    assert best.short and str(best.plan.layout) == "dep8" and best.replicas == 1
    assert recommend(plan_all(shape(), layouts("tp1"), inputs(gpu_memory_utilization=0.5))) is None
