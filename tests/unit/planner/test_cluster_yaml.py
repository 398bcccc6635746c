import json

import yaml

from cluster.config import parse_config, parse_layout
from cluster.planner.cluster_yaml import cluster_yaml, validate
from cluster.planner.plan import Recommendation, plan_layout
from cluster.shapes import shape_config
from tests.unit.planner.factories import inputs, shape


def dep4_fp8() -> tuple:
    plan_inputs = inputs(kv_dtype="fp8", gpu_memory_utilization=0.95, concurrency=512)
    return Recommendation(plan_layout(shape(), parse_layout("dep4"), plan_inputs), 1, short=False), plan_inputs


def test_a_shipped_shape_gets_a_placeholder_path_and_validates_with_a_stand_in_directory():
    recommendation, plan_inputs = dep4_fp8()
    text = cluster_yaml(recommendation, plan_inputs, "gpt-oss-120b", None)
    raw = yaml.safe_load(text)
    assert raw["model"] == {"path": "/models/gpt-oss-120b"} and "placeholder" in text
    assert raw["layout"] == "dep4" and raw["replicas"] == 1 and raw["device"] == "gpu"
    assert raw["engine"] == {"gpu_memory_utilization": 0.95, "kv_cache_dtype": "fp8", "max_model_len": 8192,
                             "max_num_seqs": recommendation.plan.seqs_per_rank}
    assert "model.path replaced by a temporary directory" in validate(text, shape_config("gpt-oss-120b"))


def test_a_checkpoint_directory_is_written_and_validated_as_it_is(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(shape_config("gpt-oss-120b")))
    recommendation, plan_inputs = dep4_fp8()
    text = cluster_yaml(recommendation, plan_inputs, str(tmp_path), str(tmp_path))
    assert validate(text, {}) == "valid (cluster.config.parse_config)"
    config = parse_config(yaml.safe_load(text))
    assert (config.model.path, str(config.layout), config.engine.max_model_len) == (str(tmp_path), "dep4", 8192)


def test_a_short_plan_says_so_in_the_file():
    recommendation, plan_inputs = dep4_fp8()
    text = cluster_yaml(Recommendation(recommendation.plan, 1, short=True), plan_inputs, "gpt-oss-120b", None)
    assert "# SHORT: carries" in text
