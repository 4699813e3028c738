"""Connection caps and timeouts of a real daemon, over real sockets: clients cannot take the
descriptors storage writes need, nor hold connections open without sending a request."""

from __future__ import annotations

import contextlib
import http.client
import resource
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.broker.daemon_helpers import eventually, metric, stored_jobs
from tests.support.daemon import Daemon
from tests.support.resp import encode_command

FD_LIMIT = 700  # the daemon's open-file limit in these tests
DEFAULT_CAP = (FD_LIMIT - 512) // 2  # broker/limits.py: the reserve, shared by 2 listeners
CLOSE_DEADLINE = 20.0


def _limit_fds() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (FD_LIMIT, FD_LIMIT))


def _http_addr(daemon: Daemon) -> tuple[str, int]:
    url = urlsplit(daemon.http_url)
    assert url.hostname is not None and url.port is not None
    return url.hostname, url.port


@contextlib.contextmanager
def _sockets() -> Iterator[list[socket.socket]]:
    opened: list[socket.socket] = []
    try:
        yield opened
    finally:
        for sock in opened:
            sock.close()


def _connect(addr: tuple[str, int], opened: list[socket.socket]) -> socket.socket:
    sock = socket.create_connection(addr, timeout=CLOSE_DEADLINE)
    opened.append(sock)
    return sock


