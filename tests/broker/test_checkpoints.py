"""Topics in the log layout (format 3): log objects over checkpoints, written and read
back by the engine, with checkpoints taken off the commit path.

Every test compares what storage holds, read the way any reader reads it (common's
DocumentReader: pointer, checkpoint, then the log), with what the broker holds in memory.
"""

from __future__ import annotations

import asyncio
import random

import orjson
import pytest

from broker import mutations
from broker.engine import Engine, EngineSettings
from broker.errors import StorageUnavailable
from broker.mutations import NewJob
from broker.state import TopicState
from common.documents import DocumentReader
from common.keys import (
    checkpoint_generation,
    checkpoint_key,
    checkpoint_prefix,
    log_generation,
    log_key,
    log_prefix,
    topic_key,
)
from common.models import LOG_FORMAT, DocumentInvalid, JobStatus
from common.store import MemoryStore
from tests.support.polling import until

from .engine_support import CountingStore, as_job, as_jobs

SMALL = 4096  # checkpoint_bytes: a topic of about 20 jobs is already "big"


def small_engine(store: MemoryStore, writer: str = "test") -> Engine:
    return Engine(store, EngineSettings(checkpoint_bytes=SMALL), writer=writer)


async def head_format(store: MemoryStore, topic: str) -> int:
    value: int = orjson.loads((await store.get(topic_key(topic))).data)["format"]
    return value


async def stored_jobs(store: MemoryStore, topic: str) -> list[dict[str, object]]:
    whole = await DocumentReader(store).get(topic)
    document = orjson.loads(whole.data)
    assert document["format"] == 1
    jobs: list[dict[str, object]] = document["jobs"]
    return jobs


def memory_jobs(eng: Engine, topic: str) -> list[dict[str, object]]:
    state = eng.topic(topic)._c.state
    assert state is not None
    return [rec.fields() for rec in state.jobs.values()]


async def checkpoints(store: MemoryStore, topic: str) -> list[str]:
    keys = await store.list(checkpoint_prefix(topic))
    return [key for key in keys if checkpoint_generation(key) is not None]


async def logs(store: MemoryStore, topic: str) -> list[int]:
    keys = await store.list(log_prefix(topic))
    return [generation for key in keys if (generation := log_generation(key)) is not None]


async def test_commits_write_log_objects_and_checkpoints_follow_off_the_commit_path() -> None:
    store = CountingStore()
    eng = small_engine(store)
    topic = eng.topic("t")
    for n in range(100):
        await topic.enqueue({"n": n, "pad": "x" * 100})
    await eng.stop()  # stop awaits the checkpoint and collection in flight
    pointer = orjson.loads((await store.get(topic_key("t"))).data)
    assert pointer["format"] == LOG_FORMAT
    assert await stored_jobs(store, "t") == memory_jobs(eng, "t")
    assert eng.metrics.checkpoints.get() >= 2  # the first write's, and later ones
    assert await checkpoints(store, "t") == [pointer["checkpoint"]]  # older ones deleted
    for generation in range(2, 101):  # every commit: one object with its own job only
        entry = orjson.loads((await store.get(log_key("t", generation))).data)
        assert [job["payload"]["n"] for job in entry["jobs"]] == [generation - 1]
        assert len((await store.get(log_key("t", generation))).data) < 700  # job: ~230


async def test_random_operations_keep_storage_equal_to_memory() -> None:
    rng = random.Random(7)
    store = MemoryStore()
    eng = small_engine(store)
    topic = eng.topic("t")
    ids: list[str] = []
    for step in range(300):
        op = rng.random()
        if op < 0.5 or not ids:
            result = await topic.enqueue({"step": step, "pad": "y" * rng.randint(0, 200)})
            ids.append(result.id)
        elif op < 0.7:
            for job in await as_jobs(topic.claim("w", count=rng.randint(1, 3))):
                if rng.random() < 0.5:
                    await as_job(topic.ack(job.id))
                else:
                    await as_job(topic.nack(job.id, error="boom"))
        elif op < 0.8:
            victim = rng.choice(ids)
            found = topic.get_job(victim)
            if found is not None and found.status in (JobStatus.PENDING, JobStatus.DEAD):
                await topic.delete(victim)
                if rng.random() < 0.5:  # the same id again: it goes to the end
                    await topic.enqueue("again", id=victim)
        else:
            await topic.enqueue_many([])  # nothing
        if step % 10 == 0:
            assert await stored_jobs(store, "t") == memory_jobs(eng, "t")
    assert await stored_jobs(store, "t") == memory_jobs(eng, "t")
    await eng.stop()
    assert len(await checkpoints(store, "t")) == 1

    # A new broker reads the same state back and goes on from it.
    fresh = Engine(store, EngineSettings(checkpoint_bytes=SMALL), writer="other")
    await fresh.topic("t").load()
    assert memory_jobs(fresh, "t") == memory_jobs(eng, "t")
    assert fresh.topic("t").stats() == eng.topic("t").stats()


