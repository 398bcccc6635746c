"""A real Prometheus scrapes the embedded stack with the chart's rules loaded: every query of the chart's
dashboard returns series, every metric its alerts and rules name exists, and the recording rules record."""

import json
import re
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

from cluster._proto.cluster.v1 import inference_pb2 as pb
from loadtest.local_cluster import free_port
from tests.chart.chart import CHART, OPERATOR_APIS, one, render
from tests.e2e.conftest import events_of, wait_for

pytestmark = pytest.mark.e2e

METRIC = re.compile(r"\b(oss_cluster_[a-z_]+)\b")


class Prometheus:
    def __init__(self, work: Path, target: str, rules: Path):
        binary = shutil.which("prometheus")
        assert binary, "prometheus is missing: scripts/setup.sh installs Debian's prometheus package"
        config = {"global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                  "rule_files": [str(rules)],
                  "scrape_configs": [{"job_name": "oss-cluster", "static_configs": [{"targets": [target]}]}]}
        (work / "prometheus.yml").write_text(yaml.safe_dump(config))
        self.url = f"http://127.0.0.1:{free_port()}"
        self.log = (work / "prometheus.log").open("w")
        self.process = subprocess.Popen(
            [binary, f"--config.file={work / 'prometheus.yml'}", f"--storage.tsdb.path={work / 'data'}",
             f"--web.listen-address={urlparse(self.url).netloc}", "--log.level=warn"],
            stdout=self.log, stderr=subprocess.STDOUT)

    def query(self, expr: str) -> list:
        url = f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        with urllib.request.urlopen(url, timeout=10) as reply:
            body = json.loads(reply.read())
        assert body["status"] == "success", (expr, body)
        return body["data"]["result"]

    def up(self) -> bool:
        try:
            return any(r["value"][1] == "1" for r in self.query('up{job="oss-cluster"}'))
        except OSError:
            return False

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


@pytest.fixture(scope="module")
def prometheus(cluster, tmp_path_factory):
    work = tmp_path_factory.mktemp("prometheus")
    rules = work / "rules.yaml"
    rules.write_text(yaml.safe_dump(one(render(*OPERATOR_APIS), "PrometheusRule", "oss-cluster")["spec"]))
    # Traffic first, over both APIs, so that the latency histograms and token counters have samples.
    for i in range(2):
        request = pb.GenerateRequest(text=f"scrape me {i}", sampling=pb.Sampling(max_tokens=8))
        events_of(cluster.stub().Generate(request, timeout=120))
    cluster.openai(timeout=120).chat.completions.create(
        model="tiny-gpt-oss", max_tokens=8, messages=[{"role": "user", "content": "hello"}])
    server = Prometheus(work, urlparse(cluster.metrics_url).netloc, rules)
    try:
        wait_for(server.up, 60, "Prometheus to scrape the gateway")
        time.sleep(5)  # a few scrapes, so that rates over them exist
        yield server
    finally:
        server.stop()


def dashboard_queries() -> list[str]:
    board = json.loads((CHART / "dashboards" / "oss-cluster.json").read_text())
    return [t["expr"] for p in board["panels"] for t in p.get("targets", [])]


def rule_expressions() -> list[str]:
    spec = one(render(*OPERATOR_APIS), "PrometheusRule", "oss-cluster")["spec"]
    return [r["expr"] for g in spec["groups"] for r in g["rules"]]


def test_every_dashboard_query_returns_series(prometheus):
    queries = dashboard_queries()
    assert len(queries) >= 10
    empty = [q for q in queries if not prometheus.query(q)]
    assert not empty, f"queries with no series: {empty}"


def test_every_metric_the_rules_and_dashboard_name_is_exported(prometheus):
    exported = {r["metric"]["__name__"] for r in prometheus.query('{__name__=~"oss_cluster_.+"}')}
    named = {m for expr in rule_expressions() + dashboard_queries() for m in METRIC.findall(expr)}
    assert named and not named - exported, f"named but not exported: {sorted(named - exported)}"
    for expr in rule_expressions():
        prometheus.query(expr)  # valid PromQL against the real server, whatever it returns now


def test_the_recording_rules_record(prometheus):
    wait_for(lambda: prometheus.query("oss_cluster:ttft_slow_ratio:rate5m"), 30, "the TTFT recording rule")
