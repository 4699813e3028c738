"""In-process RESP listener on a real socket, and a raw-bytes client for it.

`resp_factory(**options)` starts the listener (port 0) over a real Engine on a MemoryStore
in the test's event loop; `RawClient` sends bytes and reads whole replies, so tests
compare exact bytes as a Redis client would see them.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest

from broker.resp.frame import Incomplete, parse_value
from tests.support.daemon import Daemon, start_daemon
from tests.support.polling import DEADLINE, long_polls, until

REPLY_TIMEOUT = 20.0


class RawClient:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.buf = b""

    @classmethod
    async def connect(cls, port: int) -> RawClient:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def command(self, *args: bytes | str) -> bytes:
        """Send one command; return the raw bytes of its reply."""
        await self.send(encode_command(*args))
        return await self.reply_bytes()

    async def call(self, *args: bytes | str) -> Any:
        """Send one command; return its decoded reply (frame.parse_value's types)."""
        await self.send(encode_command(*args))
        return await self.reply()

    async def reply_bytes(self) -> bytes:
        while True:
            parsed = parse_value(self.buf) if self.buf else None
            if parsed is not None and not isinstance(parsed, Incomplete):
                _, end = parsed
                raw, self.buf = self.buf[:end], self.buf[end:]
                return raw
            chunk = await asyncio.wait_for(self.reader.read(65536), REPLY_TIMEOUT)
            if not chunk:
                raise ConnectionError(f"closed with {self.buf!r} unparsed")
            self.buf += chunk

    async def reply(self) -> Any:
        raw = await self.reply_bytes()
        parsed = parse_value(raw)
        assert not isinstance(parsed, Incomplete)
        return parsed[0]

    async def read_until_closed(self) -> bytes:
        """Everything the server sends until it closes the connection."""
        data = self.buf
        self.buf = b""
        while chunk := await asyncio.wait_for(self.reader.read(65536), REPLY_TIMEOUT):
            data += chunk
        return data

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()


def encode_command(*args: bytes | str) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg.encode() if isinstance(arg, str) else arg
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


class RespHarness:
    """A running listener and its engine."""

    def __init__(self, server: Any, engine: Any) -> None:
        self.server = server
        self.engine = engine
        self.port: int = server.port
        self.clients: list[RawClient] = []

    async def client(self) -> RawClient:
        client = await RawClient.connect(self.port)
        self.clients.append(client)
        return client

    def commits(self) -> float:
        return float(self.engine.metrics.commits.get())

    def long_polls(self) -> float:
        return long_polls(self.engine.metrics.render())

    async def parked(self, count: int = 1) -> None:
        """Wait until `count` blocking reads are parked until the next commit."""
        await until(lambda: self.long_polls() == count, f"{count} blocked reads")


@pytest.fixture
async def resp_factory() -> AsyncIterator[Callable[..., Awaitable[RespHarness]]]:
    from broker.engine import Engine
    from broker.resp import start_resp_server
    from common.store import MemoryStore

    started: list[RespHarness] = []

    async def start(engine_settings: Any = None, store: Any = None, **options: Any) -> RespHarness:
        """`options` go to start_resp_server; `engine_settings` is an EngineSettings and
        `store` an ObjectStore (default: a fresh MemoryStore)."""
        engine = Engine(store or MemoryStore(), engine_settings)
        await engine.start()
        server = await start_resp_server(engine, "127.0.0.1", 0, **options)
        harness = RespHarness(server, engine)
        started.append(harness)
        return harness

    yield start
    for harness in started:
        for client in harness.clients:
            await client.close()
        harness.server.close()
        await harness.server.wait_closed()
        await harness.engine.stop()


@pytest.fixture
async def resp(resp_factory: Callable[..., Awaitable[RespHarness]]) -> RespHarness:
    return await resp_factory()


@pytest.fixture(scope="module")
def resp_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    """One `simplequeued` subprocess (localfs, with --redis-addr) shared by a test module;
    tests keep apart by using their own topic names."""
    data = tmp_path_factory.mktemp("resp-daemon")
    daemon = start_daemon("--backend", "localfs", "--dir", str(data), redis=True)
    try:
        yield daemon
    finally:
        daemon.stop()
        if daemon.proc.stderr is not None:
            daemon.proc.stderr.close()


def metric(daemon: Daemon, name: str) -> float:
    """The sum of a Prometheus series (all label sets) from the daemon's /metrics."""
    status, text = daemon.request("GET", "/metrics")
    assert status == 200, text
    total = 0.0
    for line in str(text).splitlines():
        if line.startswith(name) and line[len(name) : len(name) + 1] in (" ", "{"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def wait_parked(daemon: Daemon, count: int = 1, within: float = DEADLINE) -> None:
    """Wait until at least `count` requests (a BRPOP, an XREADGROUP BLOCK, a long poll) are
    parked in the daemon until a topic's next commit: from then on a write wakes them."""
    deadline = time.monotonic() + within
    while (parked := metric(daemon, "sq_long_polls")) < count:
        assert time.monotonic() < deadline, f"{parked} of {count} reads parked after {within}s"
        time.sleep(0.02)


def stream_entries(reply: Any) -> list[tuple[bytes, dict[bytes, bytes]]]:
    """redis-py's XREADGROUP / XREAD entries whatever the reply shape (RESP2 list, RESP3
    dict)."""
    if isinstance(reply, dict):
        return [entry for streams in reply.values() for entry in streams[0]]
    return [entry for _, entries in reply for entry in entries]
