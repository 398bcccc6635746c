"""Token sequences built with openai_harmony itself, the reference the tests compare against."""

from openai_harmony import HarmonyEncodingName, load_harmony_encoding

from cluster.harmony.vocab import use_shipped_vocabulary


def encoding():
    use_shipped_vocabulary()
    return load_harmony_encoding(HarmonyEncodingName.HARMONY_GPT_OSS)


def completion(text: str) -> list[int]:
    """Tokens of a model completion written in Harmony markup (what follows `<|start|>assistant`)."""
    return encoding().encode(text, allowed_special="all")
