"""Small factories for test inputs."""

from cluster.types import ChatRequest, Message, Role, Sampling, Tool, ToolCall


def user(text: str = "Hello") -> Message:
    return Message(Role.USER, text)


def chat(*messages: Message, **kwargs) -> ChatRequest:
    return ChatRequest(messages=messages or (user(),), **kwargs)


def weather_tool() -> Tool:
    return Tool("get_weather", "Current weather in a city.",
                {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]})


def tool_call(name: str = "get_weather", arguments: str = '{"city": "Paris"}', id: str = "call_1") -> ToolCall:
    return ToolCall(id=id, name=name, arguments=arguments)


def sampling(**kwargs) -> Sampling:
    return Sampling(**kwargs)


async def ok_app(scope, receive, send):
    """The smallest ASGI app: 200 and "ok" to anything, for tests of the HTTP server itself."""
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})
