"""Runs the ASGI app with uvicorn over TLS (and the CONNECT proxy) in a background thread.

The thread owns its own event loop, so in-process tests and a product that calls `asyncio.run`
can run at the same time as the simulator.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from typing import Any

import uvicorn

from .app import LostResponse
from .proxy import ConnectProxy
from .tls import REAL_HOST_NAMES, TlsMaterial


class _DropLostResponse(logging.Filter):
    """uvicorn logs an ASGI exception as an error; a deliberately lost response is not one."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, LostResponse)


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket (port 0 = a free port chosen by the OS)."""
    # proto=IPPROTO_TCP so asyncio sets TCP_NODELAY on accepted connections; without it uvicorn's
    # separate header and body writes meet Nagle + delayed ACK: ~40 ms per response.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.setblocking(False)
    return sock


class ServerThread:
    """uvicorn + proxy on one event loop in a daemon thread."""

    def __init__(self, app: Any, tls: TlsMaterial, host: str = "127.0.0.1", port: int = 0,
                 proxy_port: int | None = 0) -> None:
        self._sock = bind(host, port)
        self.port: int = self._sock.getsockname()[1]
        self._proxy_sock = bind(host, proxy_port) if proxy_port is not None else None
        self.proxy_port: int | None = self._proxy_sock.getsockname()[1] if self._proxy_sock else None
        error_log = logging.getLogger("uvicorn.error")
        if not any(isinstance(f, _DropLostResponse) for f in error_log.filters):
            error_log.addFilter(_DropLostResponse())
        config = uvicorn.Config(
            app,
            ssl_certfile=str(tls.cert_path),
            ssl_keyfile=str(tls.key_path),
            log_config=None,  # leave the host application's logging configuration alone
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_keep_alive=30,
            http="h11",
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._proxy = ConnectProxy(self.port, set(REAL_HOST_NAMES)) if self._proxy_sock else None
        self._thread = threading.Thread(target=self._run, name="kodo-simulator", daemon=True)
        self._error: BaseException | None = None

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # surfaced by start()
            self._error = exc

    async def _main(self) -> None:
        if self._proxy is not None:
            await self._proxy.start(self._proxy_sock)
        try:
            await self._server.serve(sockets=[self._sock])
        finally:
            if self._proxy is not None:
                await self._proxy.close()

    def start(self, timeout: float = 10.0) -> None:
        """Start and wait until the server accepts connections."""
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if self._error is not None or not self._thread.is_alive():
                raise RuntimeError(f"simulator server failed to start: {self._error!r}")
            if time.monotonic() > deadline:
                raise RuntimeError("simulator server did not start in time")
            time.sleep(0.005)

    def stop(self, timeout: float = 5.0) -> None:
        """Ask uvicorn to exit and wait for the thread."""
        # force_exit: do not wait for idle keep-alive TLS connections of clients that never close.
        self._server.should_exit = True
        self._server.force_exit = True
        self._thread.join(timeout)
        for s in (self._sock, self._proxy_sock):
            if s is not None:
                s.close()
