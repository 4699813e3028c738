"""`python -m tests.bench.launcher <simplequeued flags>`: the daemon over a slow store.

Scenario 4 needs every write to storage to take longer (as a distant bucket would), without
a user-facing flag for it: this launcher wraps the store the daemon opens in `SlowWrites`,
delaying each write by `SQ_BENCH_WRITE_LATENCY` seconds, then runs the daemon's own main.
"""

from __future__ import annotations

import asyncio
import os

import broker.daemon
from common.settings import StorageSettings
from common.store import Object, ObjectStore, open_store

LATENCY_ENV = "SQ_BENCH_WRITE_LATENCY"


class SlowWrites(ObjectStore):
    """Delegates to `inner`; every write (put_if, delete) waits `latency` seconds first."""

    def __init__(self, inner: ObjectStore, latency: float) -> None:
        self.inner = inner
        self.latency = latency
        self.description = f"{inner.description} (+{latency * 1000:g} ms per write)"

    async def get(self, key: str) -> Object:
        return await self.inner.get(key)

    async def put_if(self, key: str, data: bytes, etag: str | None) -> str:
        await asyncio.sleep(self.latency)
        return await self.inner.put_if(key, data, etag)

    async def get_if_changed(self, key: str, etag: str | None) -> Object | None:
        return await self.inner.get_if_changed(key, etag)

    async def delete(self, key: str, etag: str | None = None) -> None:
        await asyncio.sleep(self.latency)
        await self.inner.delete(key, etag)

    async def list(self, prefix: str = "") -> list[str]:
        return await self.inner.list(prefix)

    async def close(self) -> None:
        await self.inner.close()


def open_slow_store(settings: StorageSettings) -> ObjectStore:
    return SlowWrites(open_store(settings), float(os.environ.get(LATENCY_ENV, "0")))


def main() -> None:
    setattr(broker.daemon, "open_store", open_slow_store)  # noqa: B010  (mypy: not exported)
    broker.daemon.main()


if __name__ == "__main__":
    main()
