"""Chats → Harmony prompt token ids, as gpt-oss was trained to read them."""

import json

from openai_harmony import (Author, Conversation, DeveloperContent, Message as HMessage, ReasoningEffort as HEffort,
                            Role as HRole, SystemContent, ToolDescription)

from cluster.harmony.vocab import harmony_encoding
from cluster.types import ChatRequest, Message, ReasoningEffort, Role, ToolChoice

_EFFORT = {ReasoningEffort.LOW: HEffort.LOW, ReasoningEffort.MEDIUM: HEffort.MEDIUM, ReasoningEffort.HIGH: HEffort.HIGH}


def render_chat(request: ChatRequest) -> list[int]:
    """Renders the conversation for the assistant's next turn.

    System and developer messages become the Harmony developer message's instructions (the
    Harmony system message carries the reasoning effort and channels, and is the gateway's);
    earlier chains of thought are dropped once a final answer follows them, as Harmony requires.
    """
    messages = [HMessage.from_role_and_content(
        HRole.SYSTEM, SystemContent.new().with_reasoning_effort(_EFFORT[request.reasoning_effort]))]
    developer = _developer_message(request)
    if developer is not None:
        messages.append(developer)
    call_names = {call.id: call.name for m in request.messages for call in m.tool_calls}
    for message in request.messages:
        messages.extend(_render_turn(message, call_names))
    conversation = Conversation.from_messages(messages)
    return harmony_encoding().render_conversation_for_completion(conversation, HRole.ASSISTANT)


def _developer_message(request: ChatRequest) -> HMessage | None:
    instructions = "\n\n".join(m.content for m in request.messages if m.role in (Role.SYSTEM, Role.DEVELOPER))
    if request.json_schema is not None:  # Harmony announces structured output in the developer message
        response_format = f"# Response Formats\n\n## response\n\n{json.dumps(request.json_schema)}"
        instructions = f"{instructions}\n\n{response_format}" if instructions else response_format
    tools = request.tools if request.tool_choice is not ToolChoice.NONE else ()  # "none": the model never sees them
    if not instructions and not tools:
        return None
    content = DeveloperContent.new()
    if instructions:
        content = content.with_instructions(instructions)
    if tools:
        content = content.with_function_tools([
            ToolDescription.new(t.name, t.description, parameters=t.parameters or {"type": "object", "properties": {}})
            for t in tools])
    return HMessage.from_role_and_content(HRole.DEVELOPER, content)


def _render_turn(message: Message, call_names: dict[str, str]) -> list[HMessage]:
    if message.role in (Role.SYSTEM, Role.DEVELOPER):
        return []  # folded into the developer message
    if message.role is Role.USER:
        return [HMessage.from_role_and_content(HRole.USER, message.content)]
    if message.role is Role.TOOL:
        name = message.name or call_names.get(message.tool_call_id, "")
        author = Author.new(HRole.TOOL, f"functions.{name}")
        return [HMessage.from_author_and_content(author, message.content)
                .with_channel("commentary").with_recipient("assistant")]
    turns = []
    if message.reasoning:
        turns.append(HMessage.from_role_and_content(HRole.ASSISTANT, message.reasoning).with_channel("analysis"))
    if message.content:
        channel = "commentary" if message.tool_calls else "final"  # text before a tool call is a preamble
        turns.append(HMessage.from_role_and_content(HRole.ASSISTANT, message.content).with_channel(channel))
    for call in message.tool_calls:
        turns.append(HMessage.from_role_and_content(HRole.ASSISTANT, call.arguments or "{}")
                     .with_channel("commentary").with_recipient(f"functions.{call.name}")
                     .with_content_type("<|constrain|>json"))
    return turns

