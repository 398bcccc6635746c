"""`oss-cluster bench` against the real stack: a short run over each API and endpoint, and a clean Ctrl-C."""

import json
import signal
import subprocess
import sys
import time

import pytest

from tests.e2e.conftest import wait_for

pytestmark = pytest.mark.e2e


def bench(cluster, out, *extra) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "cluster.cli", "bench", "--out", str(out), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.mark.parametrize("endpoint", ["chat", "completions"])
@pytest.mark.parametrize("api", ["grpc", "http"])
def test_short_run_writes_sane_results(cluster, tmp_path, api, endpoint):
    target = cluster.grpc_target if api == "grpc" else cluster.http_url
    chosen = ["--endpoint", endpoint] if endpoint != "chat" else []  # chat is the default
    proc = bench(cluster, tmp_path, "--api", api, "--target", target, *chosen, "--duration", "6",
                 "--max-requests", "8", "--concurrency", "2", "--prompt-tokens", "uniform:16:48",
                 "--output-tokens", "fixed:12", "--seed", "3")
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, output
    results = json.loads((tmp_path / "results.json").read_text())
    s = results["summary"]
    assert 1 <= s["requests"] <= 8 and s["error_rate"] == 0.0, s
    assert s["output_tokens_per_s"] > 0
    assert all(1 <= r["output_tokens"] <= 12 and r["finish_reason"] for r in results["requests"])
    for r in results["requests"]:
        assert r["ttft_s"] is None or 0 < r["ttft_s"] <= r["e2e_s"], r
    if endpoint == "completions":
        assert 0 < s["ttft_s"]["p50"] <= s["e2e_s"]["p50"]
    else:  # the first visible delta; a model that writes no valid Harmony shows none, an answer that ends does
        assert all(r["ttft_s"] is not None for r in results["requests"] if r["finish_reason"] == "stop")
    assert results["config"]["seed"] == 3 and results["config"]["target"] == target
    assert results["config"]["endpoint"] == endpoint
    assert "oss-cluster" in results["versions"] and results["interrupted"] is False
    png = (tmp_path / "report.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000
    assert "time to first token" in output


def test_ctrl_c_stops_cleanly_and_keeps_what_was_measured(cluster, tmp_path):
    proc = bench(cluster, tmp_path, "--target", cluster.grpc_target, "--duration", "60", "--max-requests", "200",
                 "--concurrency", "1", "--output-tokens", "fixed:16")
    wait_for(lambda: cluster.metric("oss_cluster_requests_total", method="Chat", code="OK") > 0, 30,
             "the first request")  # requests are flowing (on Chat, the default endpoint)
    time.sleep(2)
    proc.send_signal(signal.SIGINT)
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, output
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["interrupted"] is True and results["summary"]["requests"] >= 1
    assert (tmp_path / "report.png").exists()


def test_repeats_sweep_and_compare(cluster, tmp_path):
    common = ["--target", cluster.grpc_target, "--max-requests", "4", "--output-tokens", "fixed:8",
              "--prompt-tokens", "fixed:16"]
    proc = bench(cluster, tmp_path / "repeats", "--duration", "4", "--repeats", "2", *common)
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, output
    repeats = json.loads((tmp_path / "repeats" / "results.json").read_text())
    assert len(repeats["repeats"]) == 2 and repeats["summary"]["requests"] == sum(
        r["requests"] for r in repeats["repeats"])
    proc = bench(cluster, tmp_path / "sweep", "--duration", "3", "--sweep-rates", "1,2", *common)
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, output
    sweep = json.loads((tmp_path / "sweep" / "results.json").read_text())["sweep"]
    assert [p["rate"] for p in sweep] in ([1.0], [1.0, 2.0])  # it stops early once the SLO breaks
    compared = subprocess.run([sys.executable, "-m", "cluster.cli", "compare", str(tmp_path / "repeats/results.json"),
                               str(tmp_path / "repeats/results.json")], capture_output=True, text=True, timeout=60)
    assert compared.returncode == 0 and "1.00" in compared.stdout and "±" in compared.stdout
