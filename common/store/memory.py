"""In-process store (`--backend memfs`): for tests and throwaway queues; nothing survives exit."""

from __future__ import annotations

from .base import NotFound, Object, ObjectStore, PreconditionFailed, etag_of


class MemoryStore(ObjectStore):
    def __init__(self) -> None:
        self._objects: dict[str, Object] = {}
        self.description = "memfs"

    async def get(self, key: str) -> Object:
        try:
            return self._objects[key]
        except KeyError:
            raise NotFound(key) from None

    async def put_if(self, key: str, data: bytes, etag: str | None) -> str:
        current = self._objects.get(key)
        if (current.etag if current else None) != etag:
            raise PreconditionFailed(key, etag)
        new = Object(bytes(data), etag_of(data))
        self._objects[key] = new
        return new.etag

    async def get_if_changed(self, key: str, etag: str | None) -> Object | None:
        current = await self.get(key)
        return None if current.etag == etag else current

    async def delete(self, key: str, etag: str | None = None) -> None:
        current = self._objects.get(key)
        if etag is not None and (current is None or current.etag != etag):
            raise PreconditionFailed(key, etag)
        self._objects.pop(key, None)

    async def list(self, prefix: str = "") -> list[str]:
        return sorted(key for key in self._objects if key.startswith(prefix))
