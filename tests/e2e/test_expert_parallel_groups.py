"""Expert-parallel groups on a fake multi-node Ray cluster (logical GPUs), with stand-in engines that
hold the GPUs vLLM would: `oss-cluster serve` joins the cluster, its controller places each group as
one placement group, routes to every rank, and restarts a whole group when one of its ranks dies.
vLLM's CPU build has no expert parallel, so this is as far as groups run on this machine
(docs/layouts.md)."""

import asyncio
import time
from collections import Counter

import pytest
import ray
from ray.cluster_utils import Cluster

from cluster.controller.controller import CONTROLLER_NAME, NAMESPACE
from loadtest.local_cluster import serving
from tests.e2e.conftest import metric_sum, model_cache, wait_for

pytestmark = pytest.mark.e2e

GATEWAY = "  shutdown_grace_s: 5\n  default_max_tokens: 16\n"


def stand_ins(layout: str, replicas: int, gpus_per_node: int, start_s: float) -> str:
    return (f"layout: {layout}\nreplicas: {replicas}\ndevice: gpu\ngpus_per_node: {gpus_per_node}\n"
            f"engine:\n  kind: simulated\n  simulated:\n    calibration: instant\n    holds_gpus: true\n"
            f"    start_s: {start_s}\n")


@pytest.fixture
def fake_cluster(monkeypatch):
    # The fake cluster's head runs without Ray's token; serve, a subprocess, must not send one.
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 4, "num_gpus": 0,
                                                            "node_ip_address": "127.0.0.1"})
    try:
        ray.init(address=cluster.address, namespace=NAMESPACE, _node_ip_address="127.0.0.1")
        yield cluster
    finally:
        ray.shutdown()
        cluster.shutdown()


def gpu_node(cluster: Cluster, gpus: int) -> str:
    return cluster.add_node(num_cpus=1, num_gpus=gpus, node_ip_address="127.0.0.1").node_id


def groups() -> list:
    """The controller's replicas (groups), as `oss-cluster status` has them."""
    controller = ray.get_actor(CONTROLLER_NAME, namespace=NAMESPACE)
    return list(asyncio.run(_status(controller)).replicas)


async def _status(controller):
    return await controller.status.remote()


def in_state(state: str) -> list:
    return [g for g in groups() if g.state == state]


def test_a_group_packs_onto_one_node_waits_for_gpus_and_restarts_whole_when_a_rank_dies(fake_cluster, tmp_path):
    gpu_node(fake_cluster, 2)  # too small for a group of four: STRICT_PACK never splits one
    four = gpu_node(fake_cluster, 4)
    # A start of 15 s: long enough for the requests sent while the broken group's slot restarts.
    extra = f"ray_address: {fake_cluster.address}\n" + stand_ins("dep4", replicas=2, gpus_per_node=4, start_s=15)
    with serving(tmp_path, GATEWAY, extra, model_cache(tmp_path), start_timeout_s=240) as served:
        first = wait_for(lambda: in_state("ready"), 120, "the first group to be ready")[0]
        assert (first.ranks, set(first.nodes)) == (4, {four})
        for _ in range(6):  # the other group has no node with four free GPUs: it waits, placed nowhere
            assert [g.state for g in groups() if g.replica_id != first.replica_id] == ["pending"]
            time.sleep(0.5)
        other_node = gpu_node(fake_cluster, 4)  # as the Ray autoscaler would add one
        wait_for(lambda: len(in_state("ready")) == 2, 120, "the second group to be placed on the new node")
        second = next(g for g in groups() if g.replica_id != first.replica_id)
        assert set(second.nodes) == {other_node}

        wait_for(lambda: ready_ranks(served) == 8, 30, "the gateway to route to both groups' ranks")
        client = served_client(served)
        for _ in range(16):  # both groups' ranks are candidates
            ask(client)
        assert routed(served, first.replica_id) + routed(served, second.replica_id) == 16
        assert routed(served, first.replica_id) and routed(served, second.replica_id)
        ray.kill(ray.get_actor(f"replica-{first.replica_id}.2", namespace=NAMESPACE), no_restart=True)
        wait_for(lambda: first.replica_id not in {g.replica_id for g in groups()}, 30, "the broken group's removal")
        wait_for(lambda: ready_ranks(served) == 4, 30, "the gateway to route to the other group's four ranks only")
        names = ray.util.list_named_actors()
        assert not [n for n in names if n.startswith(f"replica-{first.replica_id}")]  # every rank stopped
        before = {k: routed(served, k) for k in (first.replica_id, second.replica_id)}
        for _ in range(8):  # while the slot's new group starts, the other group takes the traffic
            ask(client)
        assert routed(served, first.replica_id) == before[first.replica_id]
        assert routed(served, second.replica_id) >= before[second.replica_id] + 8
        replacement = wait_for(lambda: [g for g in in_state("ready") if g.replica_id != second.replica_id], 120,
                               "a new group in the broken one's slot")[0]
        assert (replacement.slot, replacement.restarts, set(replacement.nodes)) == (first.slot, 1, {four})


def test_a_group_larger_than_a_node_spans_two_nodes(fake_cluster, tmp_path):
    nodes = {gpu_node(fake_cluster, 8), gpu_node(fake_cluster, 8)}
    extra = f"ray_address: {fake_cluster.address}\n" + stand_ins("dep16", replicas=1, gpus_per_node=8, start_s=0)
    with serving(tmp_path, GATEWAY, extra, model_cache(tmp_path), start_timeout_s=240) as served:
        group = wait_for(lambda: in_state("ready"), 120, "the group to be ready")[0]
        assert group.ranks == 16 and Counter(group.nodes) == {n: 8 for n in nodes}
        client = served_client(served)
        for _ in range(16):
            ask(client)
        assert sum(routed(served, group.replica_id, rank) for rank in range(16)) == 16


def served_client(served):
    from openai import OpenAI

    return OpenAI(base_url=served.http_url + "/v1", api_key="unused", timeout=30, max_retries=0)


def ask(client) -> None:
    reply = client.completions.create(model="tiny-gpt-oss", prompt="Hello there", max_tokens=4)
    assert reply.usage.completion_tokens == 4


def ready_ranks(served) -> float:
    """The ranks the gateway routes to: it looks at the controller's ready set every 0.5 s."""
    return metric_sum(served.metrics(), "oss_cluster_replicas_ready")


def routed(served, group_id: str, rank: int | None = None) -> float:
    """Requests the gateway routed to the group's ranks (or to one rank)."""
    samples = served.metrics()
    ranks = [rank] if rank is not None else range(64)
    return sum(metric_sum(samples, "oss_cluster_routed_requests_total", replica=f"{group_id}.{k}") for k in ranks)
