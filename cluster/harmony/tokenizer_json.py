"""A Hugging Face tokenizer equal to gpt-oss's, built from the shipped o200k vocabulary.

vLLM loads a model directory's tokenizer (structured outputs need it); building it here means a
generated checkpoint needs no large tokenizer file in the repo and nothing is downloaded.
"""

from pathlib import Path

from cluster.harmony.vocab import O200K_PATTERN, VOCAB_SIZE, use_shipped_vocabulary

FIRST_SPECIAL_ID = 199_998
NAMED_SPECIAL_TOKENS = {
    199_998: "<|startoftext|>", 199_999: "<|endoftext|>", 200_002: "<|return|>", 200_003: "<|constrain|>",
    200_005: "<|channel|>", 200_006: "<|start|>", 200_007: "<|end|>", 200_008: "<|message|>",
    200_012: "<|call|>", 200_018: "<|endofprompt|>",
}
TOKENIZER_CONFIG = {
    "tokenizer_class": "PreTrainedTokenizerFast",
    "bos_token": "<|startoftext|>", "eos_token": "<|return|>", "pad_token": "<|endoftext|>",
    "model_max_length": 131072, "clean_up_tokenization_spaces": False,
}


def special_token_names() -> list[str]:
    """Names of ids 199,998 … 201,087 in id order, as gpt-oss's tokenizer has them."""
    return [NAMED_SPECIAL_TOKENS.get(i, f"<|reserved_{i}|>") for i in range(FIRST_SPECIAL_ID, VOCAB_SIZE)]


def write_tokenizer(directory: Path) -> None:
    """Writes tokenizer.json and tokenizer_config.json into `directory`."""
    import json

    from transformers.convert_slow_tokenizer import TikTokenConverter

    vocab = use_shipped_vocabulary()
    converter = TikTokenConverter(vocab_file=str(vocab), pattern=O200K_PATTERN,
                                  extra_special_tokens=special_token_names())
    converter.converted().save(str(directory / "tokenizer.json"))
    (directory / "tokenizer_config.json").write_text(json.dumps(TOKENIZER_CONFIG, indent=2))
