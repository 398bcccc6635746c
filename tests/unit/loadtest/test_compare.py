import json

from loadtest.compare import compare
from loadtest.stats import RequestResult, Slo, summarize


def run_file(path, scale: float, repeats: list[float]):
    def summary(factor):
        results = [RequestResult(i, 0, 0.1 * factor, (0.02,), 1.0 * factor, 10) for i in range(4)]
        return summarize(results, wall_s=2.0 * factor, slo=Slo())

    path.write_text(json.dumps({"summary": summary(scale), "repeats": [summary(f) for f in repeats]}))
    return path


def test_ratios_and_noise_by_hand(tmp_path):
    a = run_file(tmp_path / "a.json", 1.0, [0.9, 1.0, 1.1])
    b = run_file(tmp_path / "b.json", 2.0, [2.0])
    text = compare(a, b)
    rows = {line[:18].strip(): line for line in text.splitlines()[2:]}
    assert rows["requests/s"].split()[3] == "0.50"  # B takes twice as long for the same work
    assert rows["TTFT p50"].split()[4] == "2.00"
    # A's requests/s over repeats: 4/1.8, 4/2.0, 4/2.2 -> spread (2.222-1.818)/2.0 = 20%, shown as ±10%
    assert "±10%, -" in rows["requests/s"]
