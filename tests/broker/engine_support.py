"""Helpers for the engine's unit tests: stores that count or fail, document access."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from broker.engine import Engine, EngineSettings
from broker.records import job_from_json
from common.documents import DocumentReader
from common.keys import topic_key
from common.models import Job, TopicDocument, load_document
from common.store import MemoryStore, Object, ObjectStore, StoreUnavailable


class CountingStore(MemoryStore):
    """A memory store that counts reads and writes and can be told to fail writes.

    Each call yields to the event loop first, as a real store would, so that several
    engines on one store interleave."""

    def __init__(self) -> None:
        super().__init__()
        self.gets = 0
        self.puts = 0
        self.fail_puts = False

    async def get(self, key: str) -> Object:
        self.gets += 1
        await asyncio.sleep(0)
        return await super().get(key)

    async def put_if(self, key: str, data: bytes, etag: str | None) -> str:
        if self.fail_puts:
            raise StoreUnavailable(key, "disk on fire")
        self.puts += 1
        await asyncio.sleep(0)
        return await super().put_if(key, data, etag)


def engine(store: ObjectStore | None = None, **settings: float) -> Engine:
    return Engine(store or MemoryStore(), EngineSettings(**settings), writer="test")  # type: ignore[arg-type]


async def stored(store: ObjectStore, topic: str) -> TopicDocument:
    """The whole document as a reader gets it (a head merged with its checkpoint)."""
    whole = await DocumentReader(store).get(topic)
    return load_document(TopicDocument, topic_key(topic), whole.data)


async def as_job(answer: Awaitable[bytes]) -> Job:
    """The model of the job a Topic operation (ack, nack, heartbeat) answers as stored."""
    return job_from_json(await answer)


async def as_jobs(answer: Awaitable[list[bytes]]) -> list[Job]:
    """The models of the jobs a claim answers as stored."""
    return [job_from_json(enc) for enc in await answer]
