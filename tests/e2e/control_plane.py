"""What the control-plane tests share: streams run in the background, other roles started beside a cluster."""

import json
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from cluster._proto.cluster.v1 import inference_pb2 as pb
from cluster._proto.cluster.v1 import inference_pb2_grpc as pb_grpc
from loadtest.local_cluster import free_port, stop_serve
from tests.e2e.conftest import Cluster, events_of, wait_for


@dataclass
class Streams:
    """`count` Generate streams of `max_tokens` tokens each, run in threads; `join` gives each one's outcome:
    its events, or the RpcError that ended it."""

    cluster: Cluster
    count: int
    max_tokens: int
    outcomes: list = field(default_factory=list)

    def __post_init__(self):
        self._threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(self.count)]
        for thread in self._threads:
            thread.start()

    def _run(self, i: int) -> None:
        request = pb.GenerateRequest(text=f"stream {i} of the drill", sampling=pb.Sampling(
            max_tokens=self.max_tokens, seed=i))
        try:
            self.outcomes.append(events_of(self.cluster.stub().Generate(request, timeout=180)))
        except grpc.RpcError as exc:
            self.outcomes.append(exc)

    def join(self, timeout_s: float) -> list:
        deadline = time.monotonic() + timeout_s
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        assert not any(t.is_alive() for t in self._threads), "a stream hung"
        return self.outcomes


def completed(outcome) -> bool:
    """The stream ended as streams do, at its token limit or a stop token, not cut by a failure."""
    return isinstance(outcome, dict) and outcome["finish"][0].reason in (pb.FINISH_REASON_LENGTH,
                                                                         pb.FINISH_REASON_STOP)


def one_request(target: str, max_tokens: int = 4, timeout_s: float = 60) -> dict:
    """A Generate through the gateway at `target`; raises RpcError if it fails."""
    request = pb.GenerateRequest(text="are you there", sampling=pb.Sampling(max_tokens=max_tokens))
    with grpc.insecure_channel(target) as channel:
        return events_of(pb_grpc.InferenceStub(channel).Generate(request, timeout=timeout_s))


def ray_address(cluster: Cluster) -> str:
    return json.loads((cluster.cache / "serve.json").read_text())["ray_address"]


def status_when(cluster: Cluster, predicate, timeout_s: float, what: str) -> dict:
    """The first status (of a reachable controller) that satisfies `predicate`. A status command that does
    not answer within its own deadline is asked again: on 2 busy cores, starting a Ray driver can take
    most of a minute while an engine loads."""

    def check():
        try:
            status = cluster.status()
        except (AssertionError, subprocess.TimeoutExpired):  # the controller is restarting, or slow to reach
            return None
        return status if predicate(status) else None

    return wait_for(check, timeout_s, what, interval_s=1.0)


def ready_ids(status: dict) -> set[str]:
    return {r["replica_id"] for r in status["replicas"] if r["state"] == "ready"}


class Role:
    """`oss-cluster controller|gateway` beside a running cluster, with a config written from `yaml`."""

    def __init__(self, cluster: Cluster, work: Path, role: str, yaml: str, *flags: str):
        self.grpc_port = free_port()
        config = work / f"{role}-{self.grpc_port}.yaml"
        config.write_text(f"ray_address: \"{ray_address(cluster)}\"\ngateway:\n  grpc_port: {self.grpc_port}\n"
                          f"  http_port: {free_port()}\n  metrics_port: {free_port()}\ncontroller:\n"
                          f"  metrics_port: {free_port()}\n" + cluster.model_yaml + yaml)
        self.log_path = work / f"{role}-{self.grpc_port}.log"
        with self.log_path.open("w") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "cluster.cli", role, "--config", str(config),
                                             *flags], stdout=log, stderr=subprocess.STDOUT, env=cluster.env(),
                                            start_new_session=True)

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_line(self, pattern: str, timeout_s: float) -> None:
        def printed():
            assert self.process.poll() is None or re.search(pattern, self.log()), self.log()[-3000:]
            return re.search(pattern, self.log())

        wait_for(printed, timeout_s, f"{pattern!r} in the log")

    def stop(self) -> int:
        stop_serve(self.process, grace_s=60)
        return self.process.returncode
