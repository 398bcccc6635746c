"""Two replicas' cluster, in order: an engine frozen under load is replaced, then a scale-in drains."""

import psutil
import pytest

from tests.e2e.conftest import running_cluster, wait_for
from tests.e2e.control_plane import Role, Streams, completed, one_request, ready_ids, status_when

pytestmark = pytest.mark.e2e

STUCK_AFTER_S = 4.0
HEALTH_PERIOD_S = 0.5
PLAN = f"lifecycle:\n  stuck_after_s: {STUCK_AFTER_S}\n  health_period_s: {HEALTH_PERIOD_S}\n"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with running_cluster(tmp_path_factory.mktemp("lifecycle"), "replicas: 2\n" + PLAN) as c:
        status_when(c, lambda s: len(ready_ids(s)) == 2, 300, "both replicas to be ready")
        yield c


def in_flight_on(cluster, replica_id: str) -> float:
    return cluster.metric("oss_cluster_replica_gateway_in_flight_requests", replica=replica_id)


def test_a_frozen_engine_is_taken_out_of_routing_replaced_and_traffic_goes_on(cluster):
    before = cluster.status()
    victim, other = before["replicas"]
    engine = psutil.Process(victim["pid"]).children(recursive=True)
    assert engine, "the replica's engine runs in processes of its own"
    streams = Streams(cluster, 6, max_tokens=300)
    try:
        wait_for(lambda: in_flight_on(cluster, victim["replica_id"]) > 0, 30, "work on the victim")
        for process in engine:
            process.suspend()  # SIGSTOP: alive to Ray, producing nothing
        out = status_when(cluster, lambda s: victim["replica_id"] not in ready_ids(s),
                          STUCK_AFTER_S + HEALTH_PERIOD_S + 10, "the frozen replica to leave the ready set")
        assert other["replica_id"] in ready_ids(out)
        for _ in range(3):
            assert one_request(cluster.grpc_target)["finish"][0].reason  # served by the other replica
        outcomes = streams.join(180)  # none hangs: cut streams end with an error, the rest complete
        assert sum(completed(o) for o in outcomes) >= 1
        replaced = status_when(cluster, lambda s: len(ready_ids(s)) == 2, 300, "a replacement to be ready")
        slot = next(r for r in replaced["replicas"] if r["slot"] == victim["slot"])
        assert slot["replica_id"] != victim["replica_id"] and slot["restarts"] == 1
    finally:
        for process in engine:
            try:
                process.kill()
            except psutil.Error:
                pass


def test_scale_in_drains_a_replica_without_cutting_its_streams(cluster, tmp_path):
    before = status_when(cluster, lambda s: len(ready_ids(s)) == 2, 60, "two ready replicas")
    streams = Streams(cluster, 8, max_tokens=200)
    wait_for(lambda: all(in_flight_on(cluster, rid) > 0 for rid in ready_ids(before)), 30,
             "streams on both replicas")
    controller = Role(cluster, tmp_path, "controller", "replicas: 1\n" + PLAN, "--apply")
    try:
        controller.wait_for_line("controller running plan", 60)
    finally:
        assert controller.stop() == 0
    outcomes = streams.join(180)
    assert all(completed(o) for o in outcomes), outcomes
    after = status_when(cluster, lambda s: len(s["replicas"]) == 1 and s["desired"] == 1, 60, "one replica left")
    assert ready_ids(after) < ready_ids(before)
    assert one_request(cluster.grpc_target)["finish"][0].reason
