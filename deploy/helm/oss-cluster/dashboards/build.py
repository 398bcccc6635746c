"""Builds the chart's Grafana dashboard, oss-cluster.json beside this file, with Grafana's own
foundation SDK: `python deploy/helm/oss-cluster/dashboards/build.py`. tests/chart checks that the
committed JSON is what this writes, and that every query returns series from a real Prometheus."""

import sys
from pathlib import Path

from grafana_foundation_sdk.builders.dashboard import Dashboard, DatasourceVariable, Row
from grafana_foundation_sdk.builders.prometheus import Dataquery
from grafana_foundation_sdk.builders.timeseries import Panel as TimeSeries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import DataSourceRef

OUT = Path(__file__).with_name("oss-cluster.json")
DATASOURCE = DataSourceRef(type_val="prometheus", uid="${datasource}")
RATE = "[5m]"


def quantiles(histogram: str) -> list[tuple[str, str]]:
    return [(f"histogram_quantile({q}, sum by (le) (rate({histogram}_bucket{RATE})))", f"p{int(q * 100)}")
            for q in (0.5, 0.9, 0.99)]


# (title, unit, [(PromQL, legend)]): every query uses metrics the gateway and the controller export.
PANELS = {
    "Latency": [
        ("Time to first token", "s", quantiles("oss_cluster_time_to_first_token_seconds")),
        ("Inter-token latency", "s", quantiles("oss_cluster_inter_token_latency_seconds")),
    ],
    "Throughput": [
        ("Output tokens per second", "short", [
            (f"sum by (method) (rate(oss_cluster_completion_tokens_total{RATE}))", "{{method}}")]),
        ("Requests per second, by status", "reqps", [
            (f"sum by (code) (rate(oss_cluster_requests_total{RATE}))", "{{code}}")]),
    ],
    "Tenants": [
        ("Requests per second by tenant and status", "reqps", [
            (f"sum by (tenant, code) (rate(oss_cluster_requests_total{RATE}))", "{{tenant}} {{code}}")]),
        ("Tokens per second by tenant", "short", [
            (f"sum by (tenant) (rate(oss_cluster_prompt_tokens_total{RATE}))", "prompt {{tenant}}"),
            (f"sum by (tenant) (rate(oss_cluster_completion_tokens_total{RATE}))", "completion {{tenant}}")]),
        ("Time to first token p90 by tenant", "s", [
            (f"histogram_quantile(0.9, sum by (le, tenant) (rate(oss_cluster_time_to_first_token_seconds_bucket"
             f"{RATE})))", "{{tenant}}")]),
        ("Refused per second by tenant and reason", "reqps", [
            (f"sum by (tenant, reason) (rate(oss_cluster_shed_requests_total{RATE}))", "{{tenant}} {{reason}}")]),
    ],
    "Capacity": [
        ("Admission queue depth", "short", [
            ("sum by (priority_class) (oss_cluster_admission_queue_depth)", "{{priority_class}}"),
            (f"sum by (reason) (rate(oss_cluster_shed_requests_total{RATE}))", "shed/s {{reason}}")]),
        ("KV cache usage by replica", "percentunit", [
            ("max by (replica) (oss_cluster_replica_kv_cache_usage_ratio)", "{{replica}}")]),
        ("Replicas: desired and by state", "short", [
            ("max(oss_cluster_replicas_desired)", "desired"),
            ("sum by (state) (oss_cluster_replicas)", "{{state}}")]),
        ("Engine queue by replica", "short", [
            ("max by (replica) (oss_cluster_replica_running_requests)", "running {{replica}}"),
            ("max by (replica) (oss_cluster_replica_waiting_requests)", "waiting {{replica}}")]),
    ],
}


def dashboard():
    board = (Dashboard("oss-cluster").uid("oss-cluster").tags(["oss-cluster", "gpt-oss", "vllm"])
             .refresh("30s").time("now-1h", "now")
             .with_variable(DatasourceVariable("datasource").label("Prometheus").type("prometheus")))
    for row, panels in PANELS.items():
        board = board.with_row(Row(row))
        for title, unit, queries in panels:
            panel = TimeSeries().title(title).datasource(DATASOURCE).unit(unit).height(8).span(12)
            for i, (expr, legend) in enumerate(queries):
                panel = panel.with_target(Dataquery().expr(expr).legend_format(legend).ref_id(chr(ord("A") + i)))
            board = board.with_panel(panel)
    return board.build()


def render() -> str:
    return JSONEncoder(sort_keys=True, indent=2).encode(dashboard()) + "\n"


if __name__ == "__main__":
    OUT.write_text(render())
    print(f"wrote {OUT}", file=sys.stderr)
