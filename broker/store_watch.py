"""The broker's storage, watched: did the last write land? (for `/readyz`)

Every write of the broker (topic commits, checkpoints, the registry heartbeat) goes through
`WatchedStore`, which remembers whether the last one failed. A compare-and-set refusal
(PreconditionFailed) is storage answering, so it counts as working. The registry writes
every heartbeat period, so a recovered store is seen as such within one period.
"""

from __future__ import annotations

import contextlib
import secrets
import socket

from common.keys import write_check_key
from common.store import NotFound, Object, ObjectStore, PreconditionFailed


class WatchedStore(ObjectStore):
    def __init__(self, inner: ObjectStore) -> None:
        self.inner = inner
        self.description = inner.description
        self.last_write_error: str | None = None

    async def get(self, key: str) -> Object:
        return await self.inner.get(key)

    async def get_if_changed(self, key: str, etag: str | None) -> Object | None:
        return await self.inner.get_if_changed(key, etag)

    async def list(self, prefix: str = "") -> list[str]:
        return await self.inner.list(prefix)

    async def put_if(self, key: str, data: bytes, etag: str | None) -> str:
        try:
            new_etag = await self.inner.put_if(key, data, etag)
        except PreconditionFailed:
            self.last_write_error = None
            raise
        except Exception as exc:
            self.last_write_error = f"{key}: {exc}"
            raise
        self.last_write_error = None
        return new_etag

    async def delete(self, key: str, etag: str | None = None) -> None:
        await self.inner.delete(key, etag)

    async def close(self) -> None:
        await self.inner.close()


async def check_writable(store: ObjectStore) -> None:
    """Write and remove a small object; raises the store's error if storage is not
    writable (a broker that cannot write would answer 503 to every change). Also removes
    the check objects of brokers killed in the middle of theirs: another broker checking
    right now may lose its object to this, which it tolerates the same way."""
    key = write_check_key(f"{socket.gethostname()}-{secrets.token_hex(6)}")
    await store.put_if(key, b"{}", None)
    for leftover in [key, *await store.list(write_check_key(""))]:
        with contextlib.suppress(NotFound):
            await store.delete(leftover)
