from cluster.config import parse_config
from cluster.replica.placement import plan_replicas


def test_embedded_default_binds_each_replica_to_its_own_core():
    plan = plan_replicas(parse_config({"replicas": 2}), "/models/tiny")
    assert [plan.cpu_binding(slot, cores=2) for slot in (0, 1, 2)] == ["0", "1", "0"]
    options = plan.actor_options(1)
    assert options["num_cpus"] == 1
    env = options["runtime_env"]["env_vars"]
    assert env["VLLM_HOST_IP"] == "127.0.0.1" and env["VLLM_TARGET_DEVICE"] == "cpu"
    assert env["VLLM_XGRAMMAR_CACHE_MB"] == "0" and env["HF_HUB_OFFLINE"] == "1"
    args = plan.settings.engine_args()
    assert args["enforce_eager"] is True and args["kv_cache_memory_bytes"] == 64 * 2**20


def test_tp2_on_cpu_binds_one_core_group_per_rank():
    plan = plan_replicas(parse_config({"layout": "tp2", "engine": {"cpu_threads_per_replica": 2}}), "/m")
    assert plan.cpu_binding(0, cores=8) == "0-1|2-3"
    assert plan.cpu_binding(1, cores=8) == "4-5|6-7"
    assert plan.actor_options(0)["num_cpus"] == 4


def test_gpu_replicas_ask_ray_for_their_gpus(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    plan = plan_replicas(parse_config({"model": {"path": str(tmp_path)}, "layout": "tp2",
                                       "engine": {"gpu_memory_utilization": 0.92}}), str(tmp_path))
    options = plan.actor_options(0)
    assert options["num_gpus"] == 2 and "VLLM_CPU_OMP_THREADS_BIND" not in options["runtime_env"]["env_vars"]
    args = plan.settings.engine_args()
    assert args["tensor_parallel_size"] == 2 and args["gpu_memory_utilization"] == 0.92
    assert args["distributed_executor_backend"] == "mp"  # ranks run inside the actor that holds the GPUs
    assert "kv_cache_memory_bytes" not in args


def test_engines_are_built_by_the_names_the_config_allows():
    from cluster.config import ENGINE_KINDS
    from cluster.replica.engine import registered

    assert registered() == sorted(ENGINE_KINDS)


def test_stand_in_replicas_ask_ray_for_no_cores_and_carry_their_calibration():
    plan = plan_replicas(parse_config({"engine": {"kind": "simulated",
                                                  "simulated": {"calibration": "instant", "seed": 3}}}), "/m")
    assert plan.engine == "simulated"
    assert plan.actor_options(0)["num_cpus"] == 0
    assert (plan.settings.calibration, plan.settings.seed, plan.settings.max_num_seqs) == ("instant", 3, 16)


def test_a_stand_in_without_a_calibration_is_refused_at_planning():
    import pytest

    from cluster.config import ConfigError

    with pytest.raises(ConfigError, match="engine.calibration: 'a100' is neither a shipped calibration"):
        plan_replicas(parse_config({"engine": {"kind": "simulated", "simulated": {"calibration": "a100"}}}), "/m")


def test_dummy_weights_in_the_config_select_the_realistic_loader(tmp_path):
    from cluster.replica.engines.vllm_engine import SHAPE_LOAD_FORMAT

    (tmp_path / "config.json").write_text('{"oss_cluster_shape_model": {"weights": "dummy"}}')
    config = parse_config({"model": {"path": str(tmp_path), "load_format": "dummy"}})
    assert plan_replicas(config, str(tmp_path)).settings.engine_args()["load_format"] == SHAPE_LOAD_FORMAT
    (tmp_path / "config.json").write_text("{}")
    plan = plan_replicas(parse_config({"model": {"path": str(tmp_path)}}), str(tmp_path))
    assert "load_format" not in plan.settings.engine_args()
