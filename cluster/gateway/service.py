"""The gateway role: gRPC and OpenAI HTTP APIs and metrics, routing to the replicas of the cluster's controller."""

import asyncio
import gc
import logging
import time

from cluster.config import ClusterConfig
from cluster.gateway.accounting import Accountant, AuditLog
from cluster.gateway.admin import start_admin
from cluster.gateway.admission import Admission
from cluster.gateway.grpc_server import GrpcGateway
from cluster.gateway.http.app import build_app
from cluster.gateway.http.server import HttpGateway
from cluster.gateway.loop_lag import LoopLagMonitor
from cluster.gateway.pipeline import Pipeline
from cluster.gateway.prepare import Preparer
from cluster.gateway.quota import Quotas
from cluster.gateway.render_pool import RenderPool
from cluster.gateway.signals import GatewaySignals
from cluster.gateway.tenants import Tenants
from cluster.gateway.tls import ServerTls
from cluster.gateway.validate import Limits
from cluster.harmony.vocab import harmony_encoding
from cluster.replica.client import Channels
from cluster.router.profile import profile_from_config
from cluster.router.replica_set import ReplicaSet
from cluster.router.router import Router

log = logging.getLogger(__name__)

READY_POLL_S = 0.2
READY_PROGRESS_S = 30.0  # not ready if the replica view was not refreshed for this long
LOOP_STALL_S = 30.0  # not alive if the event loop did not take a readiness snapshot for this long


class Readiness:
    """The gateway's one view of its readiness. On the event loop it is taken fresh (the HTTP API's
    /readyz, and every READY_POLL_S by the health tracker); the admin listener's thread reads the
    last one taken, which is also how it knows the loop still turns."""

    def __init__(self, replicas: ReplicaSet):
        self._replicas = replicas
        self.snapshot = (False, {"ready_replicas": 0, "replica_view_fresh": False})
        self._taken = time.monotonic()

    def __call__(self) -> tuple[bool, dict]:
        """Fresh; only on the event loop."""
        fresh = time.monotonic() - self._replicas.last_refresh < READY_PROGRESS_S
        ready = self._replicas.can_serve() and fresh
        self.snapshot = (ready, {"ready_replicas": len(self._replicas.ready()), "replica_view_fresh": fresh})
        self._taken = time.monotonic()
        return self.snapshot

    def last(self) -> tuple[bool, dict]:
        """The last one taken; from any thread."""
        return self.snapshot

    def alive(self) -> bool:
        return time.monotonic() - self._taken < LOOP_STALL_S


async def run_gateway(config: ClusterConfig, controller, stop: asyncio.Event, began: float) -> None:
    """Serves until `stop` is set, then lets open streams finish within the grace period."""
    profile = profile_from_config(config.router)
    g = config.gateway
    admission: Admission | None = None
    signals = GatewaySignals(lambda: admission.queued() if admission else 0)
    replicas = ReplicaSet(controller, signals.report)
    readiness = Readiness(replicas)
    metrics_server = gateway = http = None
    render_pool = RenderPool(g.render_workers, g.render_timeout_s)
    loop_lag = LoopLagMonitor()
    channels = Channels()
    tenants = Tenants(g.tenants_file)  # a bad tenants file stops the start, naming the field
    audit = AuditLog(g.audit_log)
    tls = ServerTls.from_config(g.tls_cert_file, g.tls_key_file, g.tls_client_ca_file)
    if tls is not None:
        tls.check()

    watching = asyncio.get_running_loop().create_task(tenants.watch(stop))
    try:
        await render_pool.start()
        harmony_encoding().encode("warm up")  # the first request must not pay for loading the vocabulary
        replicas.start()
        limits = Limits(model_name=config.served_model_name, max_model_len=config.engine.max_model_len,
                        default_max_tokens=g.default_max_tokens, max_message_bytes=g.max_message_bytes,
                        constrained_reasoning_max_tokens=g.constrained_reasoning_max_tokens)
        a = config.admission
        admission = Admission(a.max_in_flight_per_replica or config.engine.max_num_seqs, a.max_queue,
                              a.max_queue_wait_s, lambda: len(replicas.ready()), tenants.names)
        router = Router(replicas, profile, config.router.snapshot_max_age_s)
        pipeline = Pipeline(replicas, router, admission, Preparer(limits, render_pool), g.request_timeout_s,
                            config.router.max_attempts, channels.stream, Quotas())
        accountant = Accountant(config.served_model_name, audit)
        gateway = GrpcGateway(pipeline, tenants, accountant, g.host, g.grpc_port, g.max_request_bytes, tls)
        await gateway.start()
        app = build_app(pipeline, tenants, accountant, readiness, g.max_request_bytes, g.http_body_timeout_s)
        http = HttpGateway(app, g.host, g.http_port, g.shutdown_grace_s, g.http_header_timeout_s, tls)
        await http.start()
        # Start-up's objects (torch, Ray, vLLM, gRPC modules: over 100k) never become garbage; frozen,
        # full collections no longer walk them on the event loop (each took ~90 ms under load).
        gc.collect()
        gc.freeze()
        loop_lag.start()  # from here on the loop serves callers: any stall is theirs
        admin_host = g.admin_host or g.host
        metrics_server = start_admin(admin_host, g.metrics_port, readiness.last, readiness.alive)
        print(f"oss-cluster: gateway {signals.gateway_id} for {config.served_model_name} ({config.layout}, "
              f"{config.device})", flush=True)
        scheme = "https" if tls else "http"
        security = "" if tls is None else " (mutual TLS)" if tls.client_ca_file else " (TLS)"
        print(f"oss-cluster: gRPC on {gateway.address}{security}; OpenAI HTTP API on {scheme}://{http.address}/v1; "
              f"metrics and health on http://{admin_host}:{g.metrics_port}", flush=True)
        await _track_readiness(gateway, replicas, readiness, stop, began)
        print(f"oss-cluster: stopping; open streams get up to {g.shutdown_grace_s:.0f} s", flush=True)
    finally:
        await asyncio.gather(*([gateway.stop(g.shutdown_grace_s)] if gateway else []),
                             *([http.stop()] if http else []))
        await replicas.stop()
        watching.cancel()
        await asyncio.gather(render_pool.stop(), loop_lag.stop(), channels.close(), watching, return_exceptions=True)
        audit.close()
        if metrics_server is not None:
            await asyncio.to_thread(metrics_server.shutdown)  # it waits up to half a second for its thread


async def _track_readiness(gateway: GrpcGateway, replicas: ReplicaSet, readiness: Readiness, stop: asyncio.Event,
                           began: float) -> None:
    """Reports SERVING while a replica is ready, or while the cluster may cold-start one for a queued
    request (min_replicas 0); returns when asked to stop."""
    serving = False
    while not stop.is_set():
        readiness()
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
