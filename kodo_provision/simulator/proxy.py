"""A minimal HTTPS CONNECT proxy that only tunnels to the simulator's TLS port.

With `HTTPS_PROXY=<proxy_url>` and the simulator CA trusted, clients keep their default cloud
configuration (login.microsoftonline.com, graph.microsoft.com) and still reach the simulator: the
leaf certificate covers those names (tls.py). Nothing is ever connected outside loopback.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

_log = logging.getLogger(__name__)
_MAX_HEAD = 16 * 1024


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError, OSError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


def _reply(writer: asyncio.StreamWriter, status: str, text: str = "") -> None:
    body = text.encode()
    writer.write(f"HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {len(body)}\r\n"
                 f"Connection: close\r\n\r\n".encode() + body)


class ConnectProxy:
    """CONNECT host:443 for allowed host names -> 127.0.0.1:<tls_port>; anything else 403."""

    def __init__(self, target_port: int, allowed_hosts: set[str]) -> None:
        self.target_port = target_port
        self.allowed = {h.lower() for h in allowed_hosts}
        self._server: asyncio.base_events.Server | None = None

    async def start(self, sock) -> None:
        """Serve on an already bound socket."""
        self._server = await asyncio.start_server(self._handle, sock=sock)

    async def close(self) -> None:
        """Stop accepting connections."""
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 1)

    def _allowed(self, host: str, port: str) -> bool:
        host = host.strip("[]").lower()
        if host in self.allowed and port == "443":
            return True
        return host in ("127.0.0.1", "localhost") and port == str(self.target_port)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            writer.close()
            return
        if len(head) > _MAX_HEAD:
            _reply(writer, "431 Request Header Fields Too Large")
            writer.close()
            return
        parts = head.split(b"\r\n", 1)[0].decode("latin-1").split()
        if len(parts) < 2 or parts[0].upper() != "CONNECT":
            _reply(writer, "405 Method Not Allowed", "Only CONNECT is supported by the simulator proxy.\n")
            writer.close()
            return
        host, _, port = parts[1].rpartition(":")
        if not self._allowed(host, port):
            _reply(writer, "403 Forbidden", f"The simulator proxy does not tunnel to {parts[1]}.\n")
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            _reply(writer, "502 Bad Gateway")
            writer.close()
            return
        writer.write(b"HTTP/1.1 200 Connection Established\r\n\r\n")
        await writer.drain()
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
