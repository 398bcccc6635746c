"""One replica's cluster, in order: the controller killed under load, a second gateway joined to the
cluster, a gateway with another plan refused, then the same gateway rolling its plan out."""

import os
import signal
from pathlib import Path

import pytest

from loadtest.drill import Drill
from tests.e2e.conftest import running_cluster, wait_for
from tests.e2e.control_plane import Role, one_request, ready_ids, status_when

pytestmark = pytest.mark.e2e

LIFECYCLE = "lifecycle:\n  health_period_s: 0.5\n"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with running_cluster(tmp_path_factory.mktemp("restart"), LIFECYCLE) as c:
        yield c


def test_a_killed_controller_is_restarted_by_ray_and_adopts_the_running_replicas(cluster):
    before = status_when(cluster, lambda s: len(ready_ids(s)) == 1, 60, "the replica to be ready")
    replicas = {(r["replica_id"], r["pid"]) for r in before["replicas"]}
    drill = Drill(cluster.grpc_target, 8, max_tokens=200, deadline_s=180).start()
    wait_for(lambda: cluster.metric("oss_cluster_in_flight_requests", method="Generate") == 8, 30,
             "the 8 streams to start")
    os.kill(before["controller_pid"], signal.SIGKILL)
    report = drill.report("kill-controller")
    report.print()
    report.write(Path(os.environ.get("OSS_CLUSTER_DRILL_DIR", cluster.log_path.parent / "drills")))
    assert report.completed == report.sent == 8 and report.hung == 0, report  # serving went on
    after = status_when(cluster, lambda s: s["controller_pid"] != before["controller_pid"], 60,
                        "a new controller")
    assert {(r["replica_id"], r["pid"]) for r in after["replicas"]} == replicas  # adopted, not restarted
    assert [r["restarts"] for r in after["replicas"]] == [0] and after["desired"] == 1
    assert one_request(cluster.grpc_target)["finish"][0].reason


def test_a_second_gateway_joined_to_the_cluster_serves_and_leaves_it_running(cluster, tmp_path):
    gateway = Role(cluster, tmp_path, "gateway", LIFECYCLE)
    try:
        gateway.wait_for_line(r"ready in [\d.]+ s", 120)
        assert one_request(gateway.target)["usage"][0].completion_tokens > 0
    finally:
        assert gateway.stop() == 0
    assert "gateway stopped" in gateway.log()
    assert one_request(cluster.grpc_target)["finish"][0].reason  # the cluster serves on


def test_a_gateway_with_another_plan_is_refused_naming_the_fields(cluster, tmp_path):
    gateway = Role(cluster, tmp_path, "gateway", LIFECYCLE + "engine:\n  max_num_seqs: 8\n")
    assert gateway.process.wait(120) == 1
    assert "replica.settings.max_num_seqs: 16 → 8" in gateway.log()
    assert "--apply" in gateway.log()


def test_serve_joining_the_cluster_with_another_plan_is_refused_too(cluster, tmp_path):
    """`serve` with a `ray_address` once attached to the running controller and ignored its own plan."""
    serve = Role(cluster, tmp_path, "serve", LIFECYCLE + "engine:\n  max_num_seqs: 8\n")
    assert serve.process.wait(120) == 1
    assert "replica.settings.max_num_seqs: 16 → 8" in serve.log()


def test_apply_rolls_the_new_plan_out_one_replica_at_a_time_while_requests_succeed(cluster, tmp_path):
    before = cluster.status()
    gateway = Role(cluster, tmp_path, "gateway", LIFECYCLE + "engine:\n  max_num_seqs: 8\n", "--apply")
    try:
        gateway.wait_for_line(r"ready in [\d.]+ s", 120)
        failures = []

        def rolled():
            try:
                one_request(cluster.grpc_target)
            except Exception as exc:  # noqa: BLE001 - any failure during the rollout is the finding
                failures.append(exc)
            status = cluster.status()
            return status if (status["plan"] != before["plan"] and len(ready_ids(status)) == 1
                              and ready_ids(status) != ready_ids(before) and len(status["replicas"]) == 1) else None

        after = wait_for(rolled, 240, "the replica to be replaced by one of the new plan", interval_s=1)
        assert failures == []
        assert not after["replicas"][0]["outdated"]
    finally:
        assert gateway.stop() == 0
