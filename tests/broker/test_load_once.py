"""A topic is read from storage once, even when a write arrives while it is loading."""

from __future__ import annotations

import asyncio

from common.store import Object
from tests.broker.engine_support import CountingStore, engine


class HeldReads(CountingStore):
    """Reads wait until `release` is set (a big document on a slow disk)."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()
        self.release.set()

    async def get(self, key: str) -> Object:
        await self.release.wait()
        return await super().get(key)


async def test_a_mutation_queued_during_the_first_load_does_not_load_again() -> None:
    store = HeldReads()
    await engine(store).topic("t").enqueue("seed")
    reads_before = store.gets
    await engine(store).topic("t").load()
    one_load = store.gets - reads_before  # the pointer, the checkpoint, the log's end...
    topic = engine(store).topic("t")  # a fresh broker on the same storage
    store.release.clear()
    reads_before = store.gets
    loading = asyncio.ensure_future(topic.load())
    enqueue = asyncio.ensure_future(topic.enqueue("more"))
    for _ in range(10):  # the load holds the topic's lock; the commit loop waits for it
        await asyncio.sleep(0)
    store.release.set()
    await asyncio.gather(loading, enqueue)
    assert store.gets - reads_before == one_load
    assert topic.stats().pending == 2
