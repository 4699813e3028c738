"""The broker's storage, watched: did the last request to it work? (for `/readyz`)

Every request of the broker to topics/ (reads, commits, checkpoints, listings) goes
through `WatchedStore`, which remembers whether the last one failed. A missing key
(NotFound) or a compare-and-set refusal (PreconditionFailed) is storage answering, so it
counts as working. The registry's `broker.json` is not counted here: its heartbeat has its
own check, and a heartbeat landing must not hide that topic requests fail.
"""

from __future__ import annotations

import contextlib
import secrets
import socket
from collections.abc import Awaitable
from typing import TypeVar

from common.keys import BROKER_KEY, write_check_key
from common.store import NotFound, Object, ObjectStore, PreconditionFailed

T = TypeVar("T")


class WatchedStore(ObjectStore):
    def __init__(self, inner: ObjectStore) -> None:
        self.inner = inner
        self.description = inner.description
        self.last_error: str | None = None  # "<key>: <error>" of the last failed request

    async def get(self, key: str) -> Object:
        return await self._watch(key, self.inner.get(key))

    async def get_if_changed(self, key: str, etag: str | None) -> Object | None:
        return await self._watch(key, self.inner.get_if_changed(key, etag))

    async def list_level(self, prefix: str = "") -> list[str]:
        return await self._watch(prefix, self.inner.list_level(prefix))

    async def list(self, prefix: str = "") -> list[str]:
        return await self._watch(prefix, self.inner.list(prefix))

    async def put_if(self, key: str, data: bytes, etag: str | None) -> str:
        return await self._watch(key, self.inner.put_if(key, data, etag))

    async def delete(self, key: str, etag: str | None = None) -> None:
        await self._watch(key, self.inner.delete(key, etag))

    async def close(self) -> None:
        await self.inner.close()

    async def _watch(self, key: str, request: Awaitable[T]) -> T:
        if key == BROKER_KEY:
            return await request
        try:
            result = await request
        except (NotFound, PreconditionFailed):
            self.last_error = None
            raise
        except Exception as exc:
            self.last_error = f"{key}: {exc}"
            raise
        self.last_error = None
        return result


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
