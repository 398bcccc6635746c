from loadtest.report import table
from loadtest.stats import RequestResult, Slo, summarize


def test_table_shows_output_lengths_and_finish_reasons():
    results = [RequestResult(0, 0.0, 0.1, (0.02,), 1.0, 64, None, "length"),
               RequestResult(1, 0.0, 0.1, (0.02,), 0.5, 9, None, "stop"),
               RequestResult(2, 0.0, 0.1, (0.02,), 0.6, 20, None, "stop")]
    text = table(summarize(results, wall_s=1.0, slo=Slo()))
    assert "output tokens per request: p50 20, mean 31.0; finish reasons: length 1, stop 2" in text


def test_table_of_answers_without_a_visible_token():
    results = [RequestResult(0, 0.0, None, (), 1.0, 16, None, "invalid_output")]
    lines = table(summarize(results, wall_s=1.0, slo=Slo())).splitlines()
    assert lines[3].split()[4:] == ["-", "-", "-", "-"]  # no time to first token
    assert "finish reasons: invalid_output 1" in lines[-1]
