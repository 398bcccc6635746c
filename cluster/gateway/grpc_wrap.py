"""Wrapping a gRPC method's behavior so that a step runs before it, for server interceptors."""

import inspect


def before_behavior(behavior, step):
    """`behavior` (unary or server-streaming, either request kind) with `await step(request, context)`
    first; the step returns the request the behavior gets (or aborts the call)."""
    if inspect.isasyncgenfunction(behavior):
        async def stream_responses(request, context):
            request = await step(request, context)
            async for response in behavior(request, context):
                yield response
        return stream_responses

    async def respond(request, context):
        return await behavior(await step(request, context), context)
    return respond


def wrap_handler(handler, wrap):
    """`handler` with each of its behaviors replaced by `wrap(behavior)`."""
    behaviors = {kind: wrap(getattr(handler, kind))
                 for kind in ("unary_unary", "unary_stream", "stream_unary", "stream_stream")
                 if getattr(handler, kind) is not None}
    return handler._replace(**behaviors)
