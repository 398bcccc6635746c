import pytest

from loadtest.stats import RequestResult, Slo, percentile, summarize


def result(i, ttft=0.5, itl=(0.02, 0.04), e2e=1.0, tokens=3, error=None, finish="stop"):
    return RequestResult(i, 0.0, ttft, itl, e2e, tokens, error, finish)


def test_percentile_by_hand():
    values = [1.0, 2.0, 3.0, 4.0]
    assert percentile(values, 50) == 2.5  # halfway between ranks 1 and 2
    assert percentile(values, 90) == pytest.approx(3.7)  # 3 + 0.7 * (4 - 3)
    assert percentile(values, 0) == 1.0 and percentile(values, 100) == 4.0
    assert percentile([], 50) is None


def test_summary_by_hand():
    results = [result(0, ttft=0.2), result(1, ttft=2.0), result(2, itl=(0.1,)), result(3, error="UNAVAILABLE"),
               result(4, ttft=None, itl=(), tokens=0, error="DEADLINE_EXCEEDED")]
    s = summarize(results, wall_s=2.0, slo=Slo(ttft_s=1.0, mean_inter_token_s=0.05))
    assert s["requests"] == 5 and s["succeeded"] == 3
    assert s["error_rate"] == 0.4
    assert s["errors_by_code"] == {"DEADLINE_EXCEEDED": 1, "UNAVAILABLE": 1}
    assert s["requests_per_s"] == 1.5  # 3 successes in 2 s
    assert s["output_tokens_per_s"] == 4.5  # 9 tokens in 2 s
    # Only request 0 meets both SLOs: 1 has a slow first token, 2 a slow mean inter-token latency.
    assert s["goodput_requests_per_s"] == 0.5 and s["slo_attainment"] == 0.2
    assert s["ttft_s"]["p50"] == 0.5 and s["ttft_s"]["count"] == 3
    assert s["inter_token_s"]["count"] == 5  # 2 + 2 + 1 gaps of the successful requests


def test_answers_that_end_on_their_own_count_as_long_as_they_came():
    results = [result(0, tokens=64, finish="length"), result(1, tokens=9), result(2, tokens=20),
               result(3, tokens=0, error="UNAVAILABLE", finish=None)]
    s = summarize(results, wall_s=1.0, slo=Slo())
    assert s["output_tokens_per_s"] == 93  # what was generated, not 3 x max_tokens
    assert s["output_tokens"]["p50"] == 20 and s["output_tokens"]["mean"] == 31
    assert s["finish_reasons"] == {"length": 1, "stop": 2}  # of the successful requests


def test_empty_run():
    s = summarize([], wall_s=0.0, slo=Slo())
    assert s["requests"] == 0 and s["error_rate"] == 0.0 and s["ttft_s"]["p50"] is None
