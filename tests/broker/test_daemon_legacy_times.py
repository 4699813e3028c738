"""A stored job whose time no datetime can hold, loaded by a real daemon.

tests/broker/fixtures/legacy-far-future.json was written by the broker before numbers had
ranges: `{"id": "far-future", "payload": ..., "delay_seconds": 1e15}` was stored with
`available_at: "31690765-06-05T..."`, and after a restart every request to the topic got
503. Now the broker reports that job (a warning naming topic and job), reads its time as
the latest there is, keeps serving the topic, and stores the repaired time at the next
write (README, "HTTP API").
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from common.store.localfs import LocalFSStore
from tests.support.daemon import Daemon, start_daemon

from .daemon_helpers import stored_document

pytestmark = pytest.mark.slow  # every test here starts processes

FIXTURE = Path(__file__).parent / "fixtures" / "legacy-far-future.json"
LATEST = "9999-12-31T23:59:59.999Z"
WARNING = "job time out of range topic=legacy job=far-future fields=available_at"


def _warned(daemon: Daemon) -> bool:
    return any(WARNING in line for line in list(daemon.log))


def _wait_for_warning(daemon: Daemon, deadline: float = 60.0) -> None:
    end = time.monotonic() + deadline
    while not _warned(daemon):
        assert time.monotonic() < end, daemon.log_text()
        time.sleep(0.05)


def test_a_job_beyond_the_year_9999_is_reported_and_the_topic_stays_usable(
    tmp_path: Path,
) -> None:
    stored = tmp_path / "topics" / "legacy.json"
    stored.parent.mkdir()
    shutil.copy(FIXTURE, stored)
    assert "31690765-" in stored.read_text()

    daemon = start_daemon("--dir", str(tmp_path))
    try:
        status, stats = daemon.request("GET", "/topics/legacy/status")
        assert status == 200, stats
        assert (stats["pending"], stats["delayed"]) == (
            1,
            1,
        )  # the far-future job is delayed, not pending
        _wait_for_warning(daemon)
        warning = next(line for line in daemon.log if WARNING in line)
        assert "level=warning" in warning and LATEST in warning

        status, reply = daemon.request("GET", "/topics/legacy/jobs/far-future")
        assert (status, reply["job"]["available_at"]) == (200, LATEST)
        status, reply = daemon.request("POST", "/topics/legacy/claim", {"worker_id": "w"})
        assert (status, reply["job"]["id"]) == (200, "ordinary")
        assert daemon.request("POST", "/topics/legacy/ack", {"job_id": "ordinary"})[0] == 200
        # The write above stored the repaired time.
        text = json.dumps(stored_document(LocalFSStore(tmp_path), "legacy"))
        assert "31690765-" not in text and LATEST in text
        # The job can still be removed by hand, as the warning suggests.
        assert daemon.request("DELETE", "/topics/legacy/jobs/far-future")[0] == 200
    finally:
        assert daemon.stop() == 0

    again = start_daemon("--dir", str(tmp_path))
    try:
        status, stats = again.request("GET", "/topics/legacy/status")
        assert (status, stats["total"], stats["completed"]) == (200, 1, 1)
        assert not _warned(again)
    finally:
        again.stop()


def test_the_repaired_job_is_kept_when_nothing_else_changes(tmp_path: Path) -> None:
    stored = tmp_path / "topics" / "legacy.json"
    stored.parent.mkdir()
    shutil.copy(FIXTURE, stored)
    daemon = start_daemon("--dir", str(tmp_path))
    try:
        status, page = daemon.request("GET", "/topics/legacy/jobs")
        assert status == 200
        assert [job["id"] for job in page["jobs"]] == ["far-future", "ordinary"]
        assert page["jobs"][0]["payload"] == {"note": "enqueued with delay_seconds 1e15"}
        status, _ = daemon.request("GET", "/topics/legacy/document")
        assert status == 200
    finally:
        assert daemon.stop() == 0
    assert "31690765-" in stored.read_text()  # reading alone writes nothing
