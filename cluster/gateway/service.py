"""The gateway role: gRPC and OpenAI HTTP APIs and metrics, routing to the replicas of the cluster's controller."""

import asyncio
import gc
import logging
import time

from prometheus_client import start_http_server

from cluster.config import ClusterConfig
from cluster.gateway.admission import Admission
from cluster.gateway.auth import Authenticator
from cluster.gateway.grpc_server import GrpcGateway
from cluster.gateway.http.app import build_app
from cluster.gateway.http.server import HttpGateway
from cluster.gateway.loop_lag import LoopLagMonitor
from cluster.gateway.pipeline import Pipeline
from cluster.gateway.prepare import Preparer
from cluster.gateway.render_pool import RenderPool
from cluster.gateway.signals import GatewaySignals
from cluster.gateway.validate import Limits
from cluster.harmony.vocab import harmony_encoding
from cluster.replica.client import Channels
from cluster.router.profile import profile_from_config
from cluster.router.replica_set import ReplicaSet
from cluster.router.router import Router

log = logging.getLogger(__name__)

READY_POLL_S = 0.2


async def run_gateway(config: ClusterConfig, controller, stop: asyncio.Event, began: float) -> None:
    """Serves until `stop` is set, then lets open streams finish within the grace period."""
    profile = profile_from_config(config.router)
    g = config.gateway
    admission: Admission | None = None
    signals = GatewaySignals(lambda: admission.queued() if admission else 0)
    replicas = ReplicaSet(controller, signals.report)
    metrics_server = gateway = http = None
    render_pool = RenderPool(g.render_workers, g.render_timeout_s)
    loop_lag = LoopLagMonitor()
    channels = Channels()
    try:
        await render_pool.start()
        harmony_encoding().encode("warm up")  # the first request must not pay for loading the vocabulary
        replicas.start()
        limits = Limits(model_name=config.served_model_name, max_model_len=config.engine.max_model_len,
                        default_max_tokens=g.default_max_tokens, max_message_bytes=g.max_message_bytes,
                        constrained_reasoning_max_tokens=g.constrained_reasoning_max_tokens)
        a = config.admission
        admission = Admission(a.max_in_flight_per_replica or config.engine.max_num_seqs, a.max_queue,
                              a.max_queue_wait_s, lambda: len(replicas.ready()))
        router = Router(replicas, profile, config.router.snapshot_max_age_s)
        pipeline = Pipeline(replicas, router, admission, Preparer(limits, render_pool), g.request_timeout_s,
                            config.router.max_attempts, channels.stream)
        auth = Authenticator.from_file(g.api_keys_file)
        gateway = GrpcGateway(pipeline, auth, g.host, g.grpc_port, g.max_request_bytes)
        await gateway.start()
        app = build_app(pipeline, auth, lambda: replicas.last_refresh, g.max_request_bytes, g.http_body_timeout_s)
        http = HttpGateway(app, g.host, g.http_port, g.shutdown_grace_s, g.http_header_timeout_s)
        await http.start()
        # Start-up's objects (torch, Ray, vLLM, gRPC modules: over 100k) never become garbage; frozen,
        # full collections no longer walk them on the event loop (each took ~90 ms under load).
        gc.collect()
        gc.freeze()
        loop_lag.start()  # from here on the loop serves callers: any stall is theirs
        try:
            metrics_server, _ = start_http_server(g.metrics_port, addr=g.host)
        except OSError as exc:
            raise OSError(f"cannot listen on {g.host}:{g.metrics_port} for metrics: {exc.strerror}; "
                          "set gateway.metrics_port") from None
        print(f"oss-cluster: gateway {signals.gateway_id} for {config.served_model_name} ({config.layout}, "
              f"{config.device})", flush=True)
        print(f"oss-cluster: gRPC on {gateway.address}; OpenAI HTTP API on http://{http.address}/v1; "
              f"metrics on http://{g.host}:{g.metrics_port}/metrics", flush=True)
        await _track_readiness(gateway, replicas, stop, began)
        print(f"oss-cluster: stopping; open streams get up to {g.shutdown_grace_s:.0f} s", flush=True)
    finally:
        await asyncio.gather(*([gateway.stop(g.shutdown_grace_s)] if gateway else []),
                             *([http.stop()] if http else []))
        await replicas.stop()
        await asyncio.gather(render_pool.stop(), loop_lag.stop(), channels.close())
        if metrics_server is not None:
            await asyncio.to_thread(metrics_server.shutdown)  # it waits up to half a second for its thread


async def _track_readiness(gateway: GrpcGateway, replicas: ReplicaSet, stop: asyncio.Event, began: float) -> None:
    """Reports SERVING while a replica is ready, or while the cluster may cold-start one for a queued
    request (min_replicas 0); returns when asked to stop."""
    serving = False
    while not stop.is_set():
        ready = replicas.can_serve()
        if ready != serving:
            serving = ready
            await gateway.set_serving(serving)
            if serving:
                print(f"oss-cluster: ready in {time.monotonic() - began:.1f} s", flush=True)
            else:
                print("oss-cluster: no replica ready; health is NOT_SERVING until one is", flush=True)
        try:
            await asyncio.wait_for(stop.wait(), READY_POLL_S)
        except TimeoutError:
            pass
