from openai_harmony import (Author, Conversation, DeveloperContent, Message as H, ReasoningEffort as HE, Role as HR,
                            SystemContent, ToolDescription)

from cluster.harmony.render import render_chat
from cluster.types import Message, ReasoningEffort, Role
from tests.factories import chat, tool_call, user, weather_tool
from tests.unit.harmony.harmony_tokens import encoding


def reference(*messages, effort=HE.MEDIUM) -> list[int]:
    system = H.from_role_and_content(HR.SYSTEM, SystemContent.new().with_reasoning_effort(effort))
    return encoding().render_conversation_for_completion(Conversation.from_messages([system, *messages]), HR.ASSISTANT)


def test_user_message_with_reasoning_effort():
    ids = render_chat(chat(user("Hi"), reasoning_effort=ReasoningEffort.HIGH))
    assert ids == reference(H.from_role_and_content(HR.USER, "Hi"), effort=HE.HIGH)
    assert "Reasoning: high" in encoding().decode(ids)
    assert encoding().decode(ids).endswith("<|start|>assistant")


def test_system_and_developer_messages_become_developer_instructions():
    ids = render_chat(chat(Message(Role.SYSTEM, "Be brief."), Message(Role.DEVELOPER, "Answer in French."), user()))
    developer = H.from_role_and_content(HR.DEVELOPER, DeveloperContent.new().with_instructions(
        "Be brief.\n\nAnswer in French."))
    assert ids == reference(developer, H.from_role_and_content(HR.USER, "Hello"))


def test_function_tools_and_a_full_tool_round_trip():
    call = tool_call()
    request = chat(user("Weather in Paris?"),
                   Message(Role.ASSISTANT, tool_calls=(call,), reasoning="Need the weather tool."),
                   Message(Role.TOOL, '{"temp_c": 21}', tool_call_id=call.id),
                   tools=(weather_tool(),))
    tool = weather_tool()
    developer = H.from_role_and_content(HR.DEVELOPER, DeveloperContent.new().with_function_tools(
        [ToolDescription.new(tool.name, tool.description, parameters=tool.parameters)]))
    expected = reference(
        developer, H.from_role_and_content(HR.USER, "Weather in Paris?"),
        H.from_role_and_content(HR.ASSISTANT, "Need the weather tool.").with_channel("analysis"),
        H.from_role_and_content(HR.ASSISTANT, call.arguments).with_channel("commentary")
        .with_recipient("functions.get_weather").with_content_type("<|constrain|>json"),
        H.from_author_and_content(Author.new(HR.TOOL, "functions.get_weather"), '{"temp_c": 21}')
        .with_channel("commentary").with_recipient("assistant"))
    assert render_chat(request) == expected
    text = encoding().decode(expected)
    assert "to=functions.get_weather" in text and "<|call|>" in text
    assert "Need the weather tool." in text  # chain of thought before a pending tool result is kept


def test_earlier_chain_of_thought_is_dropped_after_a_final_answer():
    request = chat(user("Hi"), Message(Role.ASSISTANT, "Hello!", reasoning="SECRET-THOUGHT"), user("Again"))
    text = encoding().decode(render_chat(request))
    assert "SECRET-THOUGHT" not in text
    assert "<|channel|>final<|message|>Hello!" in text
