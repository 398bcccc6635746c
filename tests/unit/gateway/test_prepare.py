"""Preparing requests for the engine: the costly checks, the inline/worker split, and the result."""

import asyncio

import pytest

from cluster import metrics
from cluster.errors import InvalidRequest
from cluster.gateway.prepare import MAX_PIECE_BYTES, Preparer, prepare_chat, prepare_generate
from cluster.gateway.render_pool import RenderPool
from cluster.gateway.validate import Limits
from cluster.types import GenerateRequest, Message, Role, Tool, ToolChoice
from loadtest.fuzz.values import nested_schema
from tests.factories import chat, tool_call, user, weather_tool

LIMITS = Limits(model_name="m", max_model_len=100_000, default_max_tokens=10, max_message_bytes=1 << 20)


@pytest.mark.parametrize("request_, message", [
    (chat(user("a" * 262_000)), "messages[0].content: holds a run of 262000 characters (262000 bytes)"),
    (chat(user("x " + "中" * 1400)), "messages[0].content: holds a run of 1400 characters (4200 bytes)"),
    (chat(user("hi " + "\n" * 5000)), "messages[0].content: holds a run of 5001 characters"),
    (chat(user(), Message(Role.ASSISTANT, tool_calls=(tool_call(arguments="!" * 5000),)), user()),
     "messages[1].tool_calls[0].arguments: holds a run"),
    (chat(tools=(Tool("f", "z" * 5000),)), "tools[0].description: holds a run"),
    (chat(tools=(Tool("f", parameters={"type": "strnig"}),)),
     "tools[0].parameters: not a valid JSON schema: 'strnig' is not valid under any of the given schemas (at /type)"),
    (chat(tools=(Tool("f", parameters=nested_schema(32)),)),
     "tools[0].parameters: the schema nests objects and arrays more"),
    (chat(json_schema={"type": "object", "minProperties": -1}), "response_json_schema: not a valid JSON"),
])
def test_costly_checks_name_the_field(request_, message):
    with pytest.raises(InvalidRequest) as err:
        prepare_chat(request_, LIMITS)
    assert str(err.value).startswith(message), str(err.value)


def test_pieces_up_to_the_limit_and_ordinary_long_text_pass():
    prepare_chat(chat(user("b" * MAX_PIECE_BYTES)), LIMITS)
    prepare_chat(chat(user('{"k": [1, 2, 3], "v": "w"}' * 2000)), LIMITS)  # minified JSON: many small pieces
    prepare_generate(GenerateRequest(text="aB" * 5000), LIMITS)  # case changes split the pieces


def test_a_prepared_chat_carries_prompt_budget_and_constraint():
    prepared = prepare_chat(chat(tools=(weather_tool(),), tool_choice=ToolChoice.REQUIRED,
                                 json_schema=nested_schema(31)), LIMITS)
    assert prepared.max_tokens == 10 and prepared.structural_tag and '"structural_tag"' in prepared.structural_tag
    assert prepare_chat(chat(), LIMITS).structural_tag is None


def jobs(where: str, outcome: str) -> float:
    return metrics.RENDER_JOBS.labels(where, outcome)._value.get()


def test_small_plain_requests_run_inline_the_rest_in_a_worker():
    async def main():
        pool = RenderPool(1, 30)
        await pool.start()
        preparer = Preparer(LIMITS, pool)
        try:
            inline, worker = jobs("inline", "ok"), jobs("worker", "ok")
            await preparer.chat(chat(user("Hello")))
            assert (jobs("inline", "ok"), jobs("worker", "ok")) == (inline + 1, worker)
            await preparer.chat(chat(tools=(weather_tool(),)))  # schema checks are costly: a worker
            await preparer.chat(chat(user("word " * 1000)))
            await preparer.generate(GenerateRequest(text="word " * 1000))
            assert jobs("worker", "ok") == worker + 3
            invalid = jobs("worker", "invalid")
            with pytest.raises(InvalidRequest):
                await preparer.chat(chat(user("a" * 10_000)))
            assert jobs("worker", "invalid") == invalid + 1
        finally:
            await pool.stop()

    asyncio.run(main())


def test_cheap_validation_runs_first_on_the_loop():
    with pytest.raises(InvalidRequest, match="messages: at least one message"):
        asyncio.run(Preparer(LIMITS, pool=None).chat(chat().__class__(messages=())))
