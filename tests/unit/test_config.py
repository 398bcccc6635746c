import re

import pytest

from cluster.config import ConfigError, embedded_default, load_config, parse_config


def model_dir(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    return str(tmp_path)


def test_empty_file_is_the_embedded_default(tmp_path):
    path = tmp_path / "cluster.yaml"
    path.write_text("")
    cfg = load_config(path)
    assert cfg == embedded_default()
    assert cfg.served_model_name == "tiny-gpt-oss"


def test_gpu_checkpoint_config(tmp_path):
    cfg = parse_config({"model": {"path": model_dir(tmp_path), "name": "gpt-oss-120b"}, "replicas": 4,
                        "layout": "tp2", "engine": {"gpu_memory_utilization": 0.92, "max_num_seqs": 128,
                                                    "max_model_len": 65536, "kv_cache_dtype": "fp8"}})
    assert (cfg.device, cfg.replicas, str(cfg.layout), cfg.served_model_name) == ("gpu", 4, "tp2", "gpt-oss-120b")
    assert cfg.engine.kv_cache_dtype == "fp8" and cfg.engine.max_model_len == 65536
    with pytest.raises(Exception):
        cfg.replicas = 3  # frozen


@pytest.mark.parametrize("raw, message", [
    ({"layout": "tp3"}, "layout: tp3: tensor parallel 3 does not divide gpt-oss's attention heads; "
                        "allowed: 1, 2, 4, 8"),
    ({"layout": "ep4"}, "layout: 'ep4' is not a layout; allowed: tpN with N in 1, 2, 4, 8; depN with N from 2 to 64; "
                        "or depN-tpM"),
    ({"layout": 4}, "layout: 4 is not a layout"),
    ({"layout": "dep1"}, "layout: dep1: expert parallel needs 2 to 64 ranks"),
    ({"layout": "dep128"}, "layout: dep128: expert parallel needs 2 to 64 ranks"),
    ({"layout": "dep2-tp3"}, "layout: dep2-tp3: tensor parallel 3 does not divide"),
    ({"layout": "dep4"}, "layout: dep4 needs device gpu: vLLM's CPU build has no expert parallel"),
    ({"model": {"load_format": "safetensors"}}, "model.load_format: 'safetensors'; allowed: auto, dummy"),
    ({"model": {"load_format": "dummy"}}, "model.load_format: dummy needs model.path"),
    ({"replicas": 0}, "replicas: 0 is out of range; allowed: 1 to 1024"),
    ({"replicas": "two"}, "replicas: expected int, got 'two'"),
    ({"replicas": True}, "replicas: expected int, got True"),
    ({"engine": {"kv_cache_dtype": "int4"}}, "engine.kv_cache_dtype: 'int4'; allowed: auto, bfloat16, fp8"),
    ({"engine": {"gpu_memory_utilization": 1.5}}, "engine.gpu_memory_utilization: 1.5 is out of range"),
    ({"engine": {"max_num_seqs": 0}}, "engine.max_num_seqs: 0 is out of range"),
    ({"engine": {"enforce_eager": "yes"}}, "engine.enforce_eager: expected bool"),
    ({"engine": {"max_batch": 3}}, "engine.max_batch: unknown field; allowed: kind, simulated, gpu_memory_utilization"),
    ({"engine": {"kind": "tgi"}}, "engine.kind: 'tgi'; allowed: vllm, simulated"),
    ({"engine": {"simulated": {"reply_tokens": 0}}}, "engine.simulated.reply_tokens: 0 is out of range"),
    ({"engine": {"simulated": {"start_s": "soon"}}}, "engine.simulated.start_s: expected float, got 'soon'"),
    ({"gateway": {"grpc_port": 70000}}, "gateway.grpc_port: 70000 is out of range; allowed: 1 to 65535"),
    ({"gateway": {"grpc_port": 9000, "metrics_port": 9000}}, "http_port and metrics_port must all differ"),
    ({"device": "tpu"}, "device: 'tpu'; allowed: cpu, gpu"),
    ({"model": {"path": "/no/such/dir"}}, "model.path: /no/such/dir is not a directory"),
    ({"model": "gpt"}, "model: expected a mapping"),
])
def test_errors_name_the_field_and_the_allowed_values(raw, message):
    with pytest.raises(ConfigError) as err:
        parse_config(raw)
    assert message in str(err.value)


def test_unreadable_and_malformed_files(tmp_path):
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("replicas: [1,\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)


def test_shipped_120b_example_is_valid(tmp_path):
    from pathlib import Path

    import yaml

    example = Path(__file__).resolve().parents[2] / "examples/gpt-oss-120b-h100.yaml"
    raw = yaml.safe_load(example.read_text())
    raw["model"]["path"] = model_dir(tmp_path)  # the real checkpoint is not on this machine
    cfg = parse_config(raw)
    assert (cfg.served_model_name, cfg.replicas, str(cfg.layout), cfg.device) == ("gpt-oss-120b", 4, "tp1", "gpu")
    assert cfg.engine.max_model_len == 131072 and cfg.ray_address == "auto"


def test_router_and_admission_sections():
    cfg = parse_config({"router": {"filters": [], "scorers": {"session-affinity": 2, "least-loaded": 1},
                                   "picker": "round-robin", "params": {"session-affinity": {"load_factor": 1.5}},
                                   "max_attempts": 2},
                        "admission": {"max_in_flight_per_replica": 8, "max_queue": 0, "max_queue_wait_s": 2.5}})
    assert cfg.router.filters == () and cfg.router.scorers == {"session-affinity": 2.0, "least-loaded": 1.0}
    assert cfg.router.params == {"session-affinity": {"load_factor": 1.5}} and cfg.router.max_attempts == 2
    assert (cfg.admission.max_in_flight_per_replica, cfg.admission.max_queue) == (8, 0)
    assert parse_config({}).router.scorers == {"prefix-affinity": 2.0, "least-loaded": 1.0, "kv-headroom": 1.0}


@pytest.mark.parametrize("raw, message", [
    ({"router": {"filters": "kv-headroom"}}, "router.filters: expected a list of names"),
    ({"router": {"scorers": {"least-loaded": "high"}}}, "router.scorers: expected a mapping of names to numbers"),
    ({"router": {"params": {"kv-headroom": 0.9}}}, "router.params: expected a mapping of names to mappings"),
    ({"router": {"max_attempts": 0}}, "router.max_attempts: 0 is out of range"),
    ({"admission": {"max_queue": -1}}, "admission.max_queue: -1 is out of range"),
])
def test_router_and_admission_errors_name_the_field(raw, message):
    with pytest.raises(ConfigError, match=message):
        parse_config(raw)


def test_lifecycle_autoscaling_and_controller_sections():
    cfg = parse_config({"replicas": 0, "lifecycle": {"stuck_after_s": 5, "drain_grace_s": 2},
                        "autoscaling": {"policy": "queue-depth", "min_replicas": 0, "max_replicas": 4,
                                        "params": {"target": 3}},
                        "controller": {"metrics_port": 9999}})
    assert (cfg.lifecycle.stuck_after_s, cfg.lifecycle.drain_grace_s) == (5.0, 2.0)
    a = cfg.autoscaling
    assert (a.min_replicas, a.max_replicas, a.params) == (0, 4, {"target": 3.0})
    assert cfg.controller.metrics_port == 9999


@pytest.mark.parametrize("raw, message", [
    ({"replicas": 0}, "replicas: 0 is out of range; allowed: 1 to 1024"),
    ({"replicas": 5, "autoscaling": {"policy": "queue-depth", "max_replicas": 4}},
     "replicas: 5 is out of range; allowed: 1 to 4"),
    ({"autoscaling": {"min_replicas": 3, "max_replicas": 2}},
     "autoscaling.max_replicas: 2 is out of range; allowed: 3"),
    ({"autoscaling": {"window_s": 1, "period_s": 5}}, "autoscaling.window_s: 1.0 is out of range; allowed: 5.0"),
    ({"autoscaling": {"params": {"target": "high"}}}, "autoscaling.params: expected a mapping of names to numbers"),
    ({"lifecycle": {"start_backoff_s": 10, "start_backoff_max_s": 5}}, "lifecycle.start_backoff_max_s: 5.0 is out"),
    ({"lifecycle": {"max_start_failures": 0}}, "lifecycle.max_start_failures: 0 is out of range"),
    ({"ray_address": "ray://head:10001"},
     "ray_address: ray://head:10001 is a Ray Client address, which cannot stream"),
])
def test_control_plane_errors_name_the_field(raw, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        parse_config(raw)


def test_an_unknown_autoscaling_policy_or_parameter_is_a_config_error_naming_it():
    from cluster.controller import autoscale

    with pytest.raises(ConfigError, match="autoscaling.policy: 'queue' is not an autoscaling policy; registered: "
                                          "kv-pressure, queue-depth, ttft-slo"):
        autoscale.check(parse_config({"autoscaling": {"policy": "queue"}}).autoscaling)
    with pytest.raises(ConfigError, match="queue-depth: unknown parameter 'slo_s'; allowed: target"):
        autoscale.check(parse_config({"autoscaling": {"policy": "queue-depth", "params": {"slo_s": 1}}}).autoscaling)


def test_tiny_variant_keeps_the_embedded_defaults(tmp_path):
    cfg = parse_config({"model": {"tiny_variant": "random"}})
    assert cfg.model.tiny_variant == "random" and cfg.device == "cpu"
    assert cfg.engine == embedded_default().engine
    with pytest.raises(ConfigError, match=re.escape("model.tiny_variant: 'big'; must be one of trained, random")):
        parse_config({"model": {"tiny_variant": "big"}})
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ConfigError, match="model.tiny_variant: applies to the embedded tiny model only"):
        parse_config({"model": {"path": str(tmp_path), "tiny_variant": "random"}})


def test_the_old_plain_keys_file_is_refused_with_the_way_to_tenants():
    with pytest.raises(ConfigError, match="gateway.api_keys_file: replaced by gateway.tenants_file.*hash-key"):
        parse_config({"gateway": {"api_keys_file": "/etc/keys"}})


def test_tenants_file_and_audit_log_paths_are_checked(tmp_path):
    with pytest.raises(ConfigError, match="gateway.tenants_file: .* is not a file"):
        parse_config({"gateway": {"tenants_file": str(tmp_path / "missing.yaml")}})
    with pytest.raises(ConfigError, match="gateway.audit_log: the folder of"):
        parse_config({"gateway": {"audit_log": str(tmp_path / "no" / "audit.jsonl")}})
    assert parse_config({"gateway": {"audit_log": "-"}}).gateway.audit_log == "-"


@pytest.mark.parametrize("text, ranks, tensor_parallel, gpus", [
    ("tp1", 1, 1, 1), ("tp8", 1, 8, 8), ("dep2", 2, 1, 2), ("dep16", 16, 1, 16), ("dep4-tp2", 4, 2, 8),
])
def test_a_layout_is_parsed_once_into_ranks_and_tensor_parallel(text, ranks, tensor_parallel, gpus):
    layout = parse_config({"layout": text, "device": "gpu"}).layout
    assert (layout.ranks, layout.tensor_parallel, layout.gpus, str(layout)) == (ranks, tensor_parallel, gpus, text)
    assert layout.expert_parallel == (ranks > 1)


def test_expert_parallel_on_the_cpu_is_allowed_for_the_stand_in_engine_only():
    cfg = parse_config({"layout": "dep2", "engine": {"kind": "simulated"}})
    assert (cfg.device, str(cfg.layout)) == ("cpu", "dep2")


def test_a_shape_model_without_dummy_weights_is_refused_before_vllm_looks_for_weights(tmp_path):
    (tmp_path / "config.json").write_text('{"oss_cluster_shape_model": {"weights": "dummy"}}')
    with pytest.raises(ConfigError, match="model.load_format: .* no weights .*set model.load_format: dummy"):
        parse_config({"model": {"path": str(tmp_path)}})
    assert parse_config({"model": {"path": str(tmp_path), "load_format": "dummy"}}).model.load_format == "dummy"


def test_the_expert_parallel_example_is_valid(tmp_path):
    from pathlib import Path

    import yaml

    example = Path(__file__).resolve().parents[2] / "examples/gpt-oss-120b-dep4-h100.yaml"
    raw = yaml.safe_load(example.read_text())
    raw["model"]["path"] = model_dir(tmp_path)
    cfg = parse_config(raw)
    assert (str(cfg.layout), cfg.layout.gpus, cfg.replicas, cfg.gpus_per_node) == ("dep4", 4, 2, 8)
