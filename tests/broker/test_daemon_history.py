"""Attempt history against a daemon: the attempts a job went through, over HTTP and as
stored, for nacks, the reaper, acks, an XCLAIM takeover, and the bound on attempts kept."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis

from common.models import HISTORY_ATTEMPTS
from tests.support.daemon import Daemon

from .daemon_helpers import eventually, job_status, stored_jobs

Factory = Callable[..., Daemon]


def call(daemon: Daemon, method: str, path: str, body: Any = None) -> Any:
    status, reply = daemon.request(method, path, body)
    assert status in (200, 201), (method, path, status, reply)
    return reply


def history(daemon: Daemon, topic: str, job_id: str) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = call(daemon, "GET", f"/topics/{topic}/jobs/{job_id}")[
        "job"
    ].get("history", [])
    return entries


def test_nack_reap_and_ack_each_record_their_attempt_in_order(
    daemon_factory: Factory, tmp_path: Path
) -> None:
    d = daemon_factory(
        "--dir", str(tmp_path), "--visibility-timeout", "0.5", "--reaper-period", "0.1",
    )  # fmt: skip
    call(d, "POST", "/topics/h/enqueue", {"id": "j", "payload": "x"})
    assert "history" not in call(d, "GET", "/topics/h/jobs/j")["job"]  # never claimed
    assert call(d, "POST", "/topics/h/claim", {"worker_id": "w1"})["job"]["id"] == "j"
    call(
        d,
        "POST",
        "/topics/h/nack",
        {"job_id": "j", "worker_id": "w1", "delay_seconds": 0, "error": "boom"},
    )
    assert call(d, "POST", "/topics/h/claim", {"worker_id": "w2"})["job"]["id"] == "j"
    eventually(lambda: job_status(d, "h", "j") == "pending")  # no heartbeat: reaped
    call(d, "POST", "/topics/h/claim", {"worker_id": "w3"})
    (*ended, in_flight) = history(d, "h", "j")
    assert in_flight["worker"] == "w3" and "ended_at" not in in_flight
    call(d, "POST", "/topics/h/ack", {"job_id": "j", "worker_id": "w3"})

    attempts = history(d, "h", "j")
    assert [(a["worker"], a["outcome"]) for a in attempts] == [
        ("w1", "nacked"),
        ("w2", "reaped"),
        ("w3", "acked"),
    ]
    assert attempts[0]["error"] == "boom" and "lease expired" in attempts[1]["error"]
    assert all(a["claimed_at"] <= a["ended_at"] for a in attempts)
    assert attempts[:-1] == ended  # ended attempts stay as they were
    (stored,) = stored_jobs(tmp_path, "h")
    assert stored["history"] == attempts


def test_more_attempts_than_kept_leave_the_newest(daemon_factory: Factory) -> None:
    d = daemon_factory("--backend", "memfs", "--max-attempts", "0")
    call(d, "POST", "/topics/n/enqueue", {"id": "j", "payload": 1})
    total = HISTORY_ATTEMPTS + 2
    for n in range(total):
        call(d, "POST", "/topics/n/claim", {"worker_id": f"w{n}"})
        call(d, "POST", "/topics/n/nack", {"job_id": "j", "delay_seconds": 0, "error": f"e{n}"})
    attempts = history(d, "n", "j")
    assert [a["error"] for a in attempts] == [f"e{n}" for n in range(2, total)]
    assert call(d, "GET", "/topics/n/jobs/j")["job"]["attempts"] == total


def test_an_xclaim_takeover_records_the_previous_consumer_as_lost(
    daemon_factory: Factory,
) -> None:
    d = daemon_factory("--backend", "memfs", redis=True)
    client = redis.Redis(port=d.redis_port or 0, socket_timeout=60, decode_responses=True)
    try:
        # No XGROUP CREATE: the topic's own queue, whose history is the job's (a named
        # group keeps its own in its delivery records).
        entry = str(client.xadd("s", {"a": "1"}))
        client.xreadgroup("g", "c1", {"s": ">"})
        assert client.xclaim("s", "g", "c2", 0, [entry], justid=True) == [entry]
        client.xack("s", "g", entry)
    finally:
        client.close()
    attempts = history(d, "s", entry)
    assert [(a["worker"], a["outcome"]) for a in attempts] == [("c1", "lost"), ("c2", "acked")]
    assert attempts[0]["error"] == "taken over by c2"
