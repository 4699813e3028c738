"""Reaper, retries, long polls and the job routes against the daemon subprocess."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.support.daemon import Daemon

from .daemon_helpers import eventually, job_status, metric


def test_reaper_returns_then_buries_then_requeue_revives(
    daemon_factory: Callable[..., Daemon], tmp_path: Path
) -> None:
    d = daemon_factory(
        "--dir", str(tmp_path), "--visibility-timeout", "0.5", "--reaper-period", "0.1",
        "--max-attempts", "2",
    )  # fmt: skip
    d.request("POST", "/topics/r/enqueue", {"id": "j", "payload": "x"})
    assert d.request("POST", "/topics/r/claim", {"worker_id": "w1"})[0] == 200
    eventually(lambda: job_status(d, "r", "j") == "pending")  # no heartbeat: reaped
    status, body = d.request("POST", "/topics/r/ack", {"job_id": "j", "worker_id": "w1"})
    assert (status, body["code"]) == (409, "lease_lost")

    status, body = d.request("POST", "/topics/r/claim", {"worker_id": "w2"})
    assert status == 200 and body["job"]["attempts"] == 2
    eventually(lambda: job_status(d, "r", "j") == "dead")  # second expiry: max_attempts
    _, job = d.request("GET", "/topics/r/jobs/j")
    assert "lease expired" in job["job"]["last_error"]
    _, stats = d.request("GET", "/topics/r/status")
    assert (stats["dead"], stats["counters"]["reaped"], stats["counters"]["dead"]) == (1, 2, 1)

    status, body = d.request("POST", "/topics/r/jobs/j/requeue")
    assert status == 200 and body["job"]["status"] == "pending" and body["job"]["attempts"] == 0
    status, body = d.request("POST", "/topics/r/claim", {"worker_id": "w3"})
    assert status == 200 and body["job"]["id"] == "j"


def test_heartbeats_keep_a_claim_alive(
    daemon_factory: Callable[..., Daemon], tmp_path: Path
) -> None:
    d = daemon_factory(
        "--dir", str(tmp_path), "--visibility-timeout", "2", "--reaper-period", "0.1"
    )
    d.request("POST", "/topics/h/enqueue", {"id": "j", "payload": 1})
    d.request("POST", "/topics/h/claim", {"worker_id": "w"})
    for _ in range(8):  # 3.2 s in all, past the timeout; each heartbeat well within it
        time.sleep(0.4)
        assert d.request("POST", "/topics/h/heartbeat", {"job_id": "j", "worker_id": "w"})[0] == 200
    assert job_status(d, "h", "j") == "claimed"


def test_nack_until_dead_with_max_attempts(daemon_factory: Callable[..., Daemon]) -> None:
    d = daemon_factory("-backend", "memfs", "--max-attempts", "2")
    d.request("POST", "/topics/n/enqueue", {"id": "j", "payload": 1})
    for expected in ("pending", "dead"):
        d.request("POST", "/topics/n/claim", {"worker_id": "w"})
        nack = {"job_id": "j", "error": "bad", "delay_seconds": 0}
        status, body = d.request("POST", "/topics/n/nack", nack)
        assert status == 200 and body["job"]["status"] == expected
    assert body["job"]["last_error"] == "bad"


def test_long_poll_claim_wakes_on_enqueue(daemon_factory: Callable[..., Daemon]) -> None:
    d = daemon_factory("-backend", "memfs")
    result: dict[str, Any] = {}

    def claim() -> None:
        result["reply"] = d.request(
            "POST", "/topics/lp/claim", {"worker_id": "w", "wait_seconds": 20}
        )

    waiter = threading.Thread(target=claim)
    waiter.start()
    eventually(lambda: metric(d, "sq_long_polls") == 1)
    assert waiter.is_alive()
    d.request("POST", "/topics/lp/enqueue", {"id": "j", "payload": 1})
    waiter.join(60)
    status, body = result["reply"]
    assert status == 200 and body["job"]["id"] == "j"
    status, body = d.request("POST", "/topics/lp/claim", {"worker_id": "w", "wait_seconds": 0.2})
    assert (status, body["code"]) == (404, "empty")


def test_delayed_jobs_and_batch_and_listing(daemon_factory: Callable[..., Daemon]) -> None:
    d = daemon_factory("-backend", "memfs")
    status, body = d.request(
        "POST",
        "/topics/b/batch",
        {"jobs": [{"id": "a", "payload": 1}, {"payload": 2}, {"id": "a", "payload": 3}]},
    )
    assert status == 201 and body["created"] == [True, True, False] and body["ids"][0] == "a"
    d.request("POST", "/topics/b/enqueue", {"id": "later", "payload": 4, "delay_seconds": 0.5})
    _, stats = d.request("GET", "/topics/b/status")
    assert (stats["pending"], stats["delayed"]) == (3, 1)

    _, page = d.request("GET", "/topics/b/jobs?limit=2")
    assert [j["id"] for j in page["jobs"]] == ["a", body["ids"][1]] and page["next"]
    _, rest = d.request("GET", f"/topics/b/jobs?limit=2&after={page['next']}")
    assert [j["id"] for j in rest["jobs"]] == ["later"] and rest["next"] is None
    _, claimed = d.request("POST", "/topics/b/claim", {"worker_id": "w", "count": 5})
    assert [j["id"] for j in claimed["jobs"]] == ["a", body["ids"][1]]
    _, later = d.request("POST", "/topics/b/claim", {"worker_id": "w", "wait_seconds": 10})
    assert later["job"]["id"] == "later"
    _, pending = d.request("GET", "/topics/b/jobs?status=claimed")
    assert len(pending["jobs"]) == 3

    d.request("POST", "/topics/b/enqueue", {"id": "gone", "payload": 5})
    assert d.request("DELETE", "/topics/b/jobs/gone")[0] == 200
    assert d.request("GET", "/topics/b/jobs/gone")[1]["code"] == "job_not_found"
    status, body = d.request("DELETE", "/topics/b/jobs/a")
    assert (status, body["code"]) == (409, "wrong_state")
    _, listing = d.request("GET", "/topics")
    assert [t["topic"] for t in listing["topics"]] == ["b"]


def test_document_long_poll_and_etag(daemon_factory: Callable[..., Daemon]) -> None:
    d = daemon_factory("-backend", "memfs")
    status, body = d.request("GET", "/topics/doc/document")
    assert (status, body["code"]) == (404, "not_found")
    d.request("POST", "/topics/doc/enqueue", {"payload": 1})
    status, body = d.request("GET", "/topics/doc/document")
    assert status == 200 and body["generation"] == 1
    etag = _etag(d)
    assert d.request("GET", "/topics/doc/document", headers={"If-None-Match": etag})[0] == 304
    result: dict[str, Any] = {}

    def tail() -> None:
        result["reply"] = d.request(
            "GET", "/topics/doc/document?wait=20", headers={"If-None-Match": etag}
        )

    waiter = threading.Thread(target=tail)
    waiter.start()
    eventually(lambda: metric(d, "sq_long_polls") == 1)
    d.request("POST", "/topics/doc/enqueue", {"payload": 2})
    waiter.join(60)
    status, body = result["reply"]
    assert status == 200 and body["generation"] == 2
    start = time.monotonic()
    status, _ = d.request(
        "GET", "/topics/doc/document?wait=0.3", headers={"If-None-Match": _etag(d)}
    )
    assert status == 304 and time.monotonic() - start >= 0.25


def _etag(d: Daemon) -> str:
    import urllib.request

    with urllib.request.urlopen(d.http_url + "/topics/doc/document") as response:
        return str(response.headers["ETag"])
