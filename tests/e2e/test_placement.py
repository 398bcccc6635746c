"""On a fake multi-node Ray cluster (logical GPUs): a replica that asks for a GPU no node has stays
pending, and starts once a node with one joins, as the Ray autoscaler (KubeRay) would add it."""

import asyncio
import dataclasses
import os
import time
from pathlib import Path

import pytest
import ray
from ray.cluster_utils import Cluster

from cluster.config import embedded_default
from cluster.controller.connect import ensure_controller
from cluster.controller.controller import NAMESPACE
from cluster.controller.plan import plan_from_config
from cluster.tinymodel import ensure_tiny_model
from tests.e2e.conftest import wait_for

pytestmark = pytest.mark.e2e


def test_a_replica_asking_for_a_gpu_waits_for_a_node_with_one(tmp_path):
    cache = Path(os.environ.get("OSS_CLUSTER_CACHE", str(tmp_path.parent / "cache")))
    plan = plan_from_config(embedded_default(), str(ensure_tiny_model(cache / "models")))
    plan = dataclasses.replace(plan, replica=dataclasses.replace(plan.replica, gpus=1))
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "num_gpus": 0,
                                                            "node_ip_address": "127.0.0.1"})
    controller = None
    try:
        # Not `join_ray`: it turns on Ray's token auth in this process, which the node added below
        # would inherit while the head runs without.
        ray.init(address=cluster.address, namespace=NAMESPACE, _node_ip_address="127.0.0.1")

        async def status():
            return await controller.status.remote()

        async def start():
            return await ensure_controller(plan, apply=False)

        controller = asyncio.run(start())

        def replica_in(state: str):
            replicas = asyncio.run(status()).replicas
            return replicas[0] if replicas and replicas[0].state == state else None

        wait_for(lambda: replica_in("pending"), 30, "the replica to be created")
        for _ in range(6):  # no node has a GPU: it stays pending, neither failed nor retried
            assert replica_in("pending")
            time.sleep(0.5)
        gpu_node = cluster.add_node(num_cpus=1, num_gpus=1, node_ip_address="127.0.0.1")
        ready = wait_for(lambda: replica_in("ready"), 300, "the replica to start on the new node", interval_s=1)
        assert ready.node_id == gpu_node.node_id
    finally:
        if controller is not None:
            asyncio.run(_shutdown(controller))
        ray.shutdown()
        cluster.shutdown()


async def _shutdown(controller) -> None:
    await controller.shutdown.remote()
    ray.kill(controller, no_restart=True)
