"""The tiny model's training corpus: synthetic Harmony conversations, generated from a seed.

Each example is what a client would send (a `ChatRequest`, rendered by the gateway's own
`render_chat`) and the assistant turn that answers it: an analysis message whose length follows
the reasoning effort, then a final answer, or a call of a fitting function tool with JSON
arguments valid for its schema. The answers are canned and need not be clever; they must be
well-formed. Held-out prompts come from a seed the training never uses.
"""

import json
import random
from dataclasses import dataclass
from typing import Callable

from openai_harmony import Message as HMessage, Role as HRole

from cluster.tinymodel import phrases as P
from cluster.types import ChatRequest, Message, ReasoningEffort, Role, Tool, ToolCall

TRAINING_SEED = 20261130
HELD_OUT_SEED = 7
SENTENCES_BY_EFFORT = {ReasoningEffort.LOW: 1, ReasoningEffort.MEDIUM: 2, ReasoningEffort.HIGH: 4}


@dataclass(frozen=True)
class Example:
    kind: str
    request: ChatRequest
    reply: tuple[HMessage, ...]  # the assistant's turn: analysis, then a final answer or a tool call

    @property
    def tool(self) -> Tool | None:
        """The tool the reply calls, if it ends in a call."""
        recipient = self.reply[-1].recipient
        return next((t for t in self.request.tools if recipient == f"functions.{t.name}"), None)


@dataclass(frozen=True)
class _Answer:
    """One reply before it becomes Harmony: what the model thinks, then says (or calls)."""

    thoughts: tuple[str, ...]
    final: str = ""
    call: tuple[Tool, dict] | None = None


def examples(seed: int, count: int) -> list[Example]:
    """`count` conversations drawn from `seed`; the same seed gives the same list."""
    rng = random.Random(seed)
    return [_example(rng) for _ in range(count)]


def held_out(count: int) -> list[Example]:
    """Conversations from a seed training never draws from: the prompts the model is judged on."""
    return examples(HELD_OUT_SEED, count)


def _example(rng: random.Random) -> Example:
    kind = rng.choices(list(_KINDS), weights=[w for w, _ in _KINDS.values()])[0]
    effort = rng.choice(list(ReasoningEffort))
    brief = rng.random() < 0.15
    instructions = [rng.choice(P.BRIEF)] if brief else []
    if rng.random() < 0.3:
        instructions.append(rng.choice(P.INSTRUCTIONS))
    if rng.random() < 0.04:
        instructions.append(P.filler(rng, rng.randint(50, 400)))  # a long system prompt
    rng.shuffle(instructions)
    history = _history(rng) if rng.random() < 0.25 and kind != "tool_result" else []
    messages, tools, answer = _KINDS[kind][1](rng)
    if kind not in ("tool_call", "tool_result") and rng.random() < 0.2:
        tools = tuple(_tool(rng, family) for family in rng.sample(list(P.TOOLS), rng.randint(1, 3)))
    head = [Message(Role.SYSTEM if rng.random() < 0.5 else Role.DEVELOPER, text) for text in instructions]
    request = ChatRequest(messages=tuple(head + history + messages), reasoning_effort=effort, tools=tools)
    return Example(kind, request, _harmony(answer, effort, brief))


def _harmony(answer: _Answer, effort: ReasoningEffort, brief: bool) -> tuple[HMessage, ...]:
    thoughts = " ".join(answer.thoughts[:SENTENCES_BY_EFFORT[effort]])
    reply = [HMessage.from_role_and_content(HRole.ASSISTANT, thoughts).with_channel("analysis")]
    if answer.call is not None:
        tool, arguments = answer.call
        reply.append(HMessage.from_role_and_content(HRole.ASSISTANT, json.dumps(arguments, ensure_ascii=False))
                     .with_channel("commentary").with_recipient(f"functions.{tool.name}")
                     .with_content_type("<|constrain|>json"))
    else:
        reply.append(HMessage.from_role_and_content(HRole.ASSISTANT, said(answer.final, brief)).with_channel("final"))
    return tuple(reply)


def said(answer: str, brief: bool) -> str:
    """A canned answer as the model says it: its first sentence when asked to be brief."""
    sentences = answer.split("\n\n")
    return sentences[0] if brief else " ".join(sentences)


def _history(rng: random.Random) -> list[Message]:
    """Earlier turns of the chat: questions and their final answers (their reasoning is gone)."""
    turns = []
    for _ in range(rng.randint(1, 3)):
        kind = rng.choice(["greeting", "fact", "task"])
        messages, _, answer = _KINDS[kind][1](rng)
        turns += [*messages, Message(Role.ASSISTANT, said(answer.final, brief=False))]
    return turns


