"""Group commit and durability against the daemon subprocess."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.support.daemon import Daemon

from .daemon_helpers import metric, stored_jobs


def test_concurrent_enqueues_share_commits(
    daemon_factory: Callable[..., Daemon], tmp_path: Path
) -> None:
    d = daemon_factory("--dir", str(tmp_path))
    with ThreadPoolExecutor(max_workers=50) as pool:
        results = list(
            pool.map(
                lambda n: d.request("POST", "/topics/burst/enqueue", {"payload": n}), range(200)
            )
        )
    assert all(status == 201 for status, _ in results)
    commits = metric(d, "sq_commits_total")
    assert 1 <= commits < 100, commits  # 200 requests, far fewer writes
    ids = {body["id"] for _, body in results}
    jobs = stored_jobs(tmp_path, "burst")
    assert {job["id"] for job in jobs} == ids
    assert metric(d, "sq_commit_batch_size_count") == commits
    # Every job's JSON was written by at least one commit.
    least = sum(len(json.dumps(job, separators=(",", ":"))) for job in jobs)
    assert metric(d, "sq_commit_bytes_total") >= least


@pytest.mark.parametrize(
    "size_flags", [[], ["--checkpoint-bytes", "4096"]], ids=["whole", "checkpointed"]
)
def test_every_acknowledged_enqueue_survives_sigkill(
    daemon_factory: Callable[..., Daemon], tmp_path: Path, size_flags: list[str]
) -> None:
    d = daemon_factory("--dir", str(tmp_path), *size_flags)
    acknowledged: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def producer(worker: int) -> None:
        n = 0
        while not stop.is_set():
            job_id = f"w{worker}-{n}"
            n += 1
            try:
                status, _ = d.request(
                    "POST", "/topics/crash/enqueue", {"id": job_id, "payload": n}, timeout=5
                )
            except OSError:
                return  # the daemon died mid-request: not acknowledged
            if status in (200, 201):
                with lock:
                    acknowledged.append(job_id)

    threads = [threading.Thread(target=producer, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 60
    while len(acknowledged) < 150 and time.monotonic() < deadline:
        time.sleep(0.01)
    d.kill()  # SIGKILL in the middle of the burst
    stop.set()
    for thread in threads:
        thread.join(10)
    assert len(acknowledged) >= 150

    again = daemon_factory("--dir", str(tmp_path), *size_flags)
    present = {job["id"] for job in stored_jobs(tmp_path, "crash")}
    assert set(acknowledged) <= present
    _, stats = again.request("GET", "/topics/crash/status")
    assert stats["total"] == len(present)
    pointer = json.loads((tmp_path / "topics" / "crash.json").read_bytes())
    assert pointer["format"] == 3  # a log over checkpoints, whatever the topic's size
