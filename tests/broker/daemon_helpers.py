"""Small helpers shared by the daemon tests: polling, metrics, stored documents."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from common.documents import DocumentReader
from common.store import ObjectStore
from common.store.localfs import LocalFSStore
from tests.support.daemon import Daemon

T = TypeVar("T")


def eventually(probe: Callable[[], T | None], timeout: float = 60.0, every: float = 0.05) -> T:
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


def stored_document(store: ObjectStore, topic: str) -> dict[str, Any]:
    """The whole (format-1) document of a topic as stored, read as any reader reads it:
    a big topic's head merged with its checkpoint."""

    async def read() -> dict[str, Any]:
        try:
            document: dict[str, Any] = json.loads((await DocumentReader(store).get(topic)).data)
            return document
        finally:
            await store.close()

    return asyncio.run(read())


def stored_jobs(data_dir: Path, topic: str) -> list[dict[str, Any]]:
    jobs: list[dict[str, Any]] = stored_document(LocalFSStore(data_dir), topic)["jobs"]
    return jobs


def job_status(daemon: Daemon, topic: str, job_id: str) -> str:
    status, body = daemon.request("GET", f"/topics/{topic}/jobs/{job_id}")
    assert status == 200, body
    return str(body["job"]["status"])
