"""`oss-cluster compare A.json B.json`: B's figures as ratios of A's, with each run's noise beside them."""

import json
from pathlib import Path

METRICS = (("requests_per_s", "requests/s", None), ("output_tokens_per_s", "output tokens/s", None),
           ("goodput_requests_per_s", "goodput req/s", None), ("ttft_s", "TTFT p50", "p50"),
           ("ttft_s", "TTFT p99", "p99"), ("inter_token_s", "inter-token p50", "p50"),
           ("e2e_s", "end to end p50", "p50"))


def value(summary: dict, key: str, field: str | None) -> float | None:
    return summary[key][field] if field else summary[key]


def noise(run: dict, key: str, field: str | None) -> float | None:
    """Spread across repeats, (max - min) / median, or None for a single repeat."""
    values = sorted(v for v in (value(s, key, field) for s in run.get("repeats", [])) if v is not None)
    if len(values) < 2 or values[len(values) // 2] == 0:
        return None
    return (values[-1] - values[0]) / values[len(values) // 2]


def compare(a_path: Path, b_path: Path) -> str:
    a, b = json.loads(a_path.read_text()), json.loads(b_path.read_text())
    lines = [f"B = {b_path}, A = {a_path}",
             f"{'metric':<18}{'A':>12}{'B':>12}{'B/A':>8}   noise A, B (spread over repeats)"]
    for key, name, field in METRICS:
        va, vb = value(a["summary"], key, field), value(b["summary"], key, field)
        ratio = f"{vb / va:.2f}" if va and vb is not None else "-"
        spreads = ", ".join("-" if n is None else f"±{n / 2:.0%}" for n in (noise(a, key, field), noise(b, key, field)))
        lines.append(f"{name:<18}{_fmt(va):>12}{_fmt(vb):>12}{ratio:>8}   {spreads}")
    return "\n".join(lines)


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.4g}"
