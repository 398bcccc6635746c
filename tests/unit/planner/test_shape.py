import pytest

from cluster.planner.shape import ModelShape
from cluster.shapes import shape_config


def test_the_120b_shape_has_half_its_layers_in_full_attention():
    shape = ModelShape.from_config(shape_config("gpt-oss-120b"))
    assert (shape.layers, shape.full_attention_layers, shape.sliding_layers) == (36, 18, 18)
    assert (shape.sliding_window, shape.kv_heads, shape.head_dim, shape.experts) == (128, 8, 64, 128)
    assert not shape.tied_embeddings


def test_a_config_without_layer_types_attends_in_full_everywhere():
    config = shape_config("gpt-oss-20b")
    del config["layer_types"]
    assert ModelShape.from_config(config).full_attention_layers == 24


@pytest.mark.parametrize("key, value, message", [
    ("hidden_size", None, "hidden_size: expected a positive integer, got None"),
    ("num_key_value_heads", 0, "num_key_value_heads: expected a positive integer, got 0"),
    ("layer_types", ["full_attention"], "layer_types: expected 36 of full_attention, sliding_attention"),
])
def test_errors_name_the_key(key, value, message):
    config = shape_config("gpt-oss-120b")
    config[key] = value
    with pytest.raises(ValueError, match=message):
        ModelShape.from_config(config)
