"""Serves the HTTP app with uvicorn inside the gateway's event loop, beside the gRPC server."""

import asyncio
import contextlib
import socket

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from cluster.gateway.tls import ServerTls

MAX_HEADER_BYTES = 64 * 1024


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self):
        yield  # the gateway owns SIGTERM/SIGINT and stops both APIs together


class _BoundedHeaders(HttpToolsProtocol):
    """uvicorn's HTTP/1.1 protocol with what it lacks against slow or endless clients: a request's
    headers must arrive within `header_timeout_s` (from the connection's start, or from the first
    byte of a later request on a kept-alive connection), and reads that end inside unfinished
    headers may add up to `MAX_HEADER_BYTES` at most (one read is bounded by the socket buffer)."""

    header_timeout_s = 10.0

    def connection_made(self, transport) -> None:
        # asyncio sets TCP_NODELAY only on sockets made with protocol IPPROTO_TCP, not on ones accepted
        # from a listener made with protocol 0: without it a response's first chunk, written right
        # after its headers, waits for the client's delayed ACK (~40 ms of time to first token).
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)
        self._start_header_timer()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._header_timer is not None:  # this whole chunk belonged to headers that are still unfinished
            self._header_bytes += len(data)
            if self._header_bytes > MAX_HEADER_BYTES:
                self._refuse(431, b"Request Header Fields Too Large")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._header_timer is None:  # the next request on a kept-alive connection
            self._start_header_timer()

    def on_headers_complete(self) -> None:
        self._stop_header_timer()
        super().on_headers_complete()

    def connection_lost(self, exc) -> None:
        self._stop_header_timer()
        super().connection_lost(exc)

    def _start_header_timer(self) -> None:
        self._header_bytes = 0
        self._header_timer = self.loop.call_later(self.header_timeout_s, self._refuse, 408, b"Request Timeout")

    def _stop_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _refuse(self, status: int, reason: bytes) -> None:
        self._stop_header_timer()
        if not self.transport.is_closing():
            self.transport.write(b"HTTP/1.1 %d %s\r\ncontent-length: 0\r\nconnection: close\r\n\r\n" % (status, reason))
            self.transport.close()


class HttpGateway:
    def __init__(self, app, host: str, port: int, grace_s: float, header_timeout_s: float,
                 tls: ServerTls | None = None):
        self.address = f"{host}:{port}"
        self._socket = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM,
                                     socket.IPPROTO_TCP)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._socket.bind((host, port))
        except OSError as exc:
            self._socket.close()
            raise OSError(f"cannot listen on {self.address} for HTTP: {exc.strerror}; set gateway.http_port "
                          "or gateway.host") from None
        protocol = type("BoundedHeaders", (_BoundedHeaders,), {"header_timeout_s": header_timeout_s})
        config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False, http=protocol,
                                timeout_graceful_shutdown=grace_s, timeout_keep_alive=30,
                                **(tls.uvicorn_options() if tls else {}))
        self._server = _Server(config)
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._server.serve(sockets=[self._socket]))
        while not self._server.started:
            if self._task.done():
                self._task.result()  # raises what stopped it
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        """Stops accepting connections; open responses get the grace period, then are cancelled."""
        self._server.should_exit = True
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
        self._socket.close()