async def test_a_deleted_checkpoint_job_enqueued_again_goes_to_the_end() -> None:
    store = MemoryStore()
    eng = small_engine(store)
    topic = eng.topic("t")
    for n in range(60):
        await topic.enqueue({"n": n, "pad": "z" * 80}, id=f"job-{n:02d}")
    assert await head_format(store, "t") == LOG_FORMAT
    await topic.delete("job-05")
    await topic.enqueue("back", id="job-05")
    jobs = await stored_jobs(store, "t")
    assert [job["id"] for job in jobs][-1] == "job-05"
    assert jobs[-1]["payload"] == "back"
    fresh = small_engine(store)
    await fresh.topic("t").load()
    assert [job.id for job in fresh.topic("t").pending()][-1] == "job-05"


async def test_the_log_a_reader_reads_stays_short() -> None:
    store = MemoryStore()
    eng = Engine(store, EngineSettings(checkpoint_bytes=SMALL, completed_retention=0))
    topic = eng.topic("t")
    await topic.enqueue_many([NewJob({"n": n, "pad": "p" * 100}) for n in range(60)])
    while jobs := await as_jobs(topic.claim("w", count=3)):
        for job in jobs:
            await as_job(topic.ack(job.id))
    # Checkpoints run beside the commits, so on a busy machine the log may run ahead of
    # them for a while; once the one in flight is done, the next commit starts the next.
    committer = topic._c

    def caught_up() -> bool:
        return committer._checkpointing is None

    await until(caught_up, "the checkpoint in flight")
    await topic.enqueue("last")
    await until(caught_up, "the checkpoint the last commit started")
    await eng.stop()
    pointer = orjson.loads((await store.get(topic_key("t"))).data)
    behind = [g for g in await logs(store, "t") if g > pointer["generation"]]
    assert len(behind) < 10  # read on top of the checkpoint: a few, not the 60 commits
    assert [job["payload"] for job in await stored_jobs(store, "t")] == ["last"]


async def test_two_brokers_on_one_big_topic_lose_nothing() -> None:
    store = CountingStore()
    a, b = small_engine(store, "a"), small_engine(store, "b")
    results = await asyncio.gather(
        *(eng.topic("t").enqueue({"n": n, "pad": "q" * 60}) for n in range(150) for eng in (a, b))
    )
    jobs = await stored_jobs(store, "t")
    assert sorted(str(job["id"]) for job in jobs) == sorted(r.id for r in results)
    assert await head_format(store, "t") == LOG_FORMAT
    await asyncio.gather(a.stop(), b.stop())  # stop awaits the cleanups after the writes
    pointer = orjson.loads((await store.get(topic_key("t"))).data)
    assert pointer["checkpoint"] in await checkpoints(store, "t")
    claimed = await asyncio.gather(
        *(as_jobs(small_engine(store, w).topic("t").claim(w, count=7)) for w in ("c", "d", "e"))
    )
    ids = [job.id for jobs in claimed for job in jobs]
    assert len(ids) == len(set(ids)) == 21  # nobody claimed a job twice


async def test_a_head_whose_checkpoint_is_gone_is_reported_not_guessed() -> None:
    store = MemoryStore()
    eng = small_engine(store)
    for n in range(60):
        await eng.topic("t").enqueue({"n": n, "pad": "r" * 80})
    await eng.stop()  # else its checkpoint in flight may land after the deletion below
    for key in await checkpoints(store, "t"):
        await store.delete(key)
    fresh = small_engine(store)
    with pytest.raises(StorageUnavailable, match="checkpoint"):
        await fresh.topic("t").enqueue("x")


async def _big_topic_with_changes_at_the_end(store: MemoryStore) -> Engine:
    """100 checkpointed jobs, then changes near the end: acks, a delete, new jobs."""
    eng = small_engine(store)
    topic = eng.topic("t")
    await topic.enqueue_many(
        [NewJob({"n": n, "pad": "s" * 80}, id=f"j{n:03d}") for n in range(100)]
    )
    for job_id in ("j090", "j091", "j092"):
        await topic.delete(job_id)
    await topic.enqueue_many([NewJob("new", id=f"k{n}") for n in range(3)])
    assert await head_format(store, "t") == LOG_FORMAT
    await eng.stop()  # its checkpoint in flight, if any, is done
    return eng


