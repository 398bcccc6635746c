"""The roles of a cluster: `serve` (everything on this machine), `controller` and `gateway` (apart, on an
existing Ray cluster), and how each joins Ray and reaches the controller.

A gateway streams tokens from replicas, which Ray Client cannot do (ray 2.60 refuses
`num_returns="streaming"`), so every role runs as a driver on a node of the Ray cluster: on
Kubernetes a gateway pod first joins as a node with no resources (docs/architecture.md).
"""

import asyncio
import json
import logging
import os
import signal
import time
from pathlib import Path

import ray
from prometheus_client import start_http_server

from cluster.config import ClusterConfig
from cluster.controller.connect import check_plan, ensure_controller, find_controller
from cluster.controller.controller import NAMESPACE
from cluster.controller.plan import ClusterPlan, plan_from_config
from cluster.controller.watch import ControllerWatch
from cluster.gateway.service import run_gateway
from cluster.ray_join import STATE_FILE, join_ray
from cluster.tinymodel import ensure_tiny_model

log = logging.getLogger(__name__)

FIND_CONTROLLER_S = 120.0  # a gateway started beside a new cluster waits this long for its controller
RECHECK_CONTROLLER_S = 10.0  # how often the controller role checks that the cluster still has one


# The embedded default runs no tasks, only actors, each in a worker of its own: a worker Ray starts ahead
# would sit idle (one process, ~80 MiB, ~0.7 % of a core at rest). The project exports its own metrics,
# so Ray's collection (its agent's periodic reports) is off too.
EMBEDDED_RAY_CONFIG = {"enable_worker_prestart": False, "prestart_worker_first_driver": False,
                       "enable_metrics_collection": False}


def start_ray(config: ClusterConfig, replica_logs: bool) -> None:
    """Joins the configured Ray cluster, or starts a private one that listens on loopback only."""
    if config.ray_address:
        join_ray(config.ray_address, replica_logs)
        return
    ray.init(address="local", namespace=NAMESPACE, num_cpus=os.cpu_count(), include_dashboard=False,
             _node_ip_address="127.0.0.1", log_to_driver=replica_logs, configure_logging=False,
             _system_config=EMBEDDED_RAY_CONFIG)


def _stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):  # after ray.init, which installs handlers of its own
        loop.add_signal_handler(sig, stop.set)


async def serve(config: ClusterConfig, cache_dir: Path, replica_logs: bool = False, apply: bool = False,
                stop: asyncio.Event | None = None) -> None:
    """Runs until SIGTERM/SIGINT (or `stop` is set), then drains and stops everything it started."""
    began = time.monotonic()
    stop = stop or asyncio.Event()
    plan = _plan(config, cache_dir)  # a bad autoscaling policy fails before anything starts
    start_ray(config, replica_logs)
    _stop_on_signals(stop)
    # A serve that started its own Ray owns the cluster and stops it; one joining a shared cluster
    # leaves the controller and its replicas running when it stops.
    owns_cluster = not config.ray_address
    controller = watch = None
    state_file = cache_dir / STATE_FILE
    try:
        controller = await ensure_controller(plan, apply)
        if owns_cluster:
            state_file.parent.mkdir(parents=True, exist_ok=True)
            port = ray.get_runtime_context().gcs_address.rpartition(":")[2]  # on loopback, whatever Ray says
            state_file.write_text(json.dumps({"ray_address": f"127.0.0.1:{port}", "pid": os.getpid()}))
        watch = ControllerWatch(controller)
        watch.start()
        print(f"oss-cluster: serving {config.served_model_name} ({_sizing(config)}, layout {config.layout}, "
              f"{config.device})", flush=True)
        await run_gateway(config, controller, stop, began)
    finally:
        if watch:
            await watch.stop()
        if owns_cluster:
            state_file.unlink(missing_ok=True)
            if controller is not None:
                await _stop_controller(controller)
        ray.shutdown()
        print("oss-cluster: stopped", flush=True)


async def run_controller_role(config: ClusterConfig, cache_dir: Path, apply: bool,
                              stop: asyncio.Event | None = None) -> None:
    """`oss-cluster controller`: makes sure the cluster's controller runs this config's plan, then
    follows it (metrics, log) until stopped. Stopping this process leaves the controller and the
    replicas running; if the Ray cluster lost the controller, this process creates it again."""
    stop = stop or asyncio.Event()
    plan = _plan(config, cache_dir)
    join_ray(config.ray_address)
    _stop_on_signals(stop)
    c = config.controller
    metrics_server = None
    watch = None
    try:
        controller = await ensure_controller(plan, apply)
        metrics_server, _ = start_http_server(c.metrics_port, addr=c.host)
        watch = ControllerWatch(controller)
        watch.start()
        print(f"oss-cluster: controller running plan {plan.digest()}; metrics on http://{c.host}:{c.metrics_port}"
              "/metrics", flush=True)
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), RECHECK_CONTROLLER_S)
            except TimeoutError:
                if await find_controller(0, missing_ok=True) is None:  # the cluster lost it (a head restart)
                    log.warning("the Ray cluster has no controller; creating it again with this config's plan")
                    await watch.stop()
                    watch = ControllerWatch(await ensure_controller(plan, apply=False))
                    watch.start()
    finally:
        if watch:
            await watch.stop()
        if metrics_server is not None:
            await asyncio.to_thread(metrics_server.shutdown)
        ray.shutdown()
        print("oss-cluster: controller role stopped; the cluster keeps serving", flush=True)


async def run_gateway_role(config: ClusterConfig, cache_dir: Path, apply: bool,
                           stop: asyncio.Event | None = None) -> None:
    """`oss-cluster gateway`: one more gateway for a running cluster; refused if its plan differs."""
    began = time.monotonic()
    stop = stop or asyncio.Event()
    plan = _plan(config, cache_dir)
    join_ray(config.ray_address)
    _stop_on_signals(stop)
    try:
        controller = await find_controller(FIND_CONTROLLER_S)
        await check_plan(controller, plan, apply)
        await run_gateway(config, controller, stop, began)
    finally:
        ray.shutdown()
        print("oss-cluster: gateway stopped", flush=True)


def _plan(config: ClusterConfig, cache_dir: Path) -> ClusterPlan:
    """The config's plan; the embedded tiny model is generated (once) where no model path is given."""
    model = config.model
    return plan_from_config(config, model.path or str(ensure_tiny_model(cache_dir / "models", model.tiny_variant)))


def _sizing(config: ClusterConfig) -> str:
    a = config.autoscaling
    if a.policy:
        return f"{a.min_replicas}..{a.max_replicas} replicas by {a.policy}"
    return f"{config.replicas} replica(s)"


async def _stop_controller(controller) -> None:
    try:
        await asyncio.wait_for(controller.shutdown.remote(), 60)
    except Exception as exc:
        log.warning("controller shutdown: %s", exc)
    ray.kill(controller, no_restart=True)
