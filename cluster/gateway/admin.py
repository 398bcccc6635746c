"""The admin listener: /metrics, /healthz and /readyz on `gateway.admin_host`:`gateway.metrics_port`.

It is plain HTTP on an address of its own (a pod IP for the kubelet and Prometheus), apart from the
APIs, which may be TLS with client certificates that probes and scrapers do not hold. It runs in
threads, off the event loop: rendering the metrics of many tenants takes milliseconds that no
stream should wait for. So that /healthz still says whether the gateway works, it fails once the
event loop has not refreshed the readiness snapshot for a while (`alive()`): a wedged loop gets the
pod restarted, as a probe of the API port would.
"""

import json
import socket
import threading
from collections.abc import Callable
from wsgiref.simple_server import WSGIServer, make_server

from prometheus_client import make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer, _SilentHandler


def start_admin(host: str, port: int, readiness: Callable[[], tuple[bool, dict]],
                alive: Callable[[], bool] = lambda: True) -> WSGIServer:
    """Serves until `shutdown()`; `readiness()` → (ready, details for the body); `alive()` → whether
    the event loop is still turning."""
    metrics = make_wsgi_app()

    def app(environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path == "/healthz":
            if alive():
                return _json(start_response, 200, {"status": "alive"})
            return _json(start_response, 503, {"status": "the gateway's event loop has stopped turning"})
        if path == "/readyz":
            ready, details = readiness()
            return _json(start_response, 200 if ready else 503, details)
        return metrics(environ, start_response)

    class Server(ThreadingWSGIServer):
        address_family = _family(host)

    try:
        server = make_server(host, port, app, Server, handler_class=_SilentHandler)
    except OSError as exc:
        raise OSError(f"cannot listen on {host}:{port} for metrics and health: {exc.strerror}; "
                      "set gateway.metrics_port or gateway.admin_host") from None
    threading.Thread(target=server.serve_forever, name="admin-http", daemon=True).start()
    return server


def _json(start_response, status: int, body: dict):
    data = json.dumps(body).encode()
    reason = "OK" if status == 200 else "Service Unavailable"
    start_response(f"{status} {reason}", [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]


def _family(host: str):
    return socket.AF_INET6 if ":" in host else socket.AF_INET
