"""The Redis-protocol (RESP2/RESP3) listener.

Layers, each unaware of the ones above it (as in mini-redis):
    frame.py       bytes → request arguments; "incomplete" vs protocol error; no I/O
    stream.py      a connection's bytes → requests: hiredis' C reader where it gives exactly
                   what frame.py would, frame.py for the rest and for size checks; no I/O
    reply.py       reply values → RESP2 / RESP3 bytes; no I/O
    commands/      one class per command: parse → apply (engine calls) → reply value
    connection.py  buffered reads and writes, pipelining, group-commit-friendly batching
    listener.py    accept loop, connection limit, shutdown
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .listener import RespServer
from .session import Options

if TYPE_CHECKING:
    from broker.engine import Engine

__all__ = ["RespServer", "start_resp_server"]


async def start_resp_server(engine: Engine, host: str, port: int, **options: Any) -> RespServer:
    """Start serving RESP on host:port (port 0: any free port, see `.port`).

    Options: `auth_token` (require AUTH), `max_payload_bytes` (default: the engine's),
    `max_connections`. The result has `close()`, `wait_closed()`, `host` and `port`.
    """
    given = {key: value for key, value in options.items() if value is not None}
    given.setdefault("max_payload_bytes", engine.settings.max_payload_bytes)
    server = RespServer(engine, Options(**given))
    await server.start(host, port)
    return server
