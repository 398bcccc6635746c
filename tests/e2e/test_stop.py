"""Runs after the other end-to-end modules: these tests take the replica down, then stop the cluster."""

import os
from pathlib import Path

import grpc
import httpx
import psutil
import pytest
from grpc_health.v1 import health_pb2

from cluster._proto.cluster.v1 import inference_pb2 as pb
from loadtest.drill import Drill
from tests.e2e.conftest import events_of, wait_for

pytestmark = pytest.mark.e2e


def test_killed_replica_is_replaced_and_the_next_request_succeeds(cluster):
    """Runs last in this module: it takes the replica down (about 45 s to replace on a CPU)."""
    serve = psutil.Process(cluster.process.pid)
    replicas = [p for p in serve.children(recursive=True) if "ReplicaActor" in " ".join(p.cmdline())]
    assert len(replicas) == 1, [p.cmdline() for p in replicas]
    old_ids = cluster.label_values("oss_cluster_replica_running_requests", "replica")
    replicas[0].kill()
    request = pb.GenerateRequest(text="hi", sampling=pb.Sampling(max_tokens=5))

    def refused_while_replacing():
        try:
            list(cluster.stub().Generate(request, timeout=30))
        except grpc.RpcError as exc:
            return exc
        return None  # still answered by a replica that has not noticed; try again

    refused = wait_for(refused_while_replacing, 30, "requests to be refused while no replica is ready")
    assert refused.code() == grpc.StatusCode.UNAVAILABLE
    assert "retry" in refused.details()
    over_http = httpx.post(f"{cluster.http_url}/v1/completions", json={"prompt": "hi", "max_tokens": 5}, timeout=30)
    assert over_http.status_code == 503 and "retry" in over_http.json()["error"]["message"]
    assert httpx.get(f"{cluster.http_url}/readyz", timeout=5).status_code == 503
    wait_for(lambda: cluster.health() == health_pb2.HealthCheckResponse.NOT_SERVING, 10, "health to say NOT_SERVING")

    def answered_by_a_new_replica():
        new_ids = cluster.label_values("oss_cluster_replica_running_requests", "replica")
        return new_ids and not new_ids & old_ids

    wait_for(answered_by_a_new_replica, 240, "the controller to replace the replica", interval_s=1)
    events = events_of(cluster.stub().Generate(request, timeout=60))
    assert events["usage"][0].completion_tokens == sum(len(c.token_ids) for c in events["tokens"]) > 0
    assert cluster.health() == health_pb2.HealthCheckResponse.SERVING


def test_sigterm_drains_open_streams_then_stops_everything(cluster):
    """Runs last: it stops the cluster, as Kubernetes does when it deletes the pod."""
    serve = psutil.Process(cluster.process.pid)
    descendants = serve.children(recursive=True)
    drill = Drill(cluster.grpc_target, 4, max_tokens=120, deadline_s=60).start()
    wait_for(lambda: cluster.metric("oss_cluster_in_flight_requests", method="Generate") == 4, 30,
             "the streams to start")
    serve.terminate()
    wait_for(lambda: "stopping; open streams get up to" in cluster.log(), 10, "serve to begin draining")
    with pytest.raises(grpc.RpcError) as refused:
        list(cluster.stub().Generate(pb.GenerateRequest(text="late"), timeout=10))
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    outcomes = drill.join()
    report = drill.report("sigterm-gateway", grace_s=10)
    report.print()
    report.write(Path(os.environ.get("OSS_CLUSTER_DRILL_DIR", cluster.log_path.parent / "drills")))
    assert report.completed == report.sent == 4 and report.hung == 0  # the open streams finished whole
    assert all(o.tokens == 120 for o in outcomes)
    assert cluster.process.wait(120) == 0
    assert "oss-cluster: stopped" in cluster.log()
    wait_for(lambda: not [p for p in descendants if p.is_running() and p.status() != psutil.STATUS_ZOMBIE], 30,
             "Ray, the controller and the replica to exit")
