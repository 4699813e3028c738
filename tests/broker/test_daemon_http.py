"""The seed README's HTTP flow against the daemon subprocess, on every backend."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.daemon import Daemon


@pytest.fixture(params=["memfs", "localfs", "s3"])
def backend_flags(request: pytest.FixtureRequest, tmp_path: Path) -> list[str]:
    if request.param == "memfs":
        return ["-backend", "memfs"]
    if request.param == "localfs":
        return ["-backend", "localfs", "-dir", str(tmp_path / "data")]
    endpoint = request.getfixturevalue("moto_server").endpoint_url
    bucket = request.getfixturevalue("s3_bucket")
    return ["-backend", "s3", "-bucket", bucket, "--s3-endpoint", endpoint]


def test_seed_http_flow(daemon_factory: Callable[..., Daemon], backend_flags: list[str]) -> None:
    d = daemon_factory(*backend_flags)
    status, body = d.request("POST", "/topics/orders/enqueue", {"payload": {"item": "book"}})
    assert status == 201 and body["created"] is True
    auto_id = body["id"]
    status, body = d.request(
        "POST", "/topics/orders/enqueue", {"id": "job-1", "payload": {"item": "pen"}}
    )
    assert (status, body) == (201, {"id": "job-1", "created": True})
    status, body = d.request("POST", "/topics/orders/enqueue", {"id": "job-1", "payload": 1})
    assert (status, body) == (200, {"id": "job-1", "created": False})

    status, body = d.request("POST", "/topics/orders/claim", {"worker_id": "worker-1"})
    assert status == 200 and body["job"]["id"] == auto_id
    assert body["job"]["status"] == "claimed" and body["job"]["claimed_by"] == "worker-1"
    status, body = d.request("POST", "/topics/orders/heartbeat", {"job_id": auto_id})
    assert status == 200 and body["job"]["status"] == "claimed"
    status, body = d.request("POST", "/topics/orders/ack", {"job_id": auto_id})
    assert status == 200 and body["job"]["status"] == "completed"

    status, body = d.request("POST", "/topics/orders/claim", {"worker_id": "worker-1"})
    assert status == 200 and body["job"]["id"] == "job-1"
    status, body = d.request("POST", "/topics/orders/nack", {"job_id": "job-1", "error": "x"})
    assert status == 200 and body["job"]["status"] == "pending"

    status, body = d.request("GET", "/topics/orders/status")
    assert status == 200
    counts = ("pending", "delayed", "claimed", "completed", "total", "dead")
    assert {k: body[k] for k in counts} == {
        "pending": 0,
        "delayed": 1,  # nacked without a delay: waiting out the retry backoff
        "claimed": 0,
        "completed": 1,
        "total": 2,
        "dead": 0,
    }
    status, body = d.request("GET", "/healthz")
    assert status == 200 and body["status"] == "ok" and body["active"] is True

    # The document on storage is what the broker acknowledged.
    status, doc = d.request("GET", "/topics/orders/document")
    assert status == 200 and {j["id"] for j in doc["jobs"]} == {auto_id, "job-1"}
    assert d.stop() == 0
