"""The Redis-protocol (RESP2/RESP3) listener. Placeholder until the RESP work lands."""

from __future__ import annotations

from typing import Any


async def start_resp_server(engine: Any, host: str, port: int, **options: Any) -> Any:
    """Start serving RESP on host:port; returns a server with `close()` / `wait_closed()`."""
    raise NotImplementedError("the Redis-protocol listener is not available yet")