def _user(text: str) -> list[Message]:
    return [Message(Role.USER, text)]


def _greeting(rng):
    lang = rng.choice(list(P.GREETINGS))
    hello, answer = P.GREETINGS[lang]
    text = rng.choice(hello)
    thoughts = (f"The user says \"{text}\".", f"This is a greeting in {P.LANGUAGE_NAMES[lang]}.",
                "No tool is needed.", f"I will greet them back in {P.LANGUAGE_NAMES[lang]} and offer help.")
    return _user(text), (), _Answer(thoughts, answer)


def _fact(rng):
    question, answer, topic = P.fact(rng)
    thoughts = (f"The user asks about {topic}.", f"I know this: {said(answer, brief=True)}",
                "It is a short factual question, so no tool is needed.", "I will answer in one or two sentences.")
    return _user(question), (), _Answer(thoughts, answer)


def _task(rng):
    request, answer, topic = P.task(rng)
    thoughts = (f"The user wants {topic}.", "I can do this directly without any tool.",
                "Keep the format simple and friendly.", "Then I give the answer.")
    return _user(request), (), _Answer(thoughts, answer)


def _unknown(rng):
    text = P.filler(rng, rng.choice([rng.randint(1, 12), rng.randint(10, 120), rng.randint(100, 600)]))
    thoughts = ("The message is not a question I understand.", "I am a small demo model with canned answers.",
                "I should say so politely.", "Then I ask for a simple question.")
    return _user(text), (), _Answer(thoughts, P.FALLBACK)


def _noise(rng):
    """Text of vocabulary entries the corpus never uses otherwise: how the model learns to read unknown tokens."""
    text = P.noise(rng, rng.randint(1, 40))
    _, _, fallback = _unknown(rng)  # its filler question is drawn and dropped
    return _user(text), (), fallback


def _tool(rng: random.Random, family: str) -> Tool:
    spec = P.TOOLS[family]
    name = rng.choice(spec["names"])
    description = rng.choice(spec["descriptions"] + [""])
    return Tool(name, description, spec["schema"](rng))


def _tools_with(rng: random.Random, family: str) -> tuple[Tool, tuple[Tool, ...]]:
    others = [f for f in P.TOOLS if f != family]
    tool = _tool(rng, family)
    tools = [tool] + [_tool(rng, f) for f in rng.sample(others, rng.randint(0, 2))]
    rng.shuffle(tools)
    return tool, tuple(tools)


def _tool_call(rng):
    family = rng.choice(list(P.TOOLS))
    tool, tools = _tools_with(rng, family)
    question, arguments, topic = P.TOOLS[family]["ask"](rng, tool.parameters)
    thoughts = (f"The user asks {topic}.", f"The {tool.name} tool can answer that.",
                "I will call it with the right arguments.", "After the result I can answer.")
    return _user(question), tools, _Answer(thoughts, call=(tool, arguments))


def _tool_result(rng):
    family = rng.choice(list(P.TOOLS))
    tool, tools = _tools_with(rng, family)
    spec = P.TOOLS[family]
    question, arguments, topic = spec["ask"](rng, tool.parameters)
    result, answer = spec["result"](rng, arguments)
    call = ToolCall(id=f"call_{rng.getrandbits(48):012x}", name=tool.name, arguments=json.dumps(arguments))
    said = (f"The user asks {topic}. I will call {tool.name}." if rng.random() < 0.5 else "")
    messages = [Message(Role.USER, question), Message(Role.ASSISTANT, tool_calls=(call,), reasoning=said),
                Message(Role.TOOL, json.dumps(result), name=tool.name if rng.random() < 0.5 else "",
                        tool_call_id=call.id)]
    thoughts = (f"The {tool.name} tool answered.", "I will tell the user what it says.",
                "No other call is needed.", "Keep the answer short.")
    return messages, tools, _Answer(thoughts, answer)


# kind → (share, maker); a maker returns the messages that end with the question, the tools they
# bring, and the answer.
_KINDS: dict[str, tuple[float, Callable]] = {
    "greeting": (0.12, _greeting),
    "fact": (0.13, _fact),
    "task": (0.11, _task),
    "unknown": (0.10, _unknown),
    "noise": (0.04, _noise),
    "tool_call": (0.30, _tool_call),
    "tool_result": (0.16, _tool_result),
}
