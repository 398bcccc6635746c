import argparse

from loadtest.arguments import add_arguments


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(["--duration", "1", "--out", "out", *argv])


def test_chat_is_the_default_endpoint_and_completions_the_raw_one():
    assert parse().endpoint == "chat"
    assert parse("--endpoint", "completions").endpoint == "completions"
