"""Fault drills on two replicas of the real stack: overload, a slow reader, a replica killed under load.

Each drill prints its report and writes it as JSON (to $OSS_CLUSTER_DRILL_DIR, else the test's
folder): requests sent, completed, retried, shed, cut (by status), lost before their first token
and hung. Hung and lost must be 0; timings are reported, not asserted (docs/drills.md quotes them).
"""

import os
import socket
import time
from pathlib import Path

import psutil
import pytest

from loadtest.drill import Drill
from tests.e2e.conftest import running_cluster, wait_for

pytestmark = pytest.mark.e2e

PER_REPLICA, QUEUE = 2, 4
CAPACITY = PER_REPLICA * 2 + QUEUE  # running on two replicas, plus waiting
PLAN = (f"replicas: 2\nadmission:\n  max_in_flight_per_replica: {PER_REPLICA}\n  max_queue: {QUEUE}\n"
        "  max_queue_wait_s: 60\nlifecycle:\n  health_period_s: 0.5\n")


@pytest.fixture(scope="module")
def drills(tmp_path_factory):
    work = tmp_path_factory.mktemp("drills")
    with running_cluster(work, PLAN) as cluster:
        wait_for(lambda: cluster.metric("oss_cluster_replicas_ready") == 2, 240, "both replicas to be ready",
                 interval_s=1)
        yield cluster, Path(os.environ.get("OSS_CLUSTER_DRILL_DIR", work / "drills"))


def serve_rss_mib(cluster) -> float:
    """Resident memory of the serve process (gateway and controller; replicas run in their own)."""
    return psutil.Process(cluster.process.pid).memory_info().rss / 2**20


def retries(cluster) -> int:
    return int(cluster.total("oss_cluster_routing_retries_total"))


def test_three_times_the_admission_capacity_is_shed_fast_with_a_retry_hint(drills):
    cluster, out = drills
    rss_before = serve_rss_mib(cluster)
    drill = Drill(cluster.grpc_target, 3 * CAPACITY, max_tokens=48).start()
    outcomes = drill.join()
    report = drill.report("overload-3x", rss_growth_mib=round(serve_rss_mib(cluster) - rss_before, 1))
    report.print()
    report.write(out)
    assert report.hung == 0 and not report.lost_before_first_token and not report.cut
    assert report.completed >= CAPACITY and report.shed >= CAPACITY  # what fits runs, the rest is refused
    assert all(o.retry_after_ms >= 1000 for o in outcomes if o.kind == "shed")
    assert report.completed + report.shed == report.sent


def test_a_reader_that_stops_reading_stalls_no_other_stream(drills):
    cluster, out = drills
    host, port = cluster.http_url.removeprefix("http://").split(":")
    slow = socket.socket()
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # its window fills after a few frames
    slow.connect((host, int(port)))
    body = b'{"prompt": "never read", "max_tokens": 1500, "stream": true, "ignore_eos": true}'
    slow.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
    try:
        wait_for(lambda: cluster.metric("oss_cluster_in_flight_requests", method="completions") == 1, 30,
                 "the slow stream to start")
        rss_before = serve_rss_mib(cluster)
        drill = Drill(cluster.grpc_target, 6, max_tokens=32, spacing_s=0.2).start()
        report = drill.report("slow-reader", rss_growth_mib=round(serve_rss_mib(cluster) - rss_before, 1))
        report.print()
        report.write(out)
        assert report.hung == 0 and report.completed == report.sent == 6
    finally:
        slow.close()
    wait_for(lambda: cluster.metric("oss_cluster_in_flight_requests", method="completions") == 0, 60,
             "the slow stream to end once its reader left")


def test_a_replica_killed_under_load_loses_nothing_before_the_first_token(drills):
    """Runs last: it takes one of the two replicas down."""
    cluster, out = drills
    retried_before = retries(cluster)
    drill = Drill(cluster.grpc_target, 16, max_tokens=96, spacing_s=0.25, deadline_s=240).start()
    for _ in range(4):
        assert drill.first_tokens.acquire(timeout=120), "no stream got its first token"
    serve = psutil.Process(cluster.process.pid)
    replicas = [p for p in serve.children(recursive=True) if "ReplicaActor" in " ".join(p.cmdline())]
    assert len(replicas) == 2
    killed_at = time.monotonic()
    replicas[0].kill()
    report = drill.report("kill-replica", retried=retries(cluster) - retried_before)
    report.extra["killed_after_s"] = round(killed_at - drill._began, 1)
    report.print()
    report.write(out)
    assert report.hung == 0 and not report.lost_before_first_token, report
    assert set(report.cut) <= {"FINISH_REASON_ERROR"}  # streams cut mid-way end inside the stream, saying so
    assert report.completed + report.shed + sum(report.cut.values()) == report.sent
