from cluster.gateway.stop_strings import StopMatcher


def run(stops, deltas):
    matcher = StopMatcher(stops)
    out = [matcher.feed(d) for d in deltas]
    return "".join(out) + matcher.flush(), matcher.stopped


def test_no_stop_strings_pass_everything_through():
    assert run((), ["ab", "cd"]) == ("abcd", False)


def test_stop_string_inside_one_delta():
    assert run(("STOP",), ["hello STOP world"]) == ("hello ", True)


def test_stop_string_split_across_deltas_is_never_sent():
    matcher = StopMatcher(("</end>",))
    sent = [matcher.feed(d) for d in ["answer </", "en", "d> trailing"]]
    assert "".join(sent) == "answer "
    assert matcher.stopped and "<" not in "".join(sent)


def test_earliest_of_several_stop_strings_wins():
    assert run(("zz", "b"), ["a", "bzz"]) == ("a", True)


def test_held_back_tail_is_sent_at_the_end():
    assert run(("STOP",), ["ends with ST"]) == ("ends with ST", False)
