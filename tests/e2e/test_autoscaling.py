"""Autoscaling on 2 cores: sustained load on one replica starts a second that takes traffic; when the
load stops the cluster goes back to one after the scale-down cool-down."""

import threading

import grpc
import pytest

from tests.e2e.conftest import running_cluster
from tests.e2e.control_plane import one_request, ready_ids, status_when

pytestmark = pytest.mark.e2e

SCALE_DOWN_COOLDOWN_S = 10
AUTOSCALING = f"""autoscaling:
  policy: queue-depth
  min_replicas: 1
  max_replicas: 2
  period_s: 1
  window_s: 4
  scale_up_cooldown_s: 0
  scale_down_cooldown_s: {SCALE_DOWN_COOLDOWN_S}
  params:
    target: 2
lifecycle:
  health_period_s: 0.5
"""


class SustainedLoad:
    """`streams` clients, each sending one request after another until stopped."""

    def __init__(self, target: str, streams: int):
        self.stop = threading.Event()
        self.sent = self.failed = 0
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._client, args=(target,), daemon=True) for _ in range(streams)]
        for thread in self._threads:
            thread.start()

    def _client(self, target: str) -> None:
        while not self.stop.is_set():
            try:
                one_request(target, max_tokens=48)  # long enough that the engine's running count shows the load
                failed = 0
            except grpc.RpcError:
                failed = 1
            with self._lock:
                self.sent += 1
                self.failed += failed

    def finish(self) -> None:
        self.stop.set()
        for thread in self._threads:
            thread.join(120)


def test_load_starts_a_second_replica_that_takes_traffic_and_its_end_scales_back(tmp_path):
    with running_cluster(tmp_path, AUTOSCALING) as cluster:
        first = ready_ids(status_when(cluster, lambda s: len(ready_ids(s)) == 1, 60, "the first replica"))
        load = SustainedLoad(cluster.grpc_target, streams=6)
        try:
            scaled = status_when(cluster, lambda s: len(ready_ids(s)) == 2, 300, "a second replica to be ready")
            assert scaled["desired"] == 2 and "queue-depth" in scaled["decision"]
            (second,) = ready_ids(scaled) - first
            status_when(cluster, lambda s: cluster.metric("oss_cluster_routed_requests_total", replica=second) > 0,
                        30, "the second replica to take traffic")
        finally:
            load.finish()
        back = status_when(cluster, lambda s: s["desired"] == 1 and len(s["replicas"]) == 1,
                           SCALE_DOWN_COOLDOWN_S + 60, "the cluster to scale back to one replica")
        assert len(ready_ids(back)) == 1
        assert load.failed == 0 and load.sent > 0
        assert cluster.metric("oss_cluster_replicas_desired") == 1


def test_from_zero_the_first_request_starts_a_replica_and_waits_for_it_then_idle_scales_to_zero(tmp_path):
    from_zero = AUTOSCALING.replace("min_replicas: 1", "min_replicas: 0") + \
        "replicas: 0\nadmission:\n  max_queue_wait_s: 240\n"
    with running_cluster(tmp_path, from_zero) as cluster:
        assert cluster.status()["replicas"] == []
        assert cluster.health() == 1  # SERVING: a request will start a replica
        events = one_request(cluster.grpc_target, max_tokens=8, timeout_s=240)  # held while the replica starts
        assert events["usage"][0].completion_tokens > 0
        assert cluster.metric("oss_cluster_admission_wait_seconds_count", priority_class="interactive") >= 1
        status_when(cluster, lambda s: s["desired"] == 0 and s["replicas"] == [], SCALE_DOWN_COOLDOWN_S + 60,
                    "the idle cluster to scale to zero")
