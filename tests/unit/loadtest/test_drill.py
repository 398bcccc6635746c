"""How a drill classifies what became of each request."""

from loadtest.drill import Outcome, _outcome, summarize


def test_each_ending_is_classified():
    assert _outcome("OK", "FINISH_REASON_LENGTH", 8, 0.1, 1.0, None).kind == "completed"
    cut = _outcome("OK", "FINISH_REASON_ERROR", 3, 0.1, 1.0, None)
    assert (cut.kind, cut.status) == ("cut", "FINISH_REASON_ERROR")
    assert _outcome("UNAVAILABLE", "", 3, 0.1, 1.0, None).kind == "cut"
    assert _outcome("RESOURCE_EXHAUSTED", "", 0, None, 0.01, 2000).kind == "shed"
    assert _outcome("RESOURCE_EXHAUSTED", "", 0, None, 0.01, None).kind == "lost"  # no retry hint: not a shed
    assert _outcome("UNAVAILABLE", "", 0, None, 0.5, None).kind == "lost"


def test_the_report_counts_and_times():
    outcomes = [Outcome("completed", "OK", "FINISH_REASON_LENGTH", 8, 0.1, 1.0),
                Outcome("completed", "OK", "FINISH_REASON_LENGTH", 8, 0.3, 1.0),
                Outcome("shed", "RESOURCE_EXHAUSTED", "", 0, None, 0.004, 1000),
                Outcome("cut", "FINISH_REASON_ERROR", "FINISH_REASON_ERROR", 2, 0.2, 0.5),
                Outcome("lost", "UNAVAILABLE", "", 0, None, 0.5),
                Outcome("hung", "", "", 0, None, 150)]
    report = summarize("mixed", outcomes, retried=3, gateway_rss_mib=100)
    assert (report.sent, report.completed, report.shed, report.hung, report.retried) == (6, 2, 1, 1, 3)
    assert report.cut == {"FINISH_REASON_ERROR": 1} and report.lost_before_first_token == {"UNAVAILABLE": 1}
    assert report.ttft_p50_ms == 200 and report.ttft_max_ms == 300 and report.shed_max_ms == 4
    assert report.extra == {"gateway_rss_mib": 100}
