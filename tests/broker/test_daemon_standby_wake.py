"""Two real brokers on one store: clients waiting on one broker (long-poll claim, BRPOP,
the `/document` long poll) are woken by the other broker's writes, and `/document` never
serves a generation older than storage's."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.support.daemon import Daemon

from .daemon_helpers import eventually, metric

LONG_WAIT = 60  # a wait that ends at its deadline fails these tests by its answer
WOKEN_WITHIN = 30.0  # woken by the other broker's write: well before LONG_WAIT


@pytest.fixture(params=["localfs", "s3"])
def shared_store(request: pytest.FixtureRequest, tmp_path: Path) -> list[str]:
    """Flags of a store two brokers share."""
    if request.param == "localfs":
        return ["--backend", "localfs", "--dir", str(tmp_path / "data")]
    endpoint = request.getfixturevalue("moto_server").endpoint_url
    bucket = request.getfixturevalue("s3_bucket")
    return ["--backend", "s3", "--bucket", bucket, "--s3-endpoint", endpoint]


def pair(factory: Callable[..., Daemon], flags: list[str]) -> tuple[Daemon, Daemon]:
    flags = [*flags, "--visibility-timeout", "300"]
    return factory(*flags, redis=True), factory(*flags, redis=True)


def waiting_on(daemon: Daemon, count: int = 1) -> None:
    """Until `count` clients wait on the broker's topics (so it has answered nothing yet)."""
    eventually(lambda: metric(daemon, "sq_long_polls") == count)


def enqueue(daemon: Daemon, job_id: str) -> None:
    status, body = daemon.request("POST", "/topics/t/enqueue", {"id": job_id, "payload": 1})
    assert status == 201, body


def test_a_long_poll_claim_is_woken_by_the_other_brokers_enqueue(
    daemon_factory: Callable[..., Daemon], shared_store: list[str]
) -> None:
    a, b = pair(daemon_factory, shared_store)
    enqueue(a, "first")
    assert b.request("POST", "/topics/t/claim", {"worker_id": "w"})[0] == 200  # b's copy
    claim = {"worker_id": "w", "wait_seconds": LONG_WAIT}
    with ThreadPoolExecutor(1) as pool:
        started = time.monotonic()
        answer = pool.submit(b.request, "POST", "/topics/t/claim", claim, timeout=LONG_WAIT + 30)
        waiting_on(b)
        enqueue(a, "j")
        status, body = answer.result()
    assert status == 200, body  # was 404 empty at the deadline, decided on b's old copy
    assert body["job"]["id"] == "j"
    assert time.monotonic() - started < WOKEN_WITHIN


def test_brpop_is_woken_by_the_other_brokers_lpush(
    daemon_factory: Callable[..., Daemon], tmp_path: Path
) -> None:
    a, b = pair(daemon_factory, ["--backend", "localfs", "--dir", str(tmp_path)])
    assert a.redis_port is not None and b.redis_port is not None
    on_a = redis.Redis(port=a.redis_port, socket_timeout=30)
    on_b = redis.Redis(port=b.redis_port, socket_timeout=LONG_WAIT)
    try:
        assert on_a.lpush("t", "x") == 1
        assert on_b.rpop("t") == b"x"  # b has the topic, from its own write
        with ThreadPoolExecutor(1) as pool:
            started = time.monotonic()
            popped = pool.submit(on_b.brpop, ["t"], 0)  # blocks for ever
            waiting_on(b)
            on_a.lpush("t", "y")
            assert popped.result() == (b"t", b"y")  # was never woken: a timeout
        assert time.monotonic() - started < WOKEN_WITHIN
    finally:
        on_a.close()
        on_b.close()


def get_document(
    daemon: Daemon, etag: str | None = None, wait: float = 0
) -> tuple[int, dict[str, str], Any]:
    """GET /topics/t/document: status, headers and the parsed document (None for 304)."""
    query = f"?wait={wait}" if wait else ""
    request = urllib.request.Request(f"{daemon.http_url}/topics/t/document{query}")
    if etag is not None:
        request.add_header("If-None-Match", etag)
    try:
        with urllib.request.urlopen(request, timeout=wait + 30) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), None


def test_document_is_storages_and_its_long_poll_sees_the_other_brokers_writes(
    daemon_factory: Callable[..., Daemon], tmp_path: Path
) -> None:
    a, b = pair(daemon_factory, ["--backend", "localfs", "--dir", str(tmp_path)])
    enqueue(b, "j1")  # b's last write: generation 1
    for n in range(2, 5):
        enqueue(a, f"j{n}")
    status, headers, document = get_document(b)
    assert status == 200 and headers["X-Generation"] == "4"  # was 1: b's old copy
    assert document["generation"] == 4 and len(document["jobs"]) == 4

    with ThreadPoolExecutor(1) as pool:
        started = time.monotonic()
        answer = pool.submit(get_document, b, headers["ETag"], LONG_WAIT)
        waiting_on(b)
        enqueue(a, "j5")
        status, headers, document = answer.result()
    assert status == 200 and headers["X-Generation"] == "5"  # was 304 at the deadline
    assert document["generation"] == 5
    assert time.monotonic() - started < WOKEN_WITHIN
