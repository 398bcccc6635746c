import pytest

from cluster.errors import InvalidRequest
from cluster.gateway.json_input import BODY, nesting, parse_json, unpaired_surrogate_path


@pytest.mark.parametrize("raw, where, message", [
    (b'{"messages": [{"content": "\\ud800"}]}', BODY, "messages.0.content: contains an unpaired UTF-16 surrogate"),
    (b'{"a": {"\\udfff": 1}}', BODY, "a.\\udfff: contains an unpaired"),
    ('{"description": "\\ud800"}', "response_json_schema", "response_json_schema.description: contains an unpaired"),
    (b'"\\udbff"', BODY, "request body: contains an unpaired"),
    (b'{"raw": "\xed\xa0\x80"}', BODY, "raw: contains an unpaired"),  # a surrogate encoded as UTF-8 bytes
    (b"[" * 100_000 + b"]" * 100_000, BODY, "request body: JSON nested too deeply"),
    (b'{"a": "\xff"}', BODY, "request body: not UTF-8 text"),
    (b'{"a": ', BODY, "request body: not valid JSON (Expecting value at position 6)"),
])
def test_what_nothing_downstream_could_handle_is_400(raw, where, message):
    with pytest.raises(InvalidRequest) as err:
        parse_json(raw, where)
    assert str(err.value).startswith(message), str(err.value)


def test_surrogate_pairs_and_ordinary_escapes_pass():
    assert parse_json(b'{"e": "\\ud83d\\ude00", "n": "\\u00e9"}', BODY) == {"e": "😀", "n": "é"}
    assert unpaired_surrogate_path({"a": ["ok", {"b": "fine"}]}) is None


def test_nesting_counts_objects_and_arrays():
    assert [nesting(v) for v in (1, [], {"a": 1}, {"a": [1, {"b": []}]})] == [0, 1, 1, 4]
    assert nesting([[[[[]]]]], stop_at=3) == 3
