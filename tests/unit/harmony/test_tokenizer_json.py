from transformers import PreTrainedTokenizerFast

from cluster.harmony.tokenizer_json import write_tokenizer
from tests.unit.harmony.harmony_tokens import encoding

SAMPLES = ["Hello, world!", "  indented\n\tcode = x**2  # comment", "naïve café 日本語 🦙 Привет мир",
           "It's 12345 o'clock; they've   gone.", "<|start|>user<|message|>hi<|end|>", "URL: https://a.b/c?d=e&f"]


def test_generated_tokenizer_matches_harmony(tmp_path):
    write_tokenizer(tmp_path)
    hf = PreTrainedTokenizerFast(tokenizer_file=str(tmp_path / "tokenizer.json"))
    assert len(hf) == 201_088
    for text in SAMPLES:
        assert hf.encode(text, add_special_tokens=False) == encoding().encode(text, allowed_special="all"), text
    names = [(200002, "<|return|>"), (200012, "<|call|>"), (200007, "<|end|>"), (200999, "<|reserved_200999|>")]
    for token_id, name in names:
        assert hf.convert_ids_to_tokens(token_id) == name
