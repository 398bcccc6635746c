"""The real stack for end-to-end tests: `oss-cluster serve` in a subprocess (Ray, controller, vLLM replica)."""

import os
import subprocess
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client.parser import text_string_to_metric_families

from cluster._proto.cluster.v1 import inference_pb2_grpc as pb_grpc
from loadtest.local_cluster import serving

START_TIMEOUT_S = 300


@dataclass
class Cluster:
    target: str
    http_url: str
    metrics_url: str
    process: subprocess.Popen
    log_path: Path

    def stub(self) -> pb_grpc.InferenceStub:
        return pb_grpc.InferenceStub(grpc.insecure_channel(self.target))

    def openai(self, **kwargs):
        from openai import OpenAI

        return OpenAI(base_url=f"{self.http_url}/v1", api_key="unused", max_retries=0, **kwargs)

    def health(self, service: str = "") -> int:
        with grpc.insecure_channel(self.target) as channel:
            return health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=service), timeout=5).status

    def metrics(self) -> dict[tuple, float]:
        """Every sample as {(name, sorted labels): value}."""
        text = urllib.request.urlopen(self.metrics_url, timeout=5).read().decode()
        return {(s.name, tuple(sorted(s.labels.items()))): s.value
                for family in text_string_to_metric_families(text) for s in family.samples}

    def metric(self, name: str, **labels) -> float:
        return self.metrics().get((name, tuple(sorted(labels.items()))), 0.0)

    def total(self, name: str) -> float:
        """The sum of a metric over all its label values."""
        return sum(v for (n, _), v in self.metrics().items() if n == name)

    def label_values(self, name: str, label: str) -> set[str]:
        return {dict(labels)[label] for (n, labels) in self.metrics() if n == name}

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def wait_for(predicate, timeout_s: float, what: str, interval_s: float = 0.2):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


@contextmanager
def running_cluster(work: Path, extra_yaml: str = ""):
    """`oss-cluster serve` with free ports and the test settings plus `extra_yaml`, until the block ends."""
    # A small reasoning budget under constraints: the random-weight model would otherwise ramble on the
    # analysis channel until max_tokens before the constrained tool call or JSON answer.
    gateway = ("  shutdown_grace_s: 10\n  constrained_reasoning_max_tokens: 16\n  default_max_tokens: 16\n"
               "  http_header_timeout_s: 3\n  http_body_timeout_s: 3\n")
    cache = Path(os.environ.get("OSS_CLUSTER_CACHE", str(work.parent / "cache")))
    with serving(work, gateway, extra_yaml, cache, START_TIMEOUT_S) as local:
        yield Cluster(local.grpc_target, local.http_url, local.metrics_url, local.process, local.log_path)


@pytest.fixture(scope="session")
def cluster(tmp_path_factory) -> Cluster:
    with running_cluster(tmp_path_factory.mktemp("cluster")) as c:
        yield c
