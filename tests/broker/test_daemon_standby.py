"""Two real brokers on one directory: a broker that has not seen another's writes looks at
storage before it refuses a request (HTTP and RESP)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import redis

from tests.support.daemon import Daemon

from .daemon_helpers import stored_jobs


def pair(factory: Callable[..., Daemon], data: Path) -> tuple[Daemon, Daemon]:
    flags = ["--backend", "localfs", "--dir", str(data), "--visibility-timeout", "300"]
    return factory(*flags), factory(*flags, redis=True)


def test_heartbeat_and_ack_on_the_other_broker(
    daemon_factory: Callable[..., Daemon], tmp_path: Path
) -> None:
    a, b = pair(daemon_factory, tmp_path)
    assert a.request("POST", "/topics/t/enqueue", {"id": "j", "payload": 1})[0] == 201
    assert b.request("GET", "/topics/t/jobs/j")[0] == 200  # b has loaded the topic: pending
    status, body = a.request("POST", "/topics/t/claim", {"worker_id": "w"})
    assert status == 200 and [job["id"] for job in body["jobs"]] == ["j"]

    lease = {"job_id": "j", "worker_id": "w"}
    status, body = b.request("POST", "/topics/t/heartbeat", lease)
    assert status == 200, body  # was 409 wrong_state from b's old copy
    status, body = b.request("POST", "/topics/t/ack", lease)
    assert status == 200 and body["job"]["status"] == "completed", body
    status, body = b.request("POST", "/topics/t/ack", lease)
    assert status == 409 and body["code"] == "wrong_state"  # a refusal that stands


def test_a_job_enqueued_or_claimed_on_the_other_broker_is_found(
    daemon_factory: Callable[..., Daemon], tmp_path: Path
) -> None:
    a, b = pair(daemon_factory, tmp_path)
    assert a.request("POST", "/topics/t/enqueue", {"id": "first", "payload": 1})[0] == 201
    assert b.request("GET", "/topics/t/jobs/first")[0] == 200  # b's copy: first pending
    assert a.request("POST", "/topics/t/claim", {"worker_id": "w"})[0] == 200

    # Over RESP: XACK counts the job claimed through the other broker (was 0).
    assert b.redis_port is not None
    client = redis.Redis(port=b.redis_port, socket_timeout=30)
    try:
        assert client.xack("t", "group", "first", "nobody") == 1
    finally:
        client.close()

    assert a.request("POST", "/topics/t/enqueue", {"id": "j", "payload": 2})[0] == 201
    status, body = b.request("GET", "/topics/t/jobs/j")
    assert status == 200 and body["job"]["id"] == "j", body  # was 404
    status, body = b.request("GET", "/topics/t/jobs/nobody")
    assert status == 404 and body["code"] == "job_not_found"
    assert [job["status"] for job in stored_jobs(tmp_path, "t")] == ["completed", "pending"]
