"""A real `redis-server` for differential tests, and a raw RESP client for both servers.

`redis_server` (module scope) starts `redis-server` on a unix socket in a temp directory
(no TCP port to collide with), nothing persisted, and waits until it answers PING.
`redis_url` (module scope, parametrized) runs a test against both a redis-server and
simplequeued. `RespConnection` sends one command and reads one reply as a tagged tuple, so
two servers' replies can be compared type and all: `("+", b"OK")`, `("-", b"ERR ...")`, `(":", 3)`,
`("$", b"..." or None)`, `("*", [...] or None)`, and for RESP3 `("%", [(k, v), ...])`,
`("~", [...])`, `("_", None)`, `(",", b"1.5")`, `("#", True)`.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.daemon import start_daemon

START_TIMEOUT = 30.0
REPLY_TIMEOUT = 30.0

Reply = tuple[str, Any]


class RespConnection:
    def __init__(self, sock: socket.socket) -> None:
        sock.settimeout(REPLY_TIMEOUT)
        self.sock = sock
        self.file = sock.makefile("rb")

    @classmethod
    def tcp(cls, port: int) -> RespConnection:
        return cls(socket.create_connection(("127.0.0.1", port), timeout=REPLY_TIMEOUT))

    @classmethod
    def unix(cls, path: Path) -> RespConnection:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(str(path))
        return cls(sock)

    def call(self, *args: str | bytes) -> Reply:
        self.send(*args)
        return self.read()

    def send(self, *args: str | bytes) -> None:
        out = [b"*%d\r\n" % len(args)]
        for arg in args:
            data = arg.encode() if isinstance(arg, str) else arg
            out.append(b"$%d\r\n%s\r\n" % (len(data), data))
        self.sock.sendall(b"".join(out))

    def read(self) -> Reply:
        line = self.file.readline()
        if not line.endswith(b"\r\n"):
            raise ConnectionError(f"connection closed mid-reply: {line!r}")
        kind, rest = chr(line[0]), line[1:-2]
        if kind in "+-":
            return kind, rest
        if kind == ":":
            return kind, int(rest)
        if kind in ",(":
            return ",", rest
        if kind == "#":
            return kind, rest == b"t"
        if kind == "_":
            return kind, None
        if kind in "$=!":
            size = int(rest)
            if size < 0:
                return "$", None
            data = self.file.read(size + 2)[:-2]
            return ("$", data) if kind == "$" else (kind, data)
        if kind in "*~>":
            size = int(rest)
            return kind, None if size < 0 else [self.read() for _ in range(size)]
        if kind in "%|":
            return kind, [(self.read(), self.read()) for _ in range(int(rest))]
        raise ConnectionError(f"not RESP: {line!r}")

    def close(self) -> None:
        self.file.close()
        self.sock.close()


@contextlib.contextmanager
def running_redis_server(directory: Path) -> Iterator[Path]:
    """A fresh redis-server on a unix socket in `directory` until the block ends."""
    binary = shutil.which("redis-server")
    assert binary, "redis-server is missing: install it (Debian: apt-get install redis-server)"
    path = directory / "redis.sock"
    proc = subprocess.Popen(
        [binary, "--port", "0", "--unixsocket", str(path), "--save", "", "--appendonly", "no"],
        cwd=directory,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not _answers(path):
            assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
            assert time.monotonic() < deadline, f"redis-server did not answer in {START_TIMEOUT}s"
            time.sleep(0.05)
        yield path
    finally:
        proc.terminate()
        proc.wait(30)
        if proc.stdout is not None:
            proc.stdout.close()


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The unix socket of a fresh redis-server, alive for the test module."""
    with running_redis_server(tmp_path_factory.mktemp("redis-server")) as path:
        yield path


# Longer than any test: simplequeued would otherwise hand an unacked entry to the next
# reader after its visibility timeout, which Redis never does.
VISIBILITY_TIMEOUT = "600"


@pytest.fixture(scope="module", params=["redis-server", "simplequeued"])
def redis_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The same test against a real redis-server and against simplequeued (a subprocess
    with --redis-addr): the URL of either, as redis-py's `from_url` takes it."""
    if request.param == "redis-server":
        path: Path = request.getfixturevalue("redis_server")
        yield f"unix://{path}"
        return
    data = tmp_path_factory.mktemp("simplequeued")
    flags = ("--backend", "localfs", "--dir", str(data), "--visibility-timeout", VISIBILITY_TIMEOUT)
    daemon = start_daemon(*flags, redis=True)
    try:
        yield f"redis://127.0.0.1:{daemon.redis_port}"
    finally:
        daemon.stop()
        if daemon.proc.stderr is not None:
            daemon.proc.stderr.close()


def _answers(path: Path) -> bool:
    try:
        connection = RespConnection.unix(path)
    except OSError:
        return False
    try:
        return connection.call("PING") == ("+", b"PONG")
    finally:
        connection.close()
