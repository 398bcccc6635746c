"""Expert-parallel layouts as data: the placement group of each group and the vLLM engine arguments of
each rank (docs/layouts.md), checked against vLLM's own argument parser. They run for real only on
GPUs: vLLM's CPU build has no expert parallel."""

import pytest

from cluster.config import parse_config
from cluster.replica.engine import Rank
from cluster.replica.engines.vllm_engine import VllmEngine
from cluster.replica.placement import plan_replicas

MASTER, PORT = "10.0.3.7", 41234


def gpu_plan(tmp_path, layout: str, **extra):
    (tmp_path / "config.json").write_text("{}")
    config = parse_config({"model": {"path": str(tmp_path)}, "layout": layout, **extra})
    return plan_replicas(config, str(tmp_path))


def rank_args(plan, index: int) -> dict:
    return VllmEngine.for_rank(plan.settings, Rank(index, plan.ranks, MASTER, PORT)).engine_args()


@pytest.mark.parametrize("layout, ranks, strategy", [
    ("dep2", 2, "STRICT_PACK"), ("dep4", 4, "STRICT_PACK"), ("dep8", 8, "STRICT_PACK"), ("dep16", 16, "PACK"),
])
def test_each_rank_of_a_group_over_8_gpu_nodes_gets_its_own_engine_arguments(tmp_path, layout, ranks, strategy):
    plan = gpu_plan(tmp_path, layout)
    assert (plan.ranks, plan.gpus, plan.strategy(), plan.grouped) == (ranks, 1, strategy, True)
    assert plan.bundles() == [{"GPU": 1.0, "CPU": 1.0}] * ranks
    for index in range(ranks):
        args = rank_args(plan, index)
        assert args["data_parallel_size"] == ranks and args["data_parallel_rank"] == index
        assert args["data_parallel_size_local"] == 1  # one engine per actor: vLLM's external load balancing
        assert (args["data_parallel_address"], args["data_parallel_rpc_port"]) == (MASTER, PORT)
        assert args["enable_expert_parallel"] is True and args["tensor_parallel_size"] == 1
        assert args["data_parallel_backend"] == "mp"
        assert args["distributed_executor_backend"] == "mp"  # not Ray's executor inside our placement group


def test_a_group_of_tensor_parallel_ranks_packs_onto_one_node_while_it_fits(tmp_path):
    plan = gpu_plan(tmp_path, "dep4-tp2")
    assert (plan.ranks, plan.gpus, plan.strategy()) == (4, 2, "STRICT_PACK")
    assert plan.bundles() == [{"GPU": 2.0, "CPU": 1.0}] * 4
    assert rank_args(plan, 3)["tensor_parallel_size"] == 2
    assert gpu_plan(tmp_path, "dep8-tp2").strategy() == "PACK"
    assert gpu_plan(tmp_path, "dep4", gpus_per_node=2).strategy() == "PACK"


def test_tensor_parallel_replicas_have_no_data_parallel_arguments(tmp_path):
    plan = gpu_plan(tmp_path, "tp2")
    assert (plan.ranks, plan.grouped) == (1, False)
    args = plan.settings.engine_args()
    assert not any(name.startswith("data_parallel") for name in args) and "enable_expert_parallel" not in args


def test_stand_in_ranks_ask_for_gpus_only_when_told_to(tmp_path):
    stand_in = {"kind": "simulated", "simulated": {"calibration": "instant"}}
    plan = plan_replicas(parse_config({"layout": "dep4", "device": "gpu", "engine": stand_in}), "")
    assert (plan.gpus, plan.grouped) == (0, False)  # `simulate` runs a GPU plan's stand-ins on any machine
    held = {**stand_in, "simulated": {"calibration": "instant", "holds_gpus": True}}
    plan = plan_replicas(parse_config({"layout": "dep4", "device": "gpu", "engine": held}), "")
    assert (plan.gpus, plan.grouped, plan.bundles()) == (1, True, [{"GPU": 1.0}] * 4)
    assert plan.actor_options(0)["num_gpus"] == 1


@pytest.mark.parametrize("layout", ["dep2", "dep16", "dep4-tp2"])
def test_vllm_parses_every_rank_argument_as_given(tmp_path, layout):
    """Each argument named as vLLM's own CLI parser names it, and parsed back to the same value: a
    renamed or retyped engine argument fails here, not on a GPU node (vLLM 0.32 here; the GPU pin,
    0.26, has the same names: docs/layouts.md cites them)."""
    from vllm.engine.arg_utils import AsyncEngineArgs
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    plan = gpu_plan(tmp_path, layout)
    args = rank_args(plan, plan.ranks - 1)
    argv = []
    for name, value in args.items():
        flag = "--" + name.replace("_", "-")
        if isinstance(value, bool):
            argv.append(flag if value else f"--no-{flag[2:]}")
        elif name == "model":
            argv += ["--model", str(value)]
        else:
            argv += [flag, str(value)]
    parsed = AsyncEngineArgs.from_cli_args(AsyncEngineArgs.add_cli_args(FlexibleArgumentParser()).parse_args(argv))
    for name, value in args.items():
        got = getattr(parsed, name)
        assert got == ([value] if isinstance(got, list) else value), name  # served_model_name is a list there
