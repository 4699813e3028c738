"""The accept loop: one Connection per client, a connection limit, clean shutdown."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

from .commands import TABLE
from .connection import Connection
from .session import Options, ServerState

if TYPE_CHECKING:
    from broker.engine import Engine

MAX_CLIENTS_REPLY = b"-ERR max number of clients reached\r\n"
SHUTDOWN_GRACE = 5.0  # seconds a connection may take to finish the batch it is running


class RespServer:
    """A running listener; `port` is the bound port (useful with port 0)."""

    def __init__(self, engine: Engine, options: Options) -> None:
        self.state = ServerState(engine, options, TABLE)
        state = self.state
        engine.metrics.gauge(
            "sq_resp_connections",
            "open Redis-protocol connections",
            lambda: [((), float(len(state.sessions)))],
        )
        engine.metrics.gauge(
            "sq_resp_blocked_clients",
            "Redis-protocol connections waiting in BRPOP / XREADGROUP BLOCK",
            lambda: [((), float(state.blocked_clients))],
        )
        self._server: asyncio.Server | None = None
        self._connections: dict[asyncio.Task[None], Connection] = {}
        self.host = ""
        self.port = 0

    async def start(self, host: str, port: int) -> None:
        self._server = await asyncio.start_server(self._accept, host, port)
        self.host, self.port = self._server.sockets[0].getsockname()[:2]

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.state.cap.try_open():
            writer.write(MAX_CLIENTS_REPLY)
            with contextlib.suppress(Exception):
                await writer.drain()
            writer.close()
            return
        try:
            await self._serve(reader, writer)
        finally:
            self.state.cap.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer, local = writer.get_extra_info("peername"), writer.get_extra_info("sockname")
        sock = writer.get_extra_info("socket")
        session = self.state.new_session(
            _address(peer), _address(local), sock.fileno() if sock is not None else -1
        )
        connection = Connection(self.state, session, reader, writer)
        task = asyncio.current_task()
        assert task is not None
        self._connections[task] = connection
        try:
            await connection.run()
        except asyncio.CancelledError:
            pass  # shutdown
        finally:
            self.state.end_session(session)
            self._connections.pop(task, None)

    def close(self) -> None:
        """Stop accepting; idle connections close now, busy ones after their batch."""
        if self._server is not None:
            self._server.close()
        for task, connection in list(self._connections.items()):
            connection.session.closing = True
            if not connection.busy:
                task.cancel()

    async def wait_closed(self) -> None:
        tasks = list(self._connections)
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=SHUTDOWN_GRACE)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()


def _address(addr: object) -> str:
    return f"{addr[0]}:{addr[1]}" if isinstance(addr, tuple) else str(addr)
