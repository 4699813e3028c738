"""Group commit, conflicts, storage errors and loading, on the memory store."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from broker.errors import StorageUnavailable
from broker.mutations import NewJob
from common.keys import log_key, log_prefix, topic_key
from common.models import JobStatus
from common.store import MemoryStore
from tests.support.polling import long_polls, until

from .engine_support import CountingStore, as_job, as_jobs, engine, stored


async def test_concurrent_enqueues_share_few_writes() -> None:
    store = CountingStore()
    eng = engine(store)
    topic = eng.topic("t")
    results = await asyncio.gather(*(topic.enqueue(n) for n in range(200)))
    assert store.puts < 20
    # One log object per commit, and the first write's checkpoint (a new topic's pointer
    # names one).
    assert eng.metrics.commits.get() + 1 == store.puts
    doc = await stored(store, "t")
    assert {j.id for j in doc.jobs} == {r.id for r in results}
    assert [j.payload for j in doc.jobs] == list(range(200))  # arrival order


class ByteCountingStore(MemoryStore):
    """Records the size of every object written, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[tuple[str, int]] = []

    async def put_if(self, key: str, data: bytes, etag: str | None) -> str:
        etag = await super().put_if(key, data, etag)
        self.writes.append((key, len(data)))
        return etag


@pytest.mark.parametrize("checkpoint_bytes", [1024 * 1024, 2048], ids=["rare", "frequent"])
async def test_commit_bytes_count_every_byte_written_on_the_commit_path(
    checkpoint_bytes: int,
) -> None:
    """A topic's first commit writes a checkpoint and the pointer naming it; every later
    commit one log object. Checkpoints written beside the commits are not commit bytes."""
    store = ByteCountingStore()
    eng = engine(store, checkpoint_bytes=checkpoint_bytes)
    topic = eng.topic("t")
    for n in range(30):
        await topic.enqueue({"n": n, "pad": "x" * 100})
    await eng.stop()  # lets a checkpoint in flight finish
    assert eng.metrics.commits.get() == 30
    first_checkpoint, pointer = store.writes[0][1], store.writes[1][1]
    logs = [size for key, size in store.writes if key.startswith(log_prefix("t"))]
    assert len(logs) == 29
    assert eng.metrics.commit_bytes.get() == first_checkpoint + pointer + sum(logs)
    assert max(logs) < 600  # one job's changes, not the topic
    if checkpoint_bytes == 2048:
        assert eng.metrics.checkpoints.get() >= 2  # and more beside the commits


async def test_no_read_before_write_in_steady_state() -> None:
    store = CountingStore()
    topic = engine(store).topic("t")
    for n in range(10):
        await topic.enqueue(n)
    (job,) = await as_jobs(topic.claim("w"))
    await as_job(topic.ack(job.id))
    assert store.gets == 1  # the first load only
    assert store.puts == 13  # 12 commits, and the checkpoint the new topic's pointer names


async def test_two_engines_on_one_store_lose_nothing() -> None:
    store = CountingStore()
    a, b = engine(store), engine(store)
    results = await asyncio.gather(
        *(eng.topic("t").enqueue(n) for n in range(50) for eng in (a, b))
    )
    doc = await stored(store, "t")
    assert sorted(j.id for j in doc.jobs) == sorted(r.id for r in results)
    assert a.metrics.conflicts.get() + b.metrics.conflicts.get() > 0
    claimed = await asyncio.gather(
        *(as_jobs(eng.topic("t").claim(f"w{i}", count=5)) for i in range(20) for eng in (a, b))
    )
    ids = [j.id for jobs in claimed for j in jobs]
    assert len(ids) == len(set(ids))  # nobody claimed a job twice


async def test_conflict_reapplies_the_same_batch_to_fresh_state() -> None:
    store = MemoryStore()
    a, b = engine(store), engine(store)
    job_id = (await a.topic("t").enqueue("x", id="only")).id
    await b.topic("t").load()
    (claimed,) = await as_jobs(a.topic("t").claim("wa"))
    assert await as_jobs(b.topic("t").claim("wb")) == []  # b reloaded: the job is taken
    assert claimed.id == job_id
    assert (await stored(store, "t")).jobs[0].claimed_by == "wa"


