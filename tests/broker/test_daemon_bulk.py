"""Bulk actions and retry backoff against a daemon: purge (HTTP, CLI, Redis DEL) and
requeue-dead, each one commit; a failing job backing off, dying, requeued in bulk."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import redis

from tests.support.cli import run_cli
from tests.support.daemon import Daemon

Factory = Callable[..., Daemon]


def call(daemon: Daemon, method: str, path: str, body: Any = None, expect: int = 200) -> Any:
    status, reply = daemon.request(method, path, body)
    assert status == expect, (method, path, status, reply)
    return reply


def stats(daemon: Daemon, topic: str) -> dict[str, Any]:
    result: dict[str, Any] = call(daemon, "GET", f"/topics/{topic}/status")
    return result


def seconds(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def test_a_failing_job_backs_off_then_dies_then_is_requeued_in_bulk(
    daemon_factory: Factory,
) -> None:
    d = daemon_factory(
        "--backend", "memfs", "--max-attempts", "4", "--retry-base", "0.2", "--retry-cap", "0.6"
    )
    call(d, "POST", "/topics/f/enqueue", {"id": "flaky", "payload": 1}, 201)
    # The broker picks the time of the nack between `before` and `after`, so each wait
    # (available_at - that time) lies between available_at - after and available_at - before.
    waits: list[tuple[float, float]] = []
    for _ in range(4):
        claim = {"worker_id": "w", "wait_seconds": 30}  # long-polls until the backoff ends
        assert call(d, "POST", "/topics/f/claim", claim)["job"]["id"] == "flaky"
        before = time.time()
        job = call(d, "POST", "/topics/f/nack", {"job_id": "flaky", "error": "upstream down"})
        after = time.time()
        job = job["job"]
        if job["status"] == "pending":
            available = seconds(job["available_at"])
            waits.append((available - after, available - before))
    assert job["status"] == "dead" and job["attempts"] == 4
    # 0.2 s doubled per attempt, capped at 0.6 s, each between half and all of it
    for (shortest, longest), ceiling in zip(waits, (0.2, 0.4, 0.6), strict=True):
        assert shortest - 0.01 <= ceiling and longest + 0.01 >= ceiling / 2, waits
    assert waits[2][1] > 0.29  # the third wait is at least half of the 0.6 s cap

    call(d, "POST", "/topics/f/enqueue", {"id": "other", "payload": 2}, 201)
    generation = stats(d, "f")["generation"]
    assert call(d, "POST", "/topics/f/requeue-dead?error=nope") == {"requeued": 0}
    assert call(d, "POST", "/topics/f/requeue-dead?error=upstream") == {"requeued": 1}
    assert stats(d, "f")["generation"] == generation + 1  # one commit (none for 0)
    requeued = call(d, "GET", "/topics/f/jobs/flaky")["job"]
    assert (requeued["status"], requeued["attempts"]) == ("pending", 0)
    assert [j["id"] for j in call(d, "GET", "/topics/f/jobs")["jobs"]] == ["flaky", "other"]


def test_purge_removes_all_or_one_status_in_one_commit(daemon_factory: Factory) -> None:
    d = daemon_factory("--backend", "memfs")
    call(
        d,
        "POST",
        "/topics/p/batch",
        {"jobs": [{"id": f"j{n}", "payload": n} for n in range(5)]},
        201,
    )
    call(d, "POST", "/topics/p/claim", {"worker_id": "w", "count": 2})
    call(d, "POST", "/topics/p/ack", {"job_id": "j0"})
    before = stats(d, "p")
    assert (before["pending"], before["claimed"], before["completed"]) == (3, 1, 1)

    assert call(d, "DELETE", "/topics/p?status=pending") == {"removed": 3}
    after = stats(d, "p")
    assert after["generation"] == before["generation"] + 1
    assert (after["total"], after["counters"]["purged"]) == (2, 3)
    # the worker holding a purged claim learns it at its ack
    assert call(d, "DELETE", "/topics/p") == {"removed": 2}
    call(d, "POST", "/topics/p/ack", {"job_id": "j1"}, expect=404)
    final = stats(d, "p")
    assert (final["total"], final["counters"]["purged"], final["counters"]["enqueued"]) == (0, 5, 5)

    bad = call(d, "DELETE", "/topics/p?status=sleeping", expect=400)
    assert "status must be one of" in bad["error"]
    assert (
        "unknown query parameter" in call(d, "DELETE", "/topics/p?stat=dead", expect=400)["error"]
    )


def test_cli_purge_and_requeue_dead(daemon_factory: Factory) -> None:
    d = daemon_factory("--backend", "memfs", "--max-attempts", "1")
    for n in range(3):
        call(d, "POST", "/topics/c/enqueue", {"id": f"j{n}", "payload": n}, 201)
    call(d, "POST", "/topics/c/claim", {"worker_id": "w", "count": 2})
    for job_id in ("j0", "j1"):
        call(d, "POST", "/topics/c/nack", {"job_id": job_id, "error": f"failed {job_id}"})
    sq = ("-broker", d.http_url, "-topic", "c")
    requeued = run_cli(*sq, "requeue-dead", "--error", "failed j1")
    assert requeued.status == 0, requeued.stderr
    assert requeued.json() == {"requeued": 1}
    purged = run_cli(*sq, "purge", "--status", "dead", "--format", "table")
    assert (purged.status, purged.stdout.strip()) == (0, "purged 1 dead jobs from c")
    assert stats(d, "c")["pending"] == 2
    assert run_cli(*sq, "purge").json() == {"removed": 2}
    assert run_cli(*sq, "purge", "--status", "asleep").status == 2


def test_redis_del_purges_topics(daemon_factory: Factory) -> None:
    d = daemon_factory("--backend", "memfs", redis=True)
    client = redis.Redis(port=d.redis_port or 0, socket_timeout=60)
    try:
        client.rpush("q1", b"a", b"b", b"c")
        client.rpush("q2", b"x")
        generation = stats(d, "q1")["generation"]
        assert client.delete("q1", "q2", "never-written") == 2
        assert client.llen("q1") == 0 and client.llen("q2") == 0
        after = stats(d, "q1")
        assert after["generation"] == generation + 1  # one commit for the topic
        assert after["counters"]["purged"] == 3
        assert client.unlink("q1") == 0  # nothing left to remove
    finally:
        client.close()
