"""Edge inputs sent to a real daemon over HTTP and Redis: payloads nested too deep, nack
errors too long, bodies sent to routes that take none, unknown query parameters, null
optional fields and the auth scheme's case. Each is a clear 400 (or, over Redis, a value
kept as it came), never an internal error. (README, "HTTP API" and "Redis protocol".)"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis

from common.limits import MAX_ERROR_CHARS, MAX_PAYLOAD_DEPTH
from tests.support.daemon import Daemon, start_daemon

pytestmark = pytest.mark.slow  # one daemon for the whole file


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    daemon = start_daemon("--dir", str(tmp_path_factory.mktemp("edges")), redis=True)
    yield daemon
    daemon.stop()
    assert daemon.proc.stderr is not None
    daemon.proc.stderr.close()


@pytest.fixture
def client(daemon: Daemon) -> Iterator[redis.Redis]:
    assert daemon.redis_port is not None
    with redis.Redis(port=daemon.redis_port, socket_timeout=30) as client:
        yield client


def _nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def _refused(daemon: Daemon, method: str, path: str, raw: bytes | None = None) -> str:
    status, reply = daemon.request(method, path, data=raw)
    assert (status, reply["code"]) == (400, "bad_request"), (status, reply)
    message: str = reply["error"]
    assert "\n" not in message
    return message


def _no_errors_logged(daemon: Daemon) -> None:
    assert not [line for line in daemon.log if "level=ERROR" in line or "Traceback" in line]


@pytest.mark.parametrize("depth", [MAX_PAYLOAD_DEPTH + 1, 253, 254, 255, 1000])
def test_a_payload_nested_too_deep_is_400_over_http(daemon: Daemon, depth: int) -> None:
    # 254 levels used to be accepted and then fail the write (503, retryable: the client
    # retried it forever); 255 to 1023 were "payload is not JSON: Recursion limit reached".
    expected = f"payload nests deeper than {MAX_PAYLOAD_DEPTH} levels"
    one = b'{"payload":' + _nested(depth) + b"}"
    assert expected in _refused(daemon, "POST", "/topics/deep/enqueue", one)
    batch = b'{"jobs":[{"payload":1},{"payload":' + _nested(depth) + b"}]}"
    assert expected in _refused(daemon, "POST", "/topics/deep/batch", batch)
    status, stats = daemon.request("GET", "/topics/deep/status")
    assert (status, stats["total"]) == (200, 0)
    _no_errors_logged(daemon)


def test_a_payload_at_the_nesting_limit_is_kept(daemon: Daemon) -> None:
    raw = b'{"id":"at-limit","payload":' + _nested(MAX_PAYLOAD_DEPTH) + b"}"
    assert daemon.request("POST", "/topics/deeplimit/enqueue", data=raw)[0] == 201
    status, body = daemon.request("POST", "/topics/deeplimit/claim", {"worker_id": "w"})
    assert status == 200, body
    payload = body["job"]["payload"]
    for _ in range(MAX_PAYLOAD_DEPTH - 1):
        payload = payload[0]
    assert payload == []


@pytest.mark.parametrize("depth", [MAX_PAYLOAD_DEPTH, MAX_PAYLOAD_DEPTH + 1, 253, 254, 255, 1000])
def test_a_pushed_value_nested_deep_comes_back_byte_exact(
    daemon: Daemon, client: redis.Redis, depth: int
) -> None:
    # Too deep to store as a JSON value: kept as the text it is, as any value that does
    # not round-trip exactly.
    key = f"deep{depth}"
    assert client.lpush(key, _nested(depth)) == 1
    assert client.rpop(key) == _nested(depth)
    _no_errors_logged(daemon)


def test_a_nack_error_too_long_is_400_and_the_longest_is_kept(daemon: Daemon) -> None:
    for job_id in ("e1", "e2"):
        status, _ = daemon.request("POST", "/topics/errs/enqueue", {"id": job_id, "payload": 1})
        assert status == 201
    assert daemon.request("POST", "/topics/errs/claim", {"worker_id": "w", "count": 2})[0] == 200
    status, reply = daemon.request(
        "POST", "/topics/errs/nack", {"job_id": "e1", "error": "x" * (MAX_ERROR_CHARS + 1)}
    )
    assert (status, reply["code"]) == (400, "bad_request"), reply
    assert f"at most {MAX_ERROR_CHARS} characters" in reply["error"]
    status, body = daemon.request("GET", "/topics/errs/jobs/e1")
    assert (status, body["job"]["status"]) == (200, "claimed")  # the claim is kept

    longest = "é" * MAX_ERROR_CHARS
    status, _ = daemon.request("POST", "/topics/errs/nack", {"job_id": "e2", "error": longest})
    assert status == 200
    assert daemon.request("GET", "/topics/errs/jobs/e2")[1]["job"]["last_error"] == longest


def test_openapi_shows_the_error_length(daemon: Daemon) -> None:
    status, schema = daemon.request("GET", "/openapi.json")
    assert status == 200
    error = schema["components"]["schemas"]["NackRequest"]["properties"]["error"]
    assert MAX_ERROR_CHARS in [option.get("maxLength") for option in error["anyOf"]]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/topics/nobody/jobs/n1/requeue"),
        ("DELETE", "/topics/nobody/jobs/n1"),
        ("POST", "/topics/nobody/reset-invalid"),
    ],
)
@pytest.mark.parametrize("raw", [b'{"junk":1}', b"not json", b"{}"])
def test_a_body_sent_to_a_route_that_takes_none_is_400(
    daemon: Daemon, method: str, path: str, raw: bytes
) -> None:
    assert "this route takes no body" in _refused(daemon, method, path, raw)


def test_bodiless_routes_still_work_without_a_body(daemon: Daemon) -> None:
    assert daemon.request("POST", "/topics/nobody/enqueue", {"id": "n2", "payload": 1})[0] == 201
    status, body = daemon.request("DELETE", "/topics/nobody/jobs/n2")
    assert status == 200, body
    status, body = daemon.request("DELETE", "/topics/nobody/jobs/n2", data=b"")
    assert status == 404, body


@pytest.mark.parametrize(
    ("path", "name", "known"),
    [
        ("/topics/q/jobs?foo=1", "foo", "status, limit, after"),
        ("/topics/q/status?limit=1", "limit", "it takes none"),
        ("/topics?x=", "x", "it takes none"),
    ],
)
def test_an_unknown_query_parameter_is_400_naming_the_known_ones(
    daemon: Daemon, path: str, name: str, known: str
) -> None:
    message = _refused(daemon, "GET", path)
    assert f"unknown query parameter {name!r}" in message and known in message


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"worker_id": "w", "count": None}, 1),
        ({"worker_id": "w", "count": None, "wait_seconds": None}, 1),
    ],
)
def test_null_means_not_given(daemon: Daemon, body: dict[str, Any], expected: int) -> None:
    for n in range(2):
        daemon.request("POST", "/topics/nulls/enqueue", {"payload": n})
    status, reply = daemon.request("POST", "/topics/nulls/claim", body)
    assert status == 200, reply
    assert len(reply["jobs"]) == expected
