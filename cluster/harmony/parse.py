"""Generated token ids → reasoning, content and tool-call events, incrementally.

A model with random weights (the embedded default) emits invalid Harmony all the time; so does a
real model now and then. Nothing here raises on model output: invalid output ends the parse with
`FinishReason.INVALID_OUTPUT` and keeps what was decoded before it.
"""

import uuid

from openai_harmony import HarmonyError, Role as HRole, StreamableParser, StreamState

from cluster.harmony.vocab import harmony_encoding
from cluster.types import ChatEvent, ContentDelta, FinishReason, ReasoningDelta, ToolCall

RETURN, CALL, END, END_OF_TEXT = 200002, 200012, 200007, 199999
MAX_HEADER_TOKENS = 128  # real headers take about 15; a longer one means the model lost the format


def _recipient(recipient: str | None) -> str | None:
    """Harmony reads `final <|constrain|>json` as a message to "<|constrain|>json"; that is a content type."""
    if recipient and "<|constrain|>" in recipient:
        recipient = recipient[:recipient.index("<|constrain|>")].strip()
    return recipient or None


class ChatParser:
    """Feeds generated token ids through Harmony's streaming parser and emits chat events."""

    def __init__(self, max_header_tokens: int = MAX_HEADER_TOKENS):
        self._parser = StreamableParser(harmony_encoding(), role=HRole.ASSISTANT)
        self._max_header_tokens = max_header_tokens
        self._header_tokens = 0
        self.reasoning_tokens = 0
        self.outcome: FinishReason | None = None  # set once the model ended its turn, or broke the format
        self.error = ""

    def feed(self, token_ids: list[int]) -> list[ChatEvent]:
        """Parses more tokens; returns the events they complete. Tokens after an outcome are ignored."""
        events: list[ChatEvent] = []
        for token in token_ids:
            if self.outcome is not None:
                break
            events.extend(self._feed_one(token))
        return events

    def _feed_one(self, token: int) -> list[ChatEvent]:
        if token == END_OF_TEXT:  # an end of turn too (gpt-oss's generation config stops on it)
            token = RETURN
        p = self._parser
        was_content = p.state == StreamState.CONTENT
        channel, recipient = p.current_channel, _recipient(p.current_recipient)
        try:
            p.process(token)
        except HarmonyError as exc:
            return self._invalid(f"output is not valid Harmony: {exc}")
        if p.state == StreamState.HEADER:
            self._header_tokens += 1
            if self._header_tokens > self._max_header_tokens:
                return self._invalid(f"message header longer than {self._max_header_tokens} tokens")
            return []
        self._header_tokens = 0
        if p.state == StreamState.CONTENT:
            if p.current_role != HRole.ASSISTANT:
                return self._invalid(f"the model wrote a message as {p.current_role.value}")
            if was_content and p.current_channel == "analysis":
                self.reasoning_tokens += 1  # text tokens of the chain of thought, markup excluded
            return self._delta(p.current_channel, _recipient(p.current_recipient), p.last_content_delta)
        # the message just ended (EXPECT_START after <|end|>, <|return|> or <|call|>)
        events: list[ChatEvent] = []
        if was_content and recipient:
            events.append(self._tool_call(recipient, p.messages[-1]))
        if token in (RETURN, CALL):
            self.outcome = FinishReason.TOOL_CALLS if recipient else FinishReason.STOP
        elif channel == "final" and token == END:
            self.outcome = FinishReason.STOP  # a final answer closed with <|end|> is still complete
        return events

    @staticmethod
    def _delta(channel: str | None, recipient: str | None, text: str | None) -> list[ChatEvent]:
        if not text or recipient:
            return []  # tool-call arguments are sent whole, when the call is complete
        if channel == "analysis":
            return [ReasoningDelta(text)]
        return [ContentDelta(text)]  # final, and commentary preambles meant for the user

    @staticmethod
    def _tool_call(recipient: str, message) -> ToolCall:
        name = recipient.removeprefix("functions.")
        arguments = "".join(getattr(part, "text", "") for part in message.content)
        return ToolCall(id=f"call_{uuid.uuid4().hex[:24]}", name=name, arguments=arguments)

    def _invalid(self, why: str) -> list[ChatEvent]:
        self.outcome = FinishReason.INVALID_OUTPUT
        self.error = why
        return []

    def finish_reason(self, engine_reason: FinishReason) -> FinishReason:
        """The stream's finish reason once the engine stopped for `engine_reason`."""
        if self.outcome is not None:
            return self.outcome
        if engine_reason is FinishReason.STOP:  # stopped on a token id the format did not expect
            self.error = "the model stopped in the middle of a message"
            return FinishReason.INVALID_OUTPUT
        if engine_reason is FinishReason.LENGTH and self._parser.state == StreamState.HEADER and \
                not self._parser.messages and self._header_tokens:
            self.error = "the model produced no message before the token limit"
            return FinishReason.INVALID_OUTPUT
        return engine_reason
