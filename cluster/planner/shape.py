"""The sizes of a gpt-oss model that its memory depends on, read once from its config.json."""

from dataclasses import dataclass

FULL_ATTENTION = "full_attention"
SLIDING_ATTENTION = "sliding_attention"


@dataclass(frozen=True)
class ModelShape:
    layers: int
    full_attention_layers: int  # the rest attend over a sliding window
    sliding_window: int  # tokens a sliding-window layer keeps per sequence
    hidden: int
    intermediate: int  # of each expert
    heads: int
    kv_heads: int
    head_dim: int
    experts: int
    vocab: int
    tied_embeddings: bool
    attention_bias: bool

    @property
    def sliding_layers(self) -> int:
        return self.layers - self.full_attention_layers

    @classmethod
    def from_config(cls, config: dict) -> "ModelShape":
        """From a Hugging Face gpt-oss config.json; ValueError naming the key that is missing or wrong."""
        def number(key: str) -> int:
            value = config.get(key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"config.json: {key}: expected a positive integer, got {value!r}")
            return value

        layers = number("num_hidden_layers")
        layer_types = config.get("layer_types") or [FULL_ATTENTION] * layers  # none given: all attend in full
        if len(layer_types) != layers or not set(layer_types) <= {FULL_ATTENTION, SLIDING_ATTENTION}:
            raise ValueError(f"config.json: layer_types: expected {layers} of {FULL_ATTENTION}, "
                             f"{SLIDING_ATTENTION}")
        full = layer_types.count(FULL_ATTENTION)
        hidden, heads = number("hidden_size"), number("num_attention_heads")
        return cls(
            layers=layers, full_attention_layers=full,
            sliding_window=number("sliding_window") if full < layers else 0,
            hidden=hidden, intermediate=number("intermediate_size"), heads=heads,
            kv_heads=number("num_key_value_heads"),
            head_dim=number("head_dim") if "head_dim" in config else hidden // heads,
            experts=number("num_local_experts"), vocab=number("vocab_size"),
            tied_embeddings=bool(config.get("tie_word_embeddings", False)),
            attention_bias=bool(config.get("attention_bias", False)),
        )
