"""The real stack for end-to-end tests: `oss-cluster serve` in a subprocess (Ray, controller, vLLM replica)."""

import json
import os
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from cluster._proto.cluster.v1 import inference_pb2_grpc as pb_grpc
from loadtest.local_cluster import LocalServe, serving

START_TIMEOUT_S = 300


@dataclass(frozen=True)
class Cluster(LocalServe):
    """The running stack, with what tests ask of it."""

    model_yaml: str = ""  # the `model:` section its plan has; other roles joining it need the same

    def stub(self) -> pb_grpc.InferenceStub:
        return pb_grpc.InferenceStub(grpc.insecure_channel(self.grpc_target))

    def openai(self, **kwargs):
        from openai import OpenAI

        return OpenAI(base_url=f"{self.http_url}/v1", api_key="unused", max_retries=0, **kwargs)

    def health(self, service: str = "") -> int:
        with grpc.insecure_channel(self.grpc_target) as channel:
            return health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=service), timeout=5).status

    def metric(self, name: str, **labels) -> float:
        """The sum of the metric's series that carry `labels` (and any others)."""
        return metric_sum(self.metrics(), name, **labels)

    def total(self, name: str) -> float:
        """The sum of a metric over all its label values."""
        return sum(v for (n, _), v in self.metrics().items() if n == name)

    def label_values(self, name: str, label: str) -> set[str]:
        return {dict(labels)[label] for (n, labels) in self.metrics() if n == name}

    def env(self) -> dict[str, str]:
        """The environment of the serve process, for other `oss-cluster` commands on its cluster."""
        return dict(os.environ, **({"OSS_CLUSTER_CACHE": str(self.cache)} if self.cache else {}))

    def status(self) -> dict:
        """`oss-cluster status --json`: the controller's view."""
        done = subprocess.run([sys.executable, "-m", "cluster.cli", "status", "--json"], env=self.env(),
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr[-2000:]
        return json.loads(done.stdout)


def events_of(stream) -> dict[str, list]:
    """A gRPC stream's events by kind: {"tokens": [...], "usage": [...], "finish": [...]}."""
    by_kind: dict[str, list] = {}
    for event in stream:
        kind = event.WhichOneof("event")
        by_kind.setdefault(kind, []).append(getattr(event, kind))
    return by_kind


def metric_sum(samples: dict[tuple, float], name: str, **labels) -> float:
    """In a scrape from `LocalServe.metrics()`, the sum of `name`'s series that carry `labels` (and any others)."""
    wanted = set(labels.items())
    return sum(v for (n, series), v in samples.items() if n == name and wanted <= set(series))


def wait_for(predicate, timeout_s: float, what: str, interval_s: float = 0.2):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def model_cache(work: Path) -> Path:
    """Where the tests' clusters keep the tiny model: one cache for the whole run."""
    return Path(os.environ.get("OSS_CLUSTER_CACHE", str(work.parent / "cache")))


@contextmanager
def running_cluster(work: Path, extra_yaml: str = "", model: str = "random", gateway_yaml: str = ""):
    """`oss-cluster serve` with free ports and the test settings plus `extra_yaml`, until the block ends.

    `model` is the tiny model's variant. Most tests take the random one: it never ends its turn, so
    its streams run until max_tokens, which drains, deadlines, cancellations and drills need. With
    it, a small reasoning budget under constraints keeps tool calls and JSON answers within reach.
    The trained one (`oss-cluster serve`'s default) answers in a few dozen tokens and is served as
    configured by default. `gateway_yaml`: more lines under `gateway:`, indented by two spaces.
    """
    gateway = "  shutdown_grace_s: 10\n  default_max_tokens: 16\n  http_header_timeout_s: 3\n  http_body_timeout_s: 3\n"
    gateway += gateway_yaml
    model_yaml = ""
    if model == "random":
        gateway += "  constrained_reasoning_max_tokens: 16\n"
        model_yaml = "model:\n  tiny_variant: random\n"
    with serving(work, gateway, model_yaml + extra_yaml, model_cache(work), START_TIMEOUT_S) as local:
        yield Cluster(**{f.name: getattr(local, f.name) for f in fields(local)}, model_yaml=model_yaml)


@pytest.fixture(scope="session")
def cluster(tmp_path_factory) -> Cluster:
    with running_cluster(tmp_path_factory.mktemp("cluster")) as c:
        yield c
