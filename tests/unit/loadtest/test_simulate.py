import argparse
import json

import yaml

from cluster.config import parse_config
from loadtest.arguments import add_arguments
from loadtest.simulate import scaled_back, since, stand_in_plan, stretched_workload


def checkpoint_config(tmp_path) -> str:
    model = tmp_path / "gpt-oss-120b"
    model.mkdir()
    (model / "config.json").write_text("{}")
    path = tmp_path / "cluster.yaml"
    path.write_text(yaml.safe_dump({
        "model": {"path": str(model)}, "replicas": 4, "engine": {"max_num_seqs": 128},
        "gateway": {"grpc_port": 7000, "tenants_file": str(path), "default_max_tokens": 1000},
        "autoscaling": {"policy": "queue-depth", "max_replicas": 8, "period_s": 5},
        "ray_address": "10.0.0.1:6379"}))
    return path


def test_the_plan_keeps_the_users_cluster_but_swaps_engines_and_stretches_its_clocks(tmp_path):
    gateway_yaml, rest = stand_in_plan(checkpoint_config(tmp_path), "h100-gpt-oss-120b", 10.0)
    raw = yaml.safe_load(rest)
    assert raw["model"] == {"name": "gpt-oss-120b"} and raw["device"] == "gpu" and "ray_address" not in raw
    assert raw["engine"]["kind"] == "simulated" and raw["engine"]["max_num_seqs"] == 128
    assert raw["engine"]["max_model_len"] == 131072  # the checkpoint's default, though no checkpoint is named
    assert raw["engine"]["simulated"]["calibration"] == "h100-gpt-oss-120b"
    assert raw["engine"]["simulated"]["time_scale"] == 10.0
    assert raw["autoscaling"]["period_s"] == 50 and raw["autoscaling"]["max_replicas"] == 8
    gateway = yaml.safe_load("gateway:\n" + gateway_yaml)["gateway"]
    assert gateway["default_max_tokens"] == 1000 and gateway["request_timeout_s"] == 6000
    assert not {"grpc_port", "tenants_file", "host"} & set(gateway)
    full = yaml.safe_load("gateway:\n  grpc_port: 1\n  http_port: 2\n  metrics_port: 3\n" + gateway_yaml + rest)
    cfg = parse_config(full)  # what `serve` will read is valid
    assert cfg.engine.kind == "simulated" and cfg.replicas == 4


def test_the_workload_is_stretched_and_the_figures_scaled_back():
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--duration", "60", "--out", "x", "--rate", "50", "--slo-ttft", "0.5",
                              "--sweep-rates", "10,20"])
    stretched = stretched_workload(args, 10.0)
    assert (stretched.duration, stretched.rate, stretched.slo_ttft, stretched.sweep_rates) == (600, 5, 5, "1,2")
    assert args.rate == 50  # the user's arguments are left as they were
    summary = {"wall_s": 600.0, "requests_per_s": 5.0, "output_tokens_per_s": 100.0, "goodput_requests_per_s": 4.0,
               "ttft_s": {"p50": 2.0, "p90": 3.0, "p99": None, "mean": 2.5, "count": 7},
               "inter_token_s": {"p50": 0.25, "p90": 0.3, "p99": 0.4, "mean": 0.3, "count": 70},
               "e2e_s": {"p50": 20.0, "p90": 30.0, "p99": 40.0, "mean": 25.0, "count": 7},
               "slo": {"ttft_s": 5.0, "mean_inter_token_s": 0.5}}
    back = scaled_back(summary, 10.0)
    assert (back["wall_s"], back["requests_per_s"], back["output_tokens_per_s"]) == (60, 50, 1000)
    assert back["ttft_s"] == {"p50": 0.2, "p90": 0.3, "p99": None, "mean": 0.25, "count": 7}
    assert back["slo"] == {"ttft_s": 0.5, "mean_inter_token_s": 0.05}
    assert json.dumps(summary)  # the input is left as it was
    assert summary["wall_s"] == 600.0


def test_replica_counts_count_from_the_workloads_time_zero():
    """Planning a big workload takes seconds after sampling began: the replica counts must be on the
    requests' clock, or a scale-up shows late by the planning time."""
    taken = [(100.0, 2, 2), (101.0, 2, 2), (102.0, 2, 5), (103.5, 3, 5)]
    assert since(taken, 101.5) == [(0.0, 2, 2), (0.5, 2, 5), (2.0, 3, 5)]
    assert since(taken, 99.0) == [(1.0, 2, 2), (2.0, 2, 2), (3.0, 2, 5), (4.5, 3, 5)]
    assert since([], 5.0) == []
