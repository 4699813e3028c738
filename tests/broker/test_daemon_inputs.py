"""Numbers, unknown fields and big integers sent to a real daemon over HTTP: each one
outside its documented range is a 400 naming the field and the range, and changes nothing.
(README, "HTTP API"; the ranges are common/limits.py.)"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.daemon import Daemon, start_daemon

pytestmark = pytest.mark.slow  # every test here starts processes

YEAR = 31_536_000
DELAY_RANGE = f"must be a number of seconds from 0 to {YEAR}"


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    daemon = start_daemon("--dir", str(tmp_path_factory.mktemp("inputs")))
    yield daemon
    daemon.stop()
    assert daemon.proc.stderr is not None
    daemon.proc.stderr.close()


def _refused(daemon: Daemon, path: str, body: Any = None, *, raw: bytes | None = None) -> str:
    method = "GET" if body is None and raw is None else "POST"
    status, reply = daemon.request(method, path, body, data=raw)
    assert status == 400, (status, reply)
    assert reply["code"] == "bad_request"
    message: str = reply["error"]
    assert "\n" not in message
    return message


def _total(daemon: Daemon, topic: str) -> int:
    status, stats = daemon.request("GET", f"/topics/{topic}/status")
    assert status == 200
    total: int = stats["total"]
    return total


@pytest.mark.parametrize(
    ("body", "text"),
    [
        ({"payload": 1, "delay_seconds": 1e15}, f"delay_seconds {DELAY_RANGE}, got 1000000"),
        ({"payload": 1, "delay_seconds": 1e300}, f"delay_seconds {DELAY_RANGE}"),
        ({"payload": 1, "delay_seconds": YEAR + 1}, f"delay_seconds {DELAY_RANGE}, got {YEAR + 1}"),
        ({"payload": 1, "delay_seconds": -1}, f"delay_seconds {DELAY_RANGE}, got -1"),
        ({"payload": 1, "delay_seconds": True}, f"delay_seconds {DELAY_RANGE}, got True"),
        ({"payload": 1, "delay_seconds": "5"}, f"delay_seconds {DELAY_RANGE}, got '5'"),
        ({"payload": 1, "id": "x" * 257}, "at most 256 characters"),
        ({"payload": 1, "id": ""}, "'id'"),
    ],
)
def test_enqueue_out_of_range_is_400_and_adds_nothing(
    daemon: Daemon, body: dict[str, Any], text: str
) -> None:
    assert text in _refused(daemon, "/topics/ranges/enqueue", body)
    assert _total(daemon, "ranges") == 0


def test_json_infinity_and_nan_are_refused(daemon: Daemon) -> None:
    for raw in (b'{"payload": 1, "delay_seconds": 1e400}', b'{"payload": 1, "delay_seconds": NaN}'):
        assert "not valid JSON" in _refused(daemon, "/topics/ranges/enqueue", raw=raw)
    assert _total(daemon, "ranges") == 0


def test_longest_delay_is_accepted_and_survives_a_restart(tmp_path: Any) -> None:
    daemon = start_daemon("--dir", str(tmp_path))
    try:
        body = {"id": "year", "payload": 1, "delay_seconds": YEAR}
        assert daemon.request("POST", "/topics/far/enqueue", body)[0] == 201
    finally:
        assert daemon.stop() == 0
    again = start_daemon("--dir", str(tmp_path))
    try:
        status, stats = again.request("GET", "/topics/far/status")
        assert (status, stats["delayed"]) == (200, 1)
        status, reply = again.request("GET", "/topics/far/jobs/year")
        assert status == 200
        assert int(reply["job"]["available_at"][:4]) >= 2026
    finally:
        again.stop()


def test_nack_with_a_huge_delay_is_refused_and_keeps_the_claim(daemon: Daemon) -> None:
    assert daemon.request("POST", "/topics/nacks/enqueue", {"id": "j", "payload": 1})[0] == 201
    assert daemon.request("POST", "/topics/nacks/claim", {"worker_id": "w"})[0] == 200
    for delay in (1e15, 1e300, -5, False):
        body = {"job_id": "j", "delay_seconds": delay}
        assert "delay_seconds must be a number of seconds" in _refused(
            daemon, "/topics/nacks/nack", body
        )
    status, reply = daemon.request("GET", "/topics/nacks/jobs/j")
    assert (status, reply["job"]["status"], reply["job"]["claimed_by"]) == (200, "claimed", "w")
    assert (
        daemon.request("POST", "/topics/nacks/nack", {"job_id": "j", "delay_seconds": 1})[0] == 200
    )


@pytest.mark.parametrize(
    ("body", "text"),
    [
        ({"worker_id": "w", "count": 1001}, "count must be an integer from 1 to 1000, got 1001"),
        ({"worker_id": "w", "count": 0}, "count must be an integer from 1 to 1000, got 0"),
        ({"worker_id": "w", "count": True}, "count must be an integer from 1 to 1000, got True"),
        ({"worker_id": "w", "count": 2.5}, "count must be an integer from 1 to 1000, got 2.5"),
        (
            {"worker_id": "w", "wait_seconds": 301},
            "wait_seconds must be a number of seconds from 0 to 300",
        ),
        (
            {"worker_id": "w", "wait_seconds": -1},
            "wait_seconds must be a number of seconds from 0 to 300",
        ),
        ({"worker_id": "x" * 257}, "at most 256 characters"),
    ],
)
def test_claim_out_of_range_is_400(daemon: Daemon, body: dict[str, Any], text: str) -> None:
    assert text in _refused(daemon, "/topics/ranges/claim", body)


@pytest.mark.parametrize(
    ("path", "text"),
    [
        ("/topics/t/jobs?limit=1001", "query parameter 'limit' must be an integer from 1 to 1000"),
        ("/topics/t/jobs?limit=ten", "query parameter 'limit' must be an integer from 1 to 1000"),
        ("/topics/t/document?wait=inf", "query parameter 'wait' must be a number of seconds"),
        ("/topics/t/document?wait=301", "from 0 to 300, got '301'"),
    ],
)
def test_query_numbers_out_of_range_are_400(daemon: Daemon, path: str, text: str) -> None:
    assert text in _refused(daemon, path)


def test_a_bad_job_in_a_batch_refuses_the_whole_batch(daemon: Daemon) -> None:
    body = {"jobs": [{"payload": 1}, {"payload": 2, "delay_seconds": 1e15}]}
    message = _refused(daemon, "/topics/batched/batch", body)
    assert message.startswith(f"jobs[1]: delay_seconds {DELAY_RANGE}")
    assert _total(daemon, "batched") == 0
    too_many = {"jobs": [{"payload": 1}] * 10_001}
    assert "'jobs'" in _refused(daemon, "/topics/batched/batch", too_many)


# --- strict requests: an unknown field is an error naming the closest known one ------------


@pytest.mark.parametrize(
    ("route", "body", "text"),
    [
        (
            "enqueue",
            {"payload": 1, "delay_second": 5},
            "unknown field 'delay_second': did you mean 'delay_seconds'?",
        ),
        ("enqueue", {"payload": 1, "job_id": "j"}, "unknown field 'job_id': did you mean 'id'?"),
        (
            "claim",
            {"worker_id": "w", "wait": 5},
            "unknown field 'wait': did you mean 'wait_seconds'?",
        ),
        (
            "batch",
            {"jobs": [{"payload": 1}, {"payload": 1, "delay": 1}]},
            "unknown field 'jobs[1].delay': did you mean 'delay_seconds'?",
        ),
        (
            "ack",
            {"job_id": "j", "worker": "w"},
            "unknown field 'worker': did you mean 'worker_id'?",
        ),
        ("nack", {"job_id": "j", "errors": "x"}, "unknown field 'errors': did you mean 'error'?"),
        ("heartbeat", {"id": "j"}, "unknown field 'id'"),
    ],
)
def test_unknown_fields_are_400_naming_the_closest_known_one(
    daemon: Daemon, route: str, body: dict[str, Any], text: str
) -> None:
    message = _refused(daemon, f"/topics/strict/{route}", body)
    assert text in message
    assert "known fields are" in message
    assert _total(daemon, "strict") == 0


def test_the_seeds_bodies_still_work(daemon: Daemon) -> None:
    """The seed's README bodies (and null for an optional field) are accepted as before."""
    ok = [
        ("enqueue", {"id": "seed-1", "payload": {"item": "book"}}, 201),
        ("enqueue", {"payload": {"item": "pen"}, "delay_seconds": None}, 201),
        ("claim", {"worker_id": "worker-1"}, 200),
        ("heartbeat", {"job_id": "seed-1"}, 200),
        ("ack", {"job_id": "seed-1", "worker_id": "worker-1"}, 200),
        ("enqueue", {"id": "seed-3", "payload": 3}, 201),
        ("claim", {"worker_id": "worker-1", "count": 2, "wait_seconds": 0}, 200),
        ("nack", {"job_id": "seed-3"}, 200),  # retried after the backoff
    ]
    for route, body, expected in ok:
        status, reply = daemon.request("POST", f"/topics/seed/{route}", body)
        assert status == expected, (route, status, reply)


