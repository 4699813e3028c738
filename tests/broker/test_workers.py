"""Workers seen on a topic: the in-memory log (a fake clock) and the route and CLI command
against a daemon."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from broker import workers
from broker.workers import REMEMBER_SECONDS, WorkerLog
from common.models import Job, JobStatus, utc_now
from tests.support.cli import run_cli
from tests.support.daemon import Daemon


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def claim(job_id: str, worker: str) -> Job:
    now = utc_now()
    return Job(
        id=job_id,
        status=JobStatus.CLAIMED,
        payload=1,
        created_at=now,
        available_at=now,
        attempts=1,
        claimed_by=worker,
        claimed_at=now,
        last_heartbeat=now,
    )


def test_a_worker_is_forgotten_once_idle_unless_it_holds_a_claim() -> None:
    clock = Clock()
    log = WorkerLog(clock)
    log.saw("idle", claimed=1, acked=1)
    log.saw("holder", claimed=1)
    clock.now += REMEMBER_SECONDS - 1
    assert {row["worker"] for row in log.report([claim("j", "holder")])} == {"idle", "holder"}
    clock.now += 2
    rows = log.report([claim("j", "holder")])
    assert [(r["worker"], r["claims"], r["claimed"]) for r in rows] == [("holder", 1, 1)]
    log.saw(None, acked=1)  # a job nobody held: nothing to remember
    assert len(log.report([])) == 0


def test_memory_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(workers, "MAX_WORKERS", 3)
    log = WorkerLog(Clock())
    for n in range(5):
        log.saw(f"w{n}")
    assert sorted(row["worker"] for row in log.report([])) == ["w2", "w3", "w4"]


def test_workers_route_and_cli(daemon_factory: Callable[..., Daemon]) -> None:
    d = daemon_factory("--backend", "memfs")

    def call(method: str, path: str, body: Any = None) -> Any:
        status, reply = d.request(method, path, body)
        assert status in (200, 201), (path, status, reply)
        return reply

    call("POST", "/topics/w/batch", {"jobs": [{"id": f"j{n}", "payload": n} for n in range(3)]})
    call("POST", "/topics/w/claim", {"worker_id": "alpha", "count": 2})
    call("POST", "/topics/w/ack", {"job_id": "j0"})
    call("POST", "/topics/w/claim", {"worker_id": "beta"})
    call("POST", "/topics/w/nack", {"job_id": "j2", "worker_id": "beta", "delay_seconds": 0})
    call("POST", "/topics/w/heartbeat", {"job_id": "j1"})

    reply = call("GET", "/topics/w/workers")
    assert reply["remembered_seconds"] == REMEMBER_SECONDS
    rows = {row["worker"]: row for row in reply["workers"]}
    alpha, beta = rows["alpha"], rows["beta"]
    assert (alpha["claims"], alpha["jobs"], alpha["claimed"], alpha["acked"]) == (1, ["j1"], 2, 1)
    assert alpha["oldest_claim"] and alpha["last_heartbeat"]
    assert (beta["claims"], beta["claimed"], beta["nacked"], beta["acked"]) == (0, 1, 1, 0)
    assert [row["worker"] for row in reply["workers"]] == ["alpha", "beta"]  # latest first

    table = run_cli("-broker", d.http_url, "-topic", "w", "workers", "--format", "table")
    assert table.status == 0, table.stderr
    header, *lines = table.stdout.splitlines()
    assert header.split()[:3] == ["worker", "claims", "oldest_claim"]
    assert [line.split()[0] for line in lines] == ["alpha", "beta"]
