"""A render worker process (`python -m cluster.gateway.render_worker`), started by `RenderPool`.

Reads length-prefixed pickled jobs `(fn, args)` from stdin, answers each on stdout with
("ok", value), ("error", ClusterError) or ("bug", description). It exits when stdin closes, so
it never outlives its gateway.
"""

import logging
import os
import pickle
import signal
import sys
import traceback

from cluster.errors import ClusterError
from cluster.gateway.render_pool import FRAME

log = logging.getLogger("cluster.gateway.render_worker")


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the gateway stops us
    jobs = sys.stdin.buffer
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # stray prints must not corrupt the channel
    _warm_up()
    _send(answers, ("ok", "ready"))
    while header := jobs.read(FRAME.size):
        fn, args = pickle.loads(jobs.read(FRAME.unpack(header)[0]))
        try:
            answer = ("ok", fn(*args))
        except ClusterError as exc:
            answer = ("error", exc)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # a bug (a Rust panic is a BaseException): log where, not the message
            where = "".join(traceback.format_tb(exc.__traceback__))
            log.error("render job %s raised %s\n%s", getattr(fn, "__name__", fn), type(exc).__name__, where)
            answer = ("bug", f"{type(exc).__name__} in {getattr(fn, '__name__', fn)}")
        _send(answers, answer)


def _warm_up() -> None:
    """Loads what every job needs, so that the first job is not the slow one."""
    from cluster.gateway import json_schema_check, prepare  # noqa: F401
    from cluster.harmony.vocab import harmony_encoding

    harmony_encoding().encode("warm up", allowed_special="all")


def _send(answers, answer) -> None:
    data = pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL)
    answers.write(FRAME.pack(len(data)) + data)
    answers.flush()


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    main()
