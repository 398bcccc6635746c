"""What gpu_proof.sh asks of the servers it starts in the background, each with a deadline.

    server.py ports N                                   N free loopback ports, one a line
    server.py wait --pid PID --deadline S --log FILE --line REGEX    until the log has the line
    server.py wait --pid PID --deadline S --url URL                  until the URL answers 200
    server.py prompt-tokens URL MODEL TOKENS            the prompt tokens the server counts for the
                                                        load-test tool's first prompt of that size

`wait` exits 0 once ready, 1 if the process exited or the deadline passed (it says which).
`prompt-tokens` shows that two servers tokenize the load test's prompt alike (vLLM's tokenizer.json
against our gateway's Harmony encoder), so that both do the same work.
"""

import argparse
import json
import os
import re
import socket
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the project by path, where it is not installed

POLL_S = 1.0


def free_ports(count: int) -> list[int]:
    """`count` distinct loopback ports nobody listens on right now (all held open until chosen)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def ready(log: Path | None, line: str, url: str) -> bool:
    if log is not None:
        return log.is_file() and re.search(line, log.read_text(errors="replace")) is not None
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def wait(pid: int, deadline_s: float, log: Path | None, line: str, url: str) -> int:
    began = time.monotonic()
    while not ready(log, line, url):
        if not _alive(pid):
            print(f"server.py wait: process {pid} exited before it was ready", file=sys.stderr)
            return 1
        if time.monotonic() - began > deadline_s:
            print(f"server.py wait: not ready within {deadline_s:.0f} s", file=sys.stderr)
            return 1
        time.sleep(POLL_S)
    print(f"{time.monotonic() - began:.1f}")
    return 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path(f"/proc/{pid}/stat")  # a zombie has exited: its parent (the shell) has not reaped it yet
    return not (stat.is_file() and stat.read_text().rsplit(")", 1)[1].split()[0] == "Z")


def prompt_tokens(url: str, model: str, tokens: int) -> int:
    """Sends the load-test tool's first planned prompt of `tokens` words (seed 0) for one output token;
    returns the server's `usage.prompt_tokens`."""
    from loadtest.clients import harmony_prompt
    from loadtest.distributions import Distribution
    from loadtest.workload import WorkloadSpec, plan

    first = plan(WorkloadSpec(prompt_tokens=Distribution("fixed", tokens), seed=0), 1)[0]
    body = {"model": model, "prompt": harmony_prompt(first), "max_tokens": 1, "seed": 0}
    request = urllib.request.Request(f"{url}/v1/completions", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=300) as response:
        return json.loads(response.read())["usage"]["prompt_tokens"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("ports")
    p.add_argument("count", type=int)
    p = sub.add_parser("wait")
    p.add_argument("--pid", type=int, required=True)
    p.add_argument("--deadline", type=float, required=True, help="seconds")
    p.add_argument("--log", type=Path)
    p.add_argument("--line", default="", help="a regular expression")
    p.add_argument("--url", default="")
    p = sub.add_parser("prompt-tokens")
    p.add_argument("url")
    p.add_argument("model")
    p.add_argument("tokens", type=int)
    args = parser.parse_args()
    if args.command == "ports":
        print("\n".join(map(str, free_ports(args.count))))
        return 0
    if args.command == "wait":
        if (args.log is None) == (not args.url):
            parser.error("wait: give --log and --line, or --url")
        return wait(args.pid, args.deadline, args.log, args.line, args.url)
    print(prompt_tokens(args.url, args.model, args.tokens))
    return 0


if __name__ == "__main__":
    sys.exit(main())
