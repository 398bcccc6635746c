"""Helpers for driving a local `oss-cluster serve` subprocess (benchmarks and end-to-end tests)."""

import os
import signal
import socket
import subprocess


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
