"""The gRPC face of the gateway: cluster.v1.Inference, grpc.health.v1.Health and reflection."""

import asyncio
import logging
import time
from contextlib import aclosing

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from cluster._proto.cluster.v1 import inference_pb2 as pb
from cluster._proto.cluster.v1 import inference_pb2_grpc as pb_grpc
from cluster.errors import ClusterError, Overloaded, Unavailable, status_of
from cluster.gateway import convert
from cluster.gateway.accounting import Accountant, Call
from cluster.gateway.context import CALLER
from cluster.gateway.edge import GrpcAuth
from cluster.gateway.grpc_decoding import DecodeGuard
from cluster.gateway.tenants import Tenants
from cluster.gateway.tls import ServerTls
from cluster.gateway.pipeline import Pipeline

log = logging.getLogger(__name__)

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["Inference"].full_name
MAX_RESPONSE_BYTES = 16 * 2**20
DRAIN_POLL_S = 0.1


class InferenceServicer(pb_grpc.InferenceServicer):
    """The handlers: the caller is already authenticated (`cluster.gateway.edge.GrpcAuth`); each call
    opens its books, builds its context and runs the pipeline."""

    def __init__(self, pipeline: Pipeline, accountant: Accountant):
        self._pipeline = pipeline
        self._accountant = accountant
        self.draining = False
        self.open_streams = 0

    async def Chat(self, request: pb.ChatRequest, context: grpc.aio.ServicerContext):
        async for event in self._serve("Chat", context, lambda call: self._run(
                self._pipeline.chat, convert.chat_request(request), call, context)):
            yield convert.chat_event(event)

    async def Generate(self, request: pb.GenerateRequest, context: grpc.aio.ServicerContext):
        async for event in self._serve("Generate", context, lambda call: self._run(
                self._pipeline.generate, convert.generate_request(request), call, context)):
            yield convert.generate_event(event)

    def _run(self, serve, domain_request, call: Call, context):
        return serve(domain_request, self._pipeline.context(call, domain_request, context.time_remaining()))

    async def ListModels(self, request: pb.ListModelsRequest, context: grpc.aio.ServicerContext):
        self._accountant.open("grpc", "ListModels", CALLER.get()).close()
        limits = self._pipeline.limits
        return pb.ListModelsResponse(models=[pb.Model(
            id=limits.model_name, max_model_len=limits.max_model_len,
            ready_replicas=self._pipeline.ready_replicas())])

    async def _serve(self, method: str, context, open_stream):
        """Runs one stream with its books kept; maps errors through the one status table."""
        call = self._accountant.open("grpc", method, CALLER.get())
        error: BaseException | None = None
        if self.draining:
            error = Unavailable("this gateway is shutting down; retry the request")
            call.close(error)
            await context.abort(grpc.StatusCode.UNAVAILABLE, str(error))
        self.open_streams += 1
        try:
            async with aclosing(open_stream(call)) as events:
                async for event in events:
                    yield event
        except ClusterError as exc:
            error = exc
            code, _, message = status_of(exc)
            if isinstance(exc, Overloaded):  # gRPC's own retry policy honours this pushback
                context.set_trailing_metadata((("grpc-retry-pushback-ms", str(int(exc.retry_after_s * 1000))),))
            await context.abort(code, message)
        except Exception as exc:
            if isinstance(exc, grpc.aio.AbortError):
                raise
            error = exc
            log.exception("%s failed (request %s)", method, call.request_id)
            code, _, message = status_of(exc)
            await context.abort(code, message)
        except BaseException as exc:  # the client went away or its deadline passed
            error = exc
            raise
        finally:
            self.open_streams -= 1
            call.close(error)


class GrpcGateway:
    """Owns the grpc.aio server and the health status it reports."""

    def __init__(self, pipeline: Pipeline, tenants: Tenants, accountant: Accountant, host: str, port: int,
                 max_request_bytes: int, tls: ServerTls | None = None):
        # authenticate first (outermost): a caller without a key learns nothing, not even a decoding error
        self.server = grpc.aio.server(interceptors=[GrpcAuth(tenants, accountant), DecodeGuard()],
                                      options=[("grpc.max_receive_message_length", max_request_bytes),
                                               ("grpc.max_send_message_length", MAX_RESPONSE_BYTES),
                                               ("grpc.so_reuseport", 0)])  # a busy port is an error
        self.servicer = InferenceServicer(pipeline, accountant)
        pb_grpc.add_InferenceServicer_to_server(self.servicer, self.server)
        self.health = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        reflection.enable_server_reflection((SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), self.server)
        self.address = f"{host}:{port}"
        try:
            if tls is None:
                self.server.add_insecure_port(self.address)
            else:
                self.server.add_secure_port(self.address, tls.grpc_credentials())
        except RuntimeError:
            raise OSError(f"cannot listen on {self.address} for gRPC: the address is in use or not local; "
                          "set gateway.grpc_port or gateway.host") from None

    async def start(self) -> None:
        await self.set_serving(False)
        await self.server.start()

    async def set_serving(self, serving: bool) -> None:
        status = health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
        for name in ("", SERVICE_NAME):
            await self.health.set(name, status)

    async def stop(self, grace_s: float) -> None:
        """Refuses new streams at once (UNAVAILABLE, so clients retry elsewhere); lets open streams
        run up to `grace_s`; then cancels what is left and closes the server."""
        await self.set_serving(False)
        self.servicer.draining = True
        started = time.monotonic()
        while self.servicer.open_streams and time.monotonic() - started < grace_s:
            await asyncio.sleep(DRAIN_POLL_S)
        left = self.servicer.open_streams
        await self.server.stop(0)
        log.info("gRPC server stopped after %.1f s; %d stream(s) cut at the grace limit",
                 time.monotonic() - started, left)