def _read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes; fails if it stays open too long."""
    sock.settimeout(CLOSE_DEADLINE)
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def _resp_call(sock: socket.socket, *args: str) -> bytes:
    sock.sendall(encode_command(*args))
    sock.settimeout(CLOSE_DEADLINE)
    reply = sock.recv(65536)
    while reply.startswith(b"$") and not reply.endswith(b"\r\n"):  # a bulk reply in parts
        reply += sock.recv(65536)
    return reply


def test_clients_at_the_cap_are_refused_and_storage_writes_keep_working(
    daemon_factory: Callable[..., Daemon], tmp_path: Path
) -> None:
    d = daemon_factory(
        "--backend", "localfs", "--dir", str(tmp_path), "--idle-timeout", "600",
        redis=True, preexec=_limit_fds,
    )  # fmt: skip
    assert d.redis_port is not None
    assert f"max_connections={DEFAULT_CAP} fd_limit={FD_LIMIT}" in d.log_text()
    host, port = _http_addr(d)
    kept_http = http.client.HTTPConnection(host, port, timeout=CLOSE_DEADLINE)
    kept_http.request("GET", "/healthz")
    assert kept_http.getresponse().read()
    with _sockets() as opened:
        kept_resp = _connect(("127.0.0.1", d.redis_port), opened)
        assert _resp_call(kept_resp, "PING") == b"+PONG\r\n"
        # More connections to each listener than the process has descriptors.
        flood = FD_LIMIT + 50
        resp_flood = [_connect(("127.0.0.1", d.redis_port), opened) for _ in range(flood)]
        http_flood = [_connect((host, port), opened) for _ in range(flood)]

        refused_resp = flood - (DEFAULT_CAP - 1)
        assert _read_until_closed(resp_flood[-1]) == b"-ERR max number of clients reached\r\n"
        eventually(
            lambda: (
                f"rejected_connections:{refused_resp}\r\n".encode()
                in _resp_call(kept_resp, "INFO", "stats")
            )
        )
        refusal = _read_until_closed(http_flood[-1])
        assert refusal.startswith(b"HTTP/1.1 503 ") and b'"too_many_connections"' in refusal

        # Writes through the connections already open land on storage.
        kept_http.request(
            "POST",
            "/topics/web/enqueue",
            body=b'{"payload": 1, "id": "at-cap"}',
            headers={"Content-Type": "application/json"},
        )
        answer = kept_http.getresponse()
        assert answer.status == 201, answer.read()
        answer.read()
        assert _resp_call(kept_resp, "LPUSH", "redis", "x") == b":1\r\n"

        # The Redis listener is still full: readiness says so once HTTP has room again.
        for sock in http_flood[: DEFAULT_CAP - 1]:
            sock.close()

        def not_ready_reasons() -> list[str] | None:
            status, body = d.request("GET", "/readyz")  # may be refused: the cap is near
            return body.get("reasons") if status == 503 else None

        reasons = eventually(not_ready_reasons)
        assert any("Redis connections at the cap" in reason for reason in reasons), reasons
    kept_http.close()
    eventually(lambda: d.request("GET", "/readyz")[0] == 200)
    assert d.stop() == 0
    assert [job["id"] for job in stored_jobs(tmp_path, "web")] == ["at-cap"]
    assert len(stored_jobs(tmp_path, "redis")) == 1


def test_an_explicit_cap_applies_to_each_listener(
    daemon_factory: Callable[..., Daemon],
) -> None:
    d = daemon_factory("--backend", "memfs", env={"SQ_MAX_CONNECTIONS": "3"}, redis=True)
    assert d.redis_port is not None
    assert "max_connections=3 " in d.log_text()
    with _sockets() as opened:
        http_held = [_connect(_http_addr(d), opened) for _ in range(3)]
        refused = _read_until_closed(_connect(_http_addr(d), opened))
        assert refused.startswith(b"HTTP/1.1 503 ")
        resp_held = [_connect(("127.0.0.1", d.redis_port), opened) for _ in range(3)]
        assert _resp_call(resp_held[0], "PING") == b"+PONG\r\n"
        extra = _connect(("127.0.0.1", d.redis_port), opened)
        assert _read_until_closed(extra) == b"-ERR max number of clients reached\r\n"
        # Room for a request or two (the server may not have seen the last one close).
        http_held[0].close()
        http_held[1].close()
        eventually(lambda: "Redis connections" in str(d.request("GET", "/readyz")[1]))
        assert metric(d, "sq_ready") == 0
        assert metric(d, "sq_http_connections") >= 1


def test_the_soft_fd_limit_is_raised_to_the_hard_limit_and_sizes_the_default_cap(
    daemon_factory: Callable[..., Daemon],
) -> None:
    def soft_below_hard() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (600, 900))

    d = daemon_factory("--backend", "memfs", preexec=soft_below_hard)
    assert f"max_connections={(900 - 512) // 2} fd_limit=900" in d.log_text()
    with open(f"/proc/{d.proc.pid}/limits") as limits:
        line = next(line for line in limits if line.startswith("Max open files"))
    assert line.split()[3:5] == ["900", "900"]


@pytest.fixture
def quick_timeouts(daemon_factory: Callable[..., Daemon]) -> Daemon:
    return daemon_factory(
        "--backend", "memfs", "--idle-timeout", "1", "--auth-token", "s3cret", redis=True
    )  # fmt: skip


@pytest.mark.parametrize(
    "sent",
    [b"", b"GET /healthz HTTP/1.1\r\nHost: x\r\n"],
    ids=["nothing", "half-sent headers"],
)
def test_http_connections_without_a_whole_request_are_closed(
    quick_timeouts: Daemon, sent: bytes
) -> None:
    with _sockets() as opened:
        sock = _connect(_http_addr(quick_timeouts), opened)
        sock.sendall(sent)
        started = time.monotonic()
        assert _read_until_closed(sock) == b""
        assert time.monotonic() - started < CLOSE_DEADLINE / 2


def test_http_request_whose_body_does_not_arrive_gets_408(quick_timeouts: Daemon) -> None:
    with _sockets() as opened:
        sock = _connect(_http_addr(quick_timeouts), opened)
        sock.sendall(
            b"POST /topics/t/enqueue HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer s3cret\r\n"
            b'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"payload"'
        )
        answer = _read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 408 "), answer
    assert b"did not arrive within 1 seconds" in answer
    assert quick_timeouts.request("GET", "/healthz")[0] == 200


def test_redis_connection_that_does_not_auth_is_closed(quick_timeouts: Daemon) -> None:
    assert quick_timeouts.redis_port is not None
    addr = ("127.0.0.1", quick_timeouts.redis_port)
    with _sockets() as opened:
        authed = _connect(addr, opened)
        assert _resp_call(authed, "AUTH", "s3cret") == b"+OK\r\n"
        stranger = _connect(addr, opened)
        stranger.sendall(b"*1\r\n$4\r\nPI")  # a request that never ends
        assert (
            _read_until_closed(stranger) == b"-ERR not authenticated within 1 seconds: closing\r\n"
        )
        # An authenticated client may stay idle as long as it likes.
        assert _resp_call(authed, "PING") == b"+PONG\r\n"


def test_clients_that_hang_up_after_a_blocking_transaction_release_their_slots(
    daemon_factory: Callable[..., Daemon],
) -> None:
    """MULTI + BRPOP 0 / XREADGROUP BLOCK 0 + EXEC used to block forever inside EXEC: such
    clients that hung up kept their slots (the cap refused everyone, /readyz said 503)
    and the next job pushed went to the dead connection."""
    d = daemon_factory("--backend", "memfs", "--max-connections", "3", redis=True)
    assert d.redis_port is not None
    addr = ("127.0.0.1", d.redis_port)
    blocking = [
        ("BRPOP", "ghostq", "0"),
        ("XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", "ghostq", ">"),
    ]

    def transaction(command: tuple[str, ...]) -> bytes:
        return encode_command("MULTI") + encode_command(*command) + encode_command("EXEC")

    with _sockets() as opened:
        for n in range(3):  # as many as the cap; each hangs up without reading its replies
            sock = _connect(addr, opened)
            sock.sendall(transaction(blocking[n % 2]))
            sock.close()

        def ping() -> bool:
            return _resp_call(_connect(addr, opened), "PING") == b"+PONG\r\n"

        eventually(ping)
        eventually(lambda: d.request("GET", "/readyz")[0] == 200)
        client = _connect(addr, opened)
        client.sendall(transaction(blocking[0]))
        replies = b""
        while not replies.endswith(b"*1\r\n*-1\r\n"):  # EXEC answers at once: [nil]
            chunk = client.recv(65536)
            assert chunk, replies
            replies += chunk
        assert _resp_call(client, "LPUSH", "ghostq", "job") == b":1\r\n"
        assert _resp_call(client, "XPENDING", "ghostq", "g").startswith(b"*4\r\n:0\r\n")
        assert _resp_call(client, "RPOP", "ghostq") == b"$3\r\njob\r\n"
