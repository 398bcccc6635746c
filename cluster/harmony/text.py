"""Incremental token-id → text decoding that never splits a character across chunks."""

from openai_harmony import HarmonyError

from cluster.harmony.vocab import harmony_encoding

MAX_PENDING = 4  # a UTF-8 character spans at most 4 bytes, so at most 4 tokens


class TextDecoder:
    """Decodes generated token ids chunk by chunk; special tokens decode to their names."""

    def __init__(self):
        self._encoding = harmony_encoding()
        self._pending: list[int] = []

    def feed(self, token_ids: list[int]) -> str:
        """Returns the text completed by these tokens, holding back an unfinished character."""
        self._pending.extend(token_ids)
        if not self._pending:
            return ""
        try:
            text = self._encoding.decode_utf8(self._pending)
        except HarmonyError as exc:
            if "incomplete" in str(exc) and len(self._pending) < MAX_PENDING:
                return ""
            text = self._encoding.decode(self._pending)  # lossy: invalid bytes become U+FFFD
        self._pending = []
        return text

    def flush(self) -> str:
        """Returns whatever is held back at the end of the stream (lossily decoded)."""
        text = self._encoding.decode(self._pending) if self._pending else ""
        self._pending = []
        return text
