import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from pathlib import Path
from typing import Any, TypeVar, cast

from broker.engine import Engine, EngineSettings
from broker.mutations import NewJob
from common.keys import topic_key
from common.models import JobStatus, dump_document
from common.store import MemoryStore, ObjectStore
from common.store.localfs import LocalFSStore
from common.store.s3 import S3Store
from console.tail import (
    LocalFSTail,
    SourceState,
    StoreTail,
    Tail,
    TailEvent,
    TopicInvalid,
    TopicRemoved,
    TopicSnapshot,
)
from tests.console.docs import document, job
from tests.support.checkpoints import checkpointed, store_checkpointed
from tests.support.stores import WatchedStore


async def put(store: ObjectStore, topic: str, generation: int, n: int = 1) -> None:
    key = topic_key(topic)
    try:
        etag: str | None = (await store.get(key)).etag
    except Exception:
        etag = None
    doc = document(topic, [job(f"{topic}-{i}") for i in range(n)], generation=generation)
    await store.put_if(key, dump_document(doc), etag)


E = TypeVar("E", bound=TailEvent)


async def next_event(events: AsyncIterator[TailEvent], kind: type[E] | tuple[type[E], ...]) -> E:
    async def find() -> E:
        async for event in events:
            if isinstance(event, kind):
                return event
        raise AssertionError("tail ended")

    return await asyncio.wait_for(find(), timeout=60)


async def close(events: AsyncIterator[TailEvent]) -> None:
    """Stop a tail: its events() is an async generator."""
    await cast(AsyncGenerator[TailEvent, None], events).aclose()


async def test_store_tail_reports_every_topic_then_each_change_and_removal() -> None:
    store = MemoryStore()
    await put(store, "orders", 1)
    await put(store, "emails", 1)
    events = StoreTail(store, interval=0.05, rescan=0.05).events()
    first = {(await next_event(events, TopicSnapshot)).topic for _ in range(2)}
    assert first == {"orders", "emails"}

    await put(store, "orders", 2, n=3)
    changed = await next_event(events, TopicSnapshot)
    assert isinstance(changed, TopicSnapshot)
    assert (changed.topic, changed.document.generation, len(changed.document.jobs)) == (
        "orders",
        2,
        3,
    )

    await store.delete(topic_key("emails"))
    removed = await next_event(events, TopicRemoved)
    assert removed == TopicRemoved("emails")
    await close(events)


async def test_store_tail_skips_an_invalid_document_and_says_which() -> None:
    store = MemoryStore()
    await store.put_if(topic_key("bad"), b'{"format": 1}', None)
    events = StoreTail(store, interval=0.05).events()
    invalid = await next_event(events, TopicInvalid)
    assert isinstance(invalid, TopicInvalid) and "topics/bad.json" in invalid.message
    await close(events)


