"""Small helpers shared by the daemon tests: polling, metrics, stored documents."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from tests.support.daemon import Daemon

T = TypeVar("T")


def eventually(probe: Callable[[], T | None], timeout: float = 20.0, every: float = 0.05) -> T:
    """Poll `probe` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last value {value!r})")
        time.sleep(every)


def metric(daemon: Daemon, name: str) -> float:
    status, text = daemon.request("GET", "/metrics")
    assert status == 200
    total = 0.0
    for line in str(text).splitlines():
        if line.startswith(name) and line[len(name)] in " {":
            total += float(line.rsplit(" ", 1)[1])
    return total


def stored_jobs(data_dir: Path, topic: str) -> list[dict[str, Any]]:
    document = json.loads((data_dir / "topics" / f"{topic}.json").read_bytes())
    jobs: list[dict[str, Any]] = document["jobs"]
    return jobs


def job_status(daemon: Daemon, topic: str, job_id: str) -> str:
    status, body = daemon.request("GET", f"/topics/{topic}/jobs/{job_id}")
    assert status == 200, body
    return str(body["job"]["status"])
