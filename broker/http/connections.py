"""The HTTP listener's edges: a connection cap, and one warning line per malformed request.

aiohttp has no connection limit, so `CappedSite` listens like `web.TCPSite` but hands each
accepted connection to aiohttp only while fewer than the cap are open; over the cap the
client gets a 503 and the connection is closed. Timeouts are aiohttp's own: its keep-alive
timer also runs while a connection's first request has not arrived whole (see
`runner_options`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, cast

import orjson
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from ..limits import ConnectionCap

log = logging.getLogger("simplequeue.http")

LINGER_SECONDS = 2.0  # a refused client has this long to read the 503 and hang up
MAX_LINGERING = 32  # refused connections left open meanwhile (see limits.STORAGE_RESERVE_FDS)


def runner_options(idle_timeout: float) -> dict[str, Any]:
    """`web.AppRunner` keyword arguments: close a connection that sends no complete request
    within `idle_timeout` seconds (idle keep-alive or headers trickling in), and log
    malformed requests as one warning line."""
    return {
        "access_log": None,
        "handle_signals": False,
        "keepalive_timeout": idle_timeout,
        "logger": _MalformedRequestLogger(logging.getLogger("aiohttp.server")),
    }


class _MalformedRequestLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    """aiohttp logs every unparsable request as an error with a traceback; it is the
    client's mistake (or a scanner), so one warning line says enough."""

    def exception(self, msg: object, *args: object, **kwargs: Any) -> None:
        error = kwargs.get("exc_info")
        if isinstance(error, HttpProcessingError):
            peer = args[0] if args else "?"
            log.warning("malformed HTTP request from=%s error=%r", peer, error.message)
            return
        super().exception(msg, *args, **kwargs)


class _Refusal(asyncio.Protocol):
    """Answers 503 at once. Closing with the client's request unread could reset the
    connection before the client reads the 503, so the refusal waits for the client to
    hang up, a short while at most; but only a few at a time, or a flood of refused
    clients would hold the descriptors the cap keeps free."""

    def __init__(self, site: CappedSite) -> None:
        self.site = site
        self.lingering = False
        self.timer: asyncio.TimerHandle | None = None

    def connection_made(self, base: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, base)  # uvloop's is not a subclass
        transport.write(self.site.refusal)
        if self.site.lingering >= MAX_LINGERING or not transport.can_write_eof():
            transport.close()
            return
        self.lingering = True
        self.site.lingering += 1
        transport.write_eof()
        self.timer = asyncio.get_running_loop().call_later(LINGER_SECONDS, transport.close)

    def data_received(self, data: bytes) -> None:
        pass  # the request is not read: the answer is the same for any

    def eof_received(self) -> bool:
        return False  # the client hung up: close now

    def connection_lost(self, exc: Exception | None) -> None:
        if self.timer is not None:
            self.timer.cancel()
        if self.lingering:
            self.site.lingering -= 1


class _Counted(asyncio.Protocol):
    """aiohttp's protocol for one connection, counted out of the cap when it closes."""

    def __init__(self, inner: asyncio.Protocol, cap: ConnectionCap) -> None:
        self.inner, self.cap = inner, cap

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.inner.connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.cap.close()
        self.inner.connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received()

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()


def refusal_response(limit: int) -> bytes:
    body = orjson.dumps(
        {
            "error": f"too many connections: this broker serves at most {limit} HTTP "
            "connections (--max-connections); retry later",
            "code": "too_many_connections",
        }
    )
    head = (
        "HTTP/1.1 503 Service Unavailable\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Retry-After: 1\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode() + body


class CappedSite(web.BaseSite):
    """`web.TCPSite` with at most `cap.limit` open connections."""

    def __init__(
        self,
        runner: web.BaseRunner,
        host: str | None,
        port: int,
        cap: ConnectionCap,
        *,
        shutdown_timeout: float,
    ) -> None:
        super().__init__(runner, shutdown_timeout=shutdown_timeout)
        self.host, self.bind_port, self.cap = host, port, cap
        self.refusal = refusal_response(cap.limit)
        self.lingering = 0  # refused connections waiting for their client to hang up

    @property
    def name(self) -> str:
        return f"http://{self.host or '0.0.0.0'}:{self.bind_port}"

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        assert server is not None
        self._server = await asyncio.get_running_loop().create_server(
            self._protocol_factory(server), self.host, self.bind_port, backlog=self._backlog
        )

    def _protocol_factory(self, make: Callable[[], asyncio.Protocol]) -> Callable[[], Any]:
        def protocol() -> asyncio.Protocol:
            if not self.cap.try_open():
                return _Refusal(self)
            return _Counted(make(), self.cap)

        return protocol
