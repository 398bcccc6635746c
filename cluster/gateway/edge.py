"""Authentication at the edge, once per call: a gRPC server interceptor and an HTTP (ASGI) middleware.

Both read the bearer key (gRPC metadata `authorization`, or the HTTP `Authorization` header), find
the caller's tenant and leave it in `CALLER` for the handler; a caller without a valid key gets
UNAUTHENTICATED / 401, and the refusal is counted and audited like any call. Health, reflection and
the probes (/healthz, /readyz) stay open.
"""

import grpc

from cluster.errors import Unauthenticated, status_of
from cluster.gateway.accounting import Accountant
from cluster.gateway.context import CALLER
from cluster.gateway.grpc_wrap import before_behavior, wrap_handler
from cluster.gateway.http.errors import error_response
from cluster.gateway.tenants import Tenants

GUARDED_SERVICE = "/cluster.v1.Inference/"
OPEN_PATHS = frozenset({"/healthz", "/readyz"})
HTTP_METHODS = {"/v1/chat/completions": "chat.completions", "/v1/completions": "completions",
                "/v1/responses": "responses", "/v1/models": "models"}


def http_method(path: str) -> str:
    """The method label of an HTTP path: the OpenAI resource it names, or `other`."""
    return HTTP_METHODS.get(path.rstrip("/") or "/", "other")


class GrpcAuth(grpc.aio.ServerInterceptor):
    def __init__(self, tenants: Tenants, accountant: Accountant):
        self._tenants, self._accountant = tenants, accountant

    async def intercept_service(self, continuation, handler_call_details):
        handler = await continuation(handler_call_details)
        full_method = handler_call_details.method
        if handler is None or not full_method.startswith(GUARDED_SERVICE):
            return handler
        method = full_method.rpartition("/")[2]

        async def authenticate(request, context):
            authorization = dict(context.invocation_metadata() or ()).get("authorization")
            try:
                CALLER.set(self._tenants.authenticate(authorization))
            except Unauthenticated as exc:
                self._accountant.refused("grpc", method, exc)
                await context.abort(grpc.StatusCode.UNAUTHENTICATED, str(exc))
            return request
        return wrap_handler(handler, lambda behavior: before_behavior(behavior, authenticate))


class HttpAuth:
    """ASGI middleware in front of the OpenAI-compatible app."""

    def __init__(self, app, tenants: Tenants, accountant: Accountant):
        self._app, self._tenants, self._accountant = app, tenants, accountant

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            return await self._app(scope, receive, send)
        authorization = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value.decode("latin-1")
                break
        try:
            CALLER.set(self._tenants.authenticate(authorization))
        except Unauthenticated as exc:
            self._accountant.refused("http", http_method(scope["path"]), exc, http_status=status_of(exc)[1])
            return await error_response(exc)(scope, receive, send)
        await self._app(scope, receive, send)
