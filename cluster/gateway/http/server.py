"""Serves the HTTP app with uvicorn inside the gateway's event loop, beside the gRPC server."""

import asyncio
import contextlib
import socket

import uvicorn


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self):
        yield  # the gateway owns SIGTERM/SIGINT and stops both APIs together


class HttpGateway:
    def __init__(self, app, host: str, port: int, grace_s: float):
        self.address = f"{host}:{port}"
        self._socket = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._socket.bind((host, port))
        except OSError as exc:
            self._socket.close()
            raise OSError(f"cannot listen on {self.address} for HTTP: {exc.strerror}; set gateway.http_port "
                          "or gateway.host") from None
        config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False,
                                timeout_graceful_shutdown=grace_s, timeout_keep_alive=30)
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