async def test_storage_error_fails_the_batch_and_changes_nothing() -> None:
    store = CountingStore()
    topic = engine(store).topic("t")
    await topic.enqueue("kept", id="kept")
    store.fail_puts = True
    with pytest.raises(StorageUnavailable) as info:
        await topic.enqueue("lost", id="lost")
    assert info.value.code == "storage_unavailable"
    assert topic.get_job("lost") is None  # reloaded from storage
    store.fail_puts = False
    await topic.enqueue("next", id="next")
    assert [j.id for j in (await stored(store, "t")).jobs] == ["kept", "next"]


async def test_document_round_trips_through_a_new_engine() -> None:
    store = MemoryStore()
    topic = engine(store).topic("t")
    await topic.enqueue_many([NewJob({"n": n}, id=f"j{n}") for n in range(4)])
    await topic.enqueue("later", id="later", delay=60)
    (job,) = await as_jobs(topic.claim("w"))
    await as_job(topic.ack(job.id))
    await as_jobs(topic.claim("w"))
    before = topic.stats()
    data, etag = topic.document()  # type: ignore[misc]
    assert data == (await store.get(topic_key("t"))).data
    again = engine(store).topic("t")
    await again.load()
    assert again.stats() == before
    assert again.document() == (data, etag)
    assert [j.id for j in again.claimed()] == ["j1"]
    assert [j.id for j in await as_jobs(again.claim("w", count=5))] == ["j2", "j3"]


async def test_a_commit_writes_only_its_own_changes() -> None:
    store = MemoryStore()
    topic = engine(store).topic("t")
    await topic.enqueue({"a": [1, 2]}, id="a")
    await topic.enqueue("b", id="b")
    entry = orjson.loads((await store.get(log_key("t", 2))).data)
    assert [job["id"] for job in entry["jobs"]] == ["b"]
    assert entry["removed"] == []
    (claimed,) = await as_jobs(topic.claim("w"))
    entry = orjson.loads((await store.get(log_key("t", 3))).data)
    assert [job["id"] for job in entry["jobs"]] == [claimed.id] == ["a"]
    await topic.delete("b")
    entry = orjson.loads((await store.get(log_key("t", 4))).data)
    assert (entry["jobs"], entry["removed"]) == ([], ["b"])
    assert [j.id for j in (await stored(store, "t")).jobs] == ["a"]


async def test_invalid_document_is_storage_unavailable_naming_the_field() -> None:
    store = MemoryStore()
    await store.put_if(topic_key("t"), b'{"format":1,"topic":"t","generation":"x"}', None)
    with pytest.raises(StorageUnavailable, match="generation"):
        await engine(store).topic("t").enqueue(1)


async def test_stop_finishes_queued_commits() -> None:
    store = MemoryStore()
    eng = engine(store)
    topic = eng.topic("t")
    pending = [asyncio.create_task(topic.enqueue(n)) for n in range(20)]
    await asyncio.sleep(0)
    await eng.stop()
    assert all(task.done() and not task.exception() for task in pending)
    assert len((await stored(store, "t")).jobs) == 20
    with pytest.raises(StorageUnavailable):
        await topic.enqueue("late")


async def test_wait_for_generation_wakes_on_commit() -> None:
    eng = engine()
    topic = eng.topic("t")
    waiter = asyncio.create_task(topic.wait_for_generation(0, 120))
    await until(lambda: long_polls(eng.metrics.render()) == 1, "the reader waits")
    await topic.enqueue(1)
    assert await asyncio.wait_for(waiter, 60)
    assert not await topic.wait_for_generation(1, 0.01)


async def test_start_loads_existing_topics_so_the_reaper_runs() -> None:
    store = MemoryStore()
    first = engine(store, visibility_timeout=0.05)
    await first.topic("t").enqueue("x", id="x")
    await as_jobs(first.topic("t").claim("w"))
    await first.stop()
    second = engine(store, visibility_timeout=0.05, reaper_period=0.02)
    await second.start()

    async def reaped() -> bool:
        return (await stored(store, "t")).jobs[0].status is JobStatus.PENDING

    await until(reaped, "the reaper returns the expired claim")
    await second.stop()


async def test_stop_wakes_long_polls_with_storage_unavailable() -> None:
    eng = engine()
    topic = eng.topic("t")
    await topic.load()
    waiter = asyncio.create_task(topic.claim("w", wait=120))
    await until(lambda: long_polls(eng.metrics.render()) == 1, "the claim waits")
    await eng.stop()
    with pytest.raises(StorageUnavailable):
        await asyncio.wait_for(waiter, 60)