# --- integers beyond 64 bits -------------------------------------------------------------


def test_an_integer_beyond_64_bits_is_refused_not_rounded(daemon: Daemon) -> None:
    big = b'{"payload": {"n": 123456789012345678901234}}'
    message = _refused(daemon, "/topics/ints/enqueue", raw=big)
    assert "123456789012345678901234 does not fit in 64 bits" in message
    assert "send it as a string" in message
    negative = b'{"jobs": [{"payload": [-9223372036854775809]}]}'
    assert "does not fit in 64 bits" in _refused(daemon, "/topics/ints/batch", raw=negative)
    deep = b'{"payload": %s12345678901234567890123%s}' % (b"[" * 5000, b"]" * 5000)
    assert "not valid JSON" in _refused(daemon, "/topics/ints/enqueue", raw=deep)
    assert _total(daemon, "ints") == 0


def test_64_bit_integers_come_back_exactly(daemon: Daemon) -> None:
    edges = [2**64 - 1, -(2**63), 2**53 + 1]
    raw = b'{"id": "edges", "payload": [%s]}' % b",".join(b"%d" % n for n in edges)
    assert daemon.request("POST", "/topics/ints/enqueue", data=raw)[0] == 201
    status, reply = daemon.request("GET", "/topics/ints/jobs/edges")
    assert status == 200
    assert reply["job"]["payload"] == edges
    # A long digit run inside a string is text, not an integer.
    body = {"id": "text", "payload": "123456789012345678901234567890"}
    assert daemon.request("POST", "/topics/ints/enqueue", body)[0] == 201
