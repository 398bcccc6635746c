"""Helpers for driving a local `oss-cluster serve` subprocess (benchmarks and end-to-end tests)."""

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_serve(process: subprocess.Popen, grace_s: float) -> None:
    """SIGTERM, as Kubernetes would, up to `grace_s` to drain; then SIGKILL whatever is left of the
    process group (start it with `start_new_session=True`)."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(grace_s)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()


@dataclass(frozen=True)
class LocalServe:
    """A running `oss-cluster serve` on loopback and where to reach it."""

    grpc_target: str
    http_url: str
    metrics_url: str
    process: subprocess.Popen
    log_path: Path
    cache: Path | None = None  # OSS_CLUSTER_CACHE of the serve process; None: the default cache

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def metrics(self) -> dict[tuple, float]:
        """Every sample of the gateway's /metrics as {(name, sorted labels): value}."""
        text = urllib.request.urlopen(self.metrics_url, timeout=10).read().decode()
        return {(s.name, tuple(sorted(s.labels.items()))): s.value
                for family in text_string_to_metric_families(text) for s in family.samples}


@contextmanager
def serving(work: Path, gateway_yaml: str = "", extra_yaml: str = "", cache: Path | None = None,
            start_timeout_s: float = 300, ready_line: str = r"ready in [\d.]+ s"):
    """`oss-cluster serve` on free loopback ports with `gateway_yaml` lines under `gateway:` and
    `extra_yaml` after them; yields a `LocalServe` once it prints `ready_line` (a regex; by default
    that it is ready), stops it after."""
    grpc_port, http_port, metrics_port = free_port(), free_port(), free_port()
    config = work / "cluster.yaml"
    config.write_text(f"gateway:\n  grpc_port: {grpc_port}\n  http_port: {http_port}\n  metrics_port: {metrics_port}\n"
                      + gateway_yaml + extra_yaml)
    env = dict(os.environ)
    if cache is not None:
        env["OSS_CLUSTER_CACHE"] = str(cache)
    log_path = work / "serve.log"
    with log_path.open("w") as log:
        process = subprocess.Popen([sys.executable, "-m", "cluster.cli", "serve", "--config", str(config)],
                                   stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    local = LocalServe(f"127.0.0.1:{grpc_port}", f"http://127.0.0.1:{http_port}",
                       f"http://127.0.0.1:{metrics_port}/metrics", process, log_path, cache)
    try:
        deadline = time.monotonic() + start_timeout_s
        while not re.search(ready_line, local.log()):
            if process.poll() is not None:
                raise RuntimeError(f"oss-cluster serve exited with {process.returncode}:\n{local.log()[-4000:]}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"oss-cluster serve not ready in {start_timeout_s:.0f} s; see {log_path}")
            time.sleep(0.2)
        yield local
    finally:
        stop_serve(process, grace_s=120)
