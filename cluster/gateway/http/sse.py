"""Server-sent events framing, as the OpenAI APIs use it."""

import json

DONE = "data: [DONE]\n\n"


def data(payload: dict) -> str:
    """One `data:` event (Chat Completions and Completions streams)."""
    return f"data: {json.dumps(payload, separators=(',', ':'), ensure_ascii=False)}\n\n"


def event(name: str, payload: dict) -> str:
    """A named event (Responses streams: the name repeats the payload's `type`)."""
    return f"event: {name}\n{data(payload)}"


def error_payload(message: str, status: int = 503) -> dict:
    """An error inside a stream that already started (OpenAI sends `data: {"error": ...}`)."""
    return {"error": {"message": message, "type": "server_error", "param": None, "code": status}}