async def test_a_big_topic_serves_claims_while_it_loads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("broker.committer.LOAD_STEP_JOBS", 10)
    store = MemoryStore()
    eng = await _big_topic_with_changes_at_the_end(store)
    before = await stored_jobs(store, "t")

    fresh = small_engine(store, "fresh")
    committer = fresh.topic("t")._c
    seen: list[bool] = []

    def claim_and_look(state: TopicState, now: int) -> list[bytes]:
        seen.append(state.loading is not None)
        return mutations.claim(state, now, "w", 1)

    (claimed,) = await committer.submit(claim_and_look, early=True)
    assert seen == [True]  # served from the first loaded part
    assert orjson.loads(claimed)["id"] == "j000"
    # The log object written meanwhile changed that job only.
    after = await stored_jobs(store, "t")
    assert [job["id"] for job in after] == [job["id"] for job in before]
    assert after[0]["status"] == "claimed"
    assert after[1:] == before[1:]

    await fresh.topic("t").load()
    assert memory_jobs(fresh, "t") == after
    assert eng.topic("t").stats().total == fresh.topic("t").stats().total


async def test_other_requests_wait_for_the_whole_topic(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("broker.committer.LOAD_STEP_JOBS", 10)
    store = MemoryStore()
    await _big_topic_with_changes_at_the_end(store)
    fresh = small_engine(store, "fresh")
    # Idempotent enqueue must see the jobs at the end of the topic.
    claimed, again = await asyncio.gather(
        as_jobs(fresh.topic("t").claim("w")), fresh.topic("t").enqueue("dup", id="k2")
    )
    assert again.created is False
    assert claimed[0].id == "j000"
    assert (await fresh.topic("t").enqueue("x", id="j091")).created is True  # was deleted
    assert [job["id"] for job in await stored_jobs(store, "t")][-1] == "j091"


async def test_a_bad_job_deep_in_a_loading_topic_fails_requests_naming_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("broker.committer.LOAD_STEP_JOBS", 10)
    store = MemoryStore()
    await _big_topic_with_changes_at_the_end(store)
    pointer = orjson.loads((await store.get(topic_key("t"))).data)
    key = pointer["checkpoint"]
    checkpoint = (await store.get(key)).data
    bad = checkpoint.replace(b'"id":"j080","status":"pending"', b'"id":"j080","status":"lost"')
    assert bad != checkpoint
    await store.delete(key)
    await store.put_if(key, bad, None)
    fresh = small_engine(store, "fresh")
    with pytest.raises(StorageUnavailable, match="status"):
        await fresh.topic("t").load()
    with pytest.raises(StorageUnavailable, match="status"):
        await fresh.topic("t").enqueue("x")


async def test_stopping_during_a_load_does_not_leave_waiters_hanging(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("broker.committer.LOAD_STEP_JOBS", 1)
    store = MemoryStore()
    await _big_topic_with_changes_at_the_end(store)
    fresh = small_engine(store, "fresh")
    await as_jobs(fresh.topic("t").claim("w"))
    state = fresh.topic("t")._c.state
    assert state is not None and state.loading is not None
    waiter = asyncio.ensure_future(fresh.topic("t").load())
    await fresh.stop()
    done, _ = await asyncio.wait({waiter}, timeout=10)
    assert done, "load() still waiting after the broker stopped"
    with pytest.raises(StorageUnavailable, match="shutting down"):
        waiter.result()


async def test_a_log_object_naming_a_job_twice_is_refused_like_any_reader_refuses_it() -> None:
    store = MemoryStore()
    await _big_topic_with_changes_at_the_end(store)
    key = log_key("t", max(await logs(store, "t")))
    entry = orjson.loads((await store.get(key)).data)
    entry["jobs"].append(entry["jobs"][-1])
    await store.delete(key)
    await store.put_if(key, orjson.dumps(entry), None)
    with pytest.raises(StorageUnavailable, match="appears twice"):
        await small_engine(store, "fresh").topic("t").load()
    with pytest.raises(DocumentInvalid, match="appears twice"):
        await DocumentReader(store).get("t")


async def test_a_stopping_broker_removes_checkpoints_older_than_the_pointers() -> None:
    """A broker killed while writing a checkpoint leaves it behind; the next broker to stop
    (or to write a checkpoint) removes it."""
    store = MemoryStore()
    eng = Engine(store, EngineSettings())
    topic = eng.topic("t")
    for n in range(3):
        await topic.enqueue(n)
    pointer = orjson.loads((await store.get(topic_key("t"))).data)
    orphan = checkpoint_key(
        "t", pointer["generation"] - 1 if pointer["generation"] > 1 else 0, "0badc0de"
    )
    await store.put_if(orphan, b"{}", None)
    await eng.stop()
    listed = await store.list(checkpoint_prefix("t"))
    kept = [k for k in listed if checkpoint_generation(k) is not None]
    assert kept == [pointer["checkpoint"]]