class FlakyStore(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.down = False

    async def list(self, prefix: str = "") -> list[str]:
        if self.down:
            raise OSError("storage is down")
        return await super().list(prefix)


async def test_store_tail_reports_a_failing_store_and_recovers() -> None:
    store = FlakyStore()
    await put(store, "orders", 1)
    events = StoreTail(store, interval=0.05, rescan=0.05).events()
    assert await next_event(events, SourceState) == SourceState(True)
    store.down = True
    down = await next_event(events, SourceState)
    assert isinstance(down, SourceState) and not down.ok and "storage is down" in down.message
    store.down = False
    assert await next_event(events, SourceState) == SourceState(True)
    await close(events)


async def test_localfs_tail_wakes_on_renamed_documents_not_on_its_slow_poll(
    tmp_path: Path,
) -> None:
    # The fallback poll is a minute away: only the directory watch can deliver in time.
    async with LocalFSStore(tmp_path) as store:
        events = LocalFSTail(store, tmp_path, fallback=60).events()
        assert await next_event(events, SourceState) == SourceState(True)
        await put(store, "orders", 1)  # creates topics/ too
        first = await next_event(events, TopicSnapshot)
        assert isinstance(first, TopicSnapshot) and first.document.generation == 1
        await put(store, "orders", 2, n=2)
        second = await next_event(events, TopicSnapshot)
        assert isinstance(second, TopicSnapshot) and second.document.generation == 2
        await close(events)


async def test_store_tail_polls_s3_with_conditional_gets(moto_server: Any, s3_bucket: str) -> None:
    store = S3Store(s3_bucket, endpoint_url=moto_server.endpoint_url, region="us-east-1")
    async with store:
        await put(store, "orders", 1)
        events = StoreTail(store, interval=0.1, rescan=5).events()
        first = await next_event(events, TopicSnapshot)
        assert isinstance(first, TopicSnapshot) and first.document.generation == 1
        await put(store, "orders", 2, n=4)
        second = await next_event(events, TopicSnapshot)
        assert isinstance(second, TopicSnapshot) and len(second.document.jobs) == 4
        await close(events)


async def checkpointed_topic(store: ObjectStore) -> None:
    """`orders` as a checkpoint of jobs 0-3 and a head that changed 1, removed 2, added 4."""
    base = document("orders", [job(f"orders-{i}") for i in range(4)], generation=5)
    changed = [job("orders-1", JobStatus.CLAIMED), job("orders-4")]
    await store_checkpointed(store, checkpointed(base, changed=changed, removed=["orders-2"]))


async def next_snapshot(events: AsyncIterator[TailEvent], seen: set[str]) -> TopicSnapshot:
    """The next snapshot; `seen` collects the topic of every event on the way."""
    while True:
        event = await next_event(events, (TopicSnapshot, TopicInvalid, TopicRemoved))
        assert isinstance(event, TopicSnapshot | TopicInvalid | TopicRemoved)
        seen.add(event.topic)
        if isinstance(event, TopicSnapshot):
            return event


async def checkpointed_topic_is_shown_merged(store: ObjectStore, tail: Tail) -> None:
    seen: set[str] = set()
    events = tail.events()
    await checkpointed_topic(store)
    first = await next_snapshot(events, seen)
    assert first.topic == "orders" and first.document.generation == 6
    assert [(j.id, j.status) for j in first.document.jobs] == [
        ("orders-0", JobStatus.PENDING),
        ("orders-1", JobStatus.CLAIMED),
        ("orders-3", JobStatus.PENDING),
        ("orders-4", JobStatus.PENDING),
    ]
    assert first.etag == (await store.get(topic_key("orders"))).etag

    # A new head over the same checkpoint: orders-1 acked, orders-0 deleted.
    base = document("orders", [job(f"orders-{i}") for i in range(4)], generation=5)
    done = job("orders-1", JobStatus.COMPLETED)
    changed = [done, job("orders-4")]
    head = checkpointed(base, changed=changed, removed=["orders-0", "orders-2"], generation=7)
    await store_checkpointed(store, head)
    second = await next_snapshot(events, seen)
    assert second.document.generation == 7
    assert [j.id for j in second.document.jobs] == ["orders-1", "orders-3", "orders-4"]
    assert second.document.jobs[0].status is JobStatus.COMPLETED

    # Another topic arrives after the checkpoint directory existed: nothing in between
    # was reported as a topic of its own.
    await put(store, "zz", 1)
    assert (await next_snapshot(events, seen)).topic == "zz"
    assert seen == {"orders", "zz"}
    await close(events)


async def test_localfs_tail_shows_a_checkpointed_topic_merged(tmp_path: Path) -> None:
    async with LocalFSStore(tmp_path) as store:
        await checkpointed_topic_is_shown_merged(store, LocalFSTail(store, tmp_path, fallback=60))


async def test_store_tail_on_localfs_shows_a_checkpointed_topic_merged(tmp_path: Path) -> None:
    # Listing localfs walks into topics/orders/, where the checkpoints are.
    async with LocalFSStore(tmp_path) as store:
        tail = StoreTail(store, interval=0.05, rescan=0.05)
        await checkpointed_topic_is_shown_merged(store, tail)


async def test_store_tail_on_s3_shows_a_checkpointed_topic_merged(
    moto_server: Any, s3_bucket: str
) -> None:
    store = S3Store(s3_bucket, endpoint_url=moto_server.endpoint_url, region="us-east-1")
    async with store:
        tail = StoreTail(store, interval=0.1, rescan=0.1)
        await checkpointed_topic_is_shown_merged(store, tail)


async def test_store_tail_skips_a_head_whose_checkpoint_is_missing() -> None:
    store = MemoryStore()
    base = document("orders", [job("orders-0")], generation=5)
    await store.put_if(topic_key("orders"), checkpointed(base).head, None)
    events = StoreTail(store, interval=0.05).events()
    invalid = await next_event(events, TopicInvalid)
    assert isinstance(invalid, TopicInvalid) and "does not exist" in invalid.message
    await store_checkpointed(store, checkpointed(base, generation=7))  # a new, whole head
    snapshot = await next_event(events, TopicSnapshot)
    assert isinstance(snapshot, TopicSnapshot) and snapshot.document.generation == 7
    await close(events)


async def test_localfs_tail_wakes_on_new_log_objects_not_on_its_slow_poll(
    tmp_path: Path,
) -> None:
    # A commit creates topics/orders/log/<generation>.json and leaves the pointer as it
    # is: only the watch of the log directories can deliver in time.
    async with LocalFSStore(tmp_path) as store:
        eng = Engine(store, EngineSettings(), writer="test")
        await eng.topic("orders").enqueue("first", id="first")  # a checkpoint, the pointer
        events = LocalFSTail(store, tmp_path, fallback=60).events()
        first = await next_event(events, TopicSnapshot)
        assert [j.id for j in first.document.jobs] == ["first"]
        pointer = (await store.get(topic_key("orders"))).data
        await eng.topic("orders").enqueue("second", id="second")
        second = await next_event(events, TopicSnapshot)
        assert [j.id for j in second.document.jobs] == ["first", "second"]
        assert (await store.get(topic_key("orders"))).data == pointer  # only the log grew
        await close(events)
        await eng.stop()


async def test_store_tail_reads_a_topics_checkpoint_once_and_then_its_new_log_objects() -> None:
    store = WatchedStore(MemoryStore())
    eng = Engine(store.inner, EngineSettings(), writer="test")
    await eng.topic("orders").enqueue_many([NewJob(n, id=f"j{n}") for n in range(3)])
    events = StoreTail(store, interval=0.01, rescan=60).events()
    first = await next_event(events, TopicSnapshot)
    assert len(first.document.jobs) == 3
    for n in range(3, 6):
        await eng.topic("orders").enqueue(n, id=f"j{n}")
        found = await next_event(events, TopicSnapshot)
        assert [j.id for j in found.document.jobs][-1] == f"j{n}"
    (checkpoint,) = [key for key in store.reads if "/checkpoint-" in key]
    assert store.reads[checkpoint] == 1  # polls read the next log object, not the topic
    await close(events)
