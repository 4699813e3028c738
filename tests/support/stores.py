"""Fresh, empty object stores of each backend, for tests parametrized over backends.

`open_backend(request, tmp_path, name)` gives memfs, localfs (in a temporary directory) or
s3 (a fresh bucket on moto's server, reached over HTTP through aiobotocore).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from common.store import MemoryStore, Object, ObjectStore
from common.store.localfs import LocalFSStore
from common.store.s3 import S3Store
from tests.support.moto import MotoServer


def open_backend(request: pytest.FixtureRequest, tmp_path: Path, name: str) -> ObjectStore:
    """A new store of backend `name`; use it with `async with` so it is closed."""
    if name == "memfs":
        return MemoryStore()
    if name == "localfs":
        return LocalFSStore(tmp_path / "data")
    server: MotoServer = request.getfixturevalue("moto_server")
    bucket: str = request.getfixturevalue("s3_bucket")
    return S3Store(bucket, prefix="sq", endpoint_url=server.endpoint_url)


class WatchedStore(ObjectStore):
    """A real store that counts the reads made through it, by key, and may run a step
    before a read. Tests set up storage through `inner`, so only the reader's reads count."""

    def __init__(self, inner: ObjectStore) -> None:
        self.inner = inner
        self.description = inner.description
        self.reads: Counter[str] = Counter()
        self.before_read: dict[str, Callable[[], Awaitable[None]]] = {}

    async def _reading(self, key: str) -> None:
        self.reads[key] += 1
        step = self.before_read.pop(key, None)
        if step is not None:
            await step()

    async def get(self, key: str) -> Object:
        await self._reading(key)
        return await self.inner.get(key)

    async def get_if_changed(self, key: str, etag: str | None) -> Object | None:
        await self._reading(key)
        return await self.inner.get_if_changed(key, etag)

    async def put_if(self, key: str, data: bytes, etag: str | None) -> str:
        return await self.inner.put_if(key, data, etag)

    async def delete(self, key: str, etag: str | None = None) -> None:
        await self.inner.delete(key, etag)

    async def list(self, prefix: str = "") -> list[str]:
        return await self.inner.list(prefix)
