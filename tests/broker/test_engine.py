"""The engine's job semantics on the memory store (broker/DESIGN.md, "Job semantics")."""

from __future__ import annotations

import asyncio
import threading
import uuid

import pytest

from broker.errors import InvalidRequest, JobNotFound, JobStateConflict, LeaseLost, PayloadTooLarge
from broker.mutations import NewJob, backoff_ms
from broker.state import Limits
from common.keys import InvalidTopicName
from common.models import JobStatus, utc_now
from common.store import MemoryStore
from tests.support.polling import long_polls, until

from .engine_support import as_job, as_jobs, engine, stored


async def test_enqueue_then_claim_is_fifo_and_durable() -> None:
    store = MemoryStore()
    eng = engine(store)
    topic = eng.topic("orders")
    ids = [(await topic.enqueue({"n": n})).id for n in range(3)]
    jobs = await as_jobs(topic.claim("w1", count=2))
    assert [j.id for j in jobs] == ids[:2]
    assert all(j.status is JobStatus.CLAIMED and j.attempts == 1 for j in jobs)
    doc = await stored(store, "orders")
    assert [j.id for j in doc.jobs] == ids
    assert [j.status for j in doc.jobs] == ["claimed", "claimed", "pending"]
    assert doc.generation == topic.generation == 4
    assert doc.counters.enqueued == 3
    await eng.stop()


async def test_enqueue_with_existing_id_is_not_duplicated() -> None:
    store = MemoryStore()
    topic = engine(store).topic("t")
    first = await topic.enqueue("a", id="job-1")
    again = await topic.enqueue("b", id="job-1")
    assert (first.created, again.created) == (True, False)
    doc = await stored(store, "t")
    assert [(j.id, j.payload) for j in doc.jobs] == [("job-1", "a")]


async def test_enqueue_many_is_one_write() -> None:
    store = MemoryStore()
    topic = engine(store).topic("t")
    results = await topic.enqueue_many(
        [NewJob(1, "a"), NewJob(2), NewJob(3, "a"), NewJob(4, delay=60)]
    )
    assert [r.created for r in results] == [True, True, False, True]
    assert topic.generation == 1
    stats = topic.stats()
    assert (stats.pending, stats.delayed, stats.total) == (2, 1, 3)  # disjoint counts


async def test_auto_ids_are_unique_uuids() -> None:
    topic = engine().topic("t")
    ids = {(await topic.enqueue(n)).id for n in range(50)}
    assert len(ids) == 50 and all(len(i) == 36 and i[14] == "7" for i in ids)
    assert all(str(uuid.UUID(i)) == i and uuid.UUID(i).version == 7 for i in ids)
    assert all(uuid.UUID(i).variant == uuid.RFC_4122 for i in ids)


async def test_reads_of_unknown_topic_report_zeros_and_do_not_write() -> None:
    store = MemoryStore()
    topic = engine(store).topic("ghost")
    await topic.load()
    assert topic.stats().total == 0
    assert await as_jobs(topic.claim("w")) == []
    assert topic.document() is None
    assert await store.list() == []


async def test_ack_completes_and_ack_twice_is_wrong_state() -> None:
    topic = engine().topic("t")
    job_id = (await topic.enqueue("x")).id
    await as_jobs(topic.claim("w1"))
    done = await as_job(topic.ack(job_id, worker="w1"))
    assert done.status is JobStatus.COMPLETED and done.completed_at is not None
    with pytest.raises(JobStateConflict) as info:
        await as_job(topic.ack(job_id))
    assert info.value.code == "wrong_state"
    assert topic.stats().counters.completed == 1


async def test_ack_by_another_worker_is_lease_lost() -> None:
    topic = engine().topic("t")
    job_id = (await topic.enqueue("x")).id
    await as_jobs(topic.claim("w1"))
    with pytest.raises(LeaseLost):
        await as_job(topic.ack(job_id, worker="w2"))
    with pytest.raises(LeaseLost):
        await as_job(topic.heartbeat(job_id, worker="w2"))
    assert topic.get_job(job_id).status is JobStatus.CLAIMED  # type: ignore[union-attr]


async def test_unknown_job_is_job_not_found() -> None:
    topic = engine().topic("t")
    for op in (topic.ack, topic.heartbeat, topic.nack, topic.requeue, topic.delete):
        with pytest.raises(JobNotFound):
            await op("nope")


async def test_bad_request_in_a_batch_fails_alone_and_changes_nothing() -> None:
    store = MemoryStore()
    topic = engine(store).topic("t")
    results = await asyncio.gather(
        topic.enqueue("a", id="a"),
        topic.ack("missing"),
        topic.enqueue("b", id="b"),
        return_exceptions=True,
    )
    assert isinstance(results[1], JobNotFound)
    assert [r.id for r in (results[0], results[2])] == ["a", "b"]  # type: ignore[union-attr]
    doc = await stored(store, "t")
    assert [j.id for j in doc.jobs] == ["a", "b"]
    assert topic.generation == 1


async def test_nack_returns_to_pending_then_dead_at_max_attempts() -> None:
    topic = engine(max_attempts=2).topic("t")
    job_id = (await topic.enqueue("x")).id
    await as_jobs(topic.claim("w"))
    job = await as_job(topic.nack(job_id, error="boom", delay=0))
    assert job.status is JobStatus.PENDING and job.last_error == "boom" and job.claimed_by is None
    await as_jobs(topic.claim("w"))
    job = await as_job(topic.nack(job_id, error="again", delay=0))
    assert job.status is JobStatus.DEAD and job.attempts == 2
    assert topic.stats().counters.dead == 1
    job = await topic.requeue(job_id)
    assert (job.status, job.attempts) == (JobStatus.PENDING, 0)
    assert [j.id for j in await as_jobs(topic.claim("w"))] == [job_id]


async def test_nacked_job_keeps_its_fifo_place() -> None:
    topic = engine().topic("t")
    first = (await topic.enqueue(1)).id
    second = (await topic.enqueue(2)).id
    await as_jobs(topic.claim("w"))
    await as_job(topic.nack(first, delay=0))
    assert [j.id for j in await as_jobs(topic.claim("w", count=2))] == [first, second]


def test_backoff_doubles_per_attempt_up_to_the_cap_with_jitter() -> None:
    limits = Limits(retry_base_ms=10_000, retry_cap_ms=35_000)
    for attempts, ceiling in ((1, 10_000), (2, 20_000), (3, 35_000), (50, 35_000)):
        waits = {backoff_ms(limits, attempts) for _ in range(200)}
        assert all(ceiling // 2 <= wait <= ceiling for wait in waits), (attempts, waits)
        assert len(waits) > 1  # jittered
    assert backoff_ms(Limits(retry_base_ms=0), 3) == 0  # --retry-base 0: at once


async def test_a_nack_without_a_delay_waits_the_backoff() -> None:
    topic = engine(retry_base=60.0).topic("t")
    job_id = (await topic.enqueue("x")).id
    await as_jobs(topic.claim("w"))
    before = utc_now()
    job = await as_job(topic.nack(job_id, error="flaky"))
    assert job.available_at is not None
    wait = (job.available_at - before).total_seconds()
    assert 30 <= wait <= 61, wait
    assert await as_jobs(topic.claim("w")) == []
    assert topic.stats().delayed == 1


async def test_nack_with_delay_hides_the_job_until_then() -> None:
    topic = engine().topic("t")
    job_id = (await topic.enqueue(1)).id
    await as_jobs(topic.claim("w"))
    await as_job(topic.nack(job_id, delay=0.3))
    assert await as_jobs(topic.claim("w")) == []
    assert topic.stats().delayed == 1
    jobs = await as_jobs(topic.claim("w", wait=5))
    assert [j.id for j in jobs] == [job_id]


async def test_delayed_enqueue_is_claimable_only_after_the_delay() -> None:
    topic = engine().topic("t")
    await topic.enqueue("later", delay=0.3)
    assert await as_jobs(topic.claim("w")) == []
    assert not await topic.wait_for_available(0.01)
    assert await topic.wait_for_available(60)
    assert len(await as_jobs(topic.claim("w"))) == 1


async def test_long_poll_claim_wakes_on_enqueue() -> None:
    eng = engine()
    topic = eng.topic("t")
    waiter = asyncio.create_task(as_jobs(topic.claim("w", wait=120)))
    await until(lambda: long_polls(eng.metrics.render()) == 1, "the claim waits")
    assert not waiter.done()
    job_id = (await topic.enqueue("x")).id
    jobs = await asyncio.wait_for(waiter, 60)
    assert [j.id for j in jobs] == [job_id]


async def test_claim_wait_times_out_empty() -> None:
    topic = engine().topic("t")
    assert await as_jobs(topic.claim("w", wait=0.05)) == []


async def test_heartbeat_extends_the_lease() -> None:
    topic = engine(visibility_timeout=1, reaper_period=0.05).topic("t")
    job_id = (await topic.enqueue("x")).id
    await as_jobs(topic.claim("w"))
    for _ in range(8):  # 1.6 s in all, past the timeout; each heartbeat well within it
        await asyncio.sleep(0.2)
        await as_job(topic.heartbeat(job_id, worker="w"))
    assert topic.get_job(job_id).status is JobStatus.CLAIMED  # type: ignore[union-attr]


async def test_reaper_returns_expired_claims_then_buries_them() -> None:
    eng = engine(visibility_timeout=0.1, reaper_period=0.05, max_attempts=2)
    topic = eng.topic("t")
    job_id = (await topic.enqueue("x")).id
    await as_jobs(topic.claim("w"))
    assert await as_jobs(topic.claim("w", wait=60))  # reaped, then claimed again (attempt 2)

    def dead() -> bool:
        job = topic.get_job(job_id)
        return job is not None and job.status is JobStatus.DEAD

    await until(dead, "the second expired claim buries the job")
    job = topic.get_job(job_id)
    assert job is not None and job.status is JobStatus.DEAD and job.attempts == 2
    assert "lease expired" in (job.last_error or "")
    assert topic.stats().counters.reaped == 2
    with pytest.raises(LeaseLost):
        await as_job(topic.ack(job_id, worker="w"))
    await eng.stop()


async def test_delete_only_pending_or_dead() -> None:
    topic = engine().topic("t")
    a = (await topic.enqueue("a")).id
    b = (await topic.enqueue("b")).id
    assert (await topic.delete(a)).id == a
    await as_jobs(topic.claim("w"))
    with pytest.raises(JobStateConflict):
        await topic.delete(b)
    assert topic.get_job(a) is None and topic.stats().total == 1


async def test_pop_claims_and_completes_in_one_write() -> None:
    topic = engine().topic("t")
    await topic.enqueue_many([NewJob(n) for n in range(3)])
    before = topic.generation
    jobs = await topic.pop(count=2)
    assert [j.payload for j in jobs] == [0, 1]
    assert all(j.status is JobStatus.COMPLETED for j in jobs)
    assert topic.generation == before + 1


async def test_take_over_moves_idle_claims_only() -> None:
    topic = engine().topic("t")
    a = (await topic.enqueue("a")).id
    await as_jobs(topic.claim("w1"))
    assert await topic.take_over([a, "missing"], "w2", min_idle=60) == []
    moved = await topic.take_over([a, "missing"], "w2", min_idle=0)
    assert [(j.id, j.claimed_by, j.attempts) for j in moved] == [(a, "w2", 2)]
    assert [j.id for j in topic.claimed("w2")] == [a]


async def test_completed_retention_keeps_the_newest() -> None:
    store = MemoryStore()
    topic = engine(store, completed_retention=3).topic("t")
    await topic.enqueue_many([NewJob(n, id=f"j{n}") for n in range(5)])
    for _ in range(5):
        (job,) = await as_jobs(topic.claim("w"))
        await as_job(topic.ack(job.id))
    doc = await stored(store, "t")
    assert [j.id for j in doc.jobs] == ["j2", "j3", "j4"]
    assert doc.counters.completed == 5 and doc.counters.enqueued == 5


async def test_dead_cap_drops_the_oldest_and_counts_them() -> None:
    topic = engine(max_attempts=1, dead_retention=2).topic("t")
    await topic.enqueue_many([NewJob(n, id=f"j{n}") for n in range(3)])
    for _ in range(3):
        (job,) = await as_jobs(topic.claim("w"))
        await as_job(topic.nack(job.id))
    stats = topic.stats()
    assert (stats.dead, stats.counters.dead, stats.counters.dropped) == (2, 3, 1)
    assert topic.get_job("j0") is None


async def test_validation_errors() -> None:
    eng = engine(max_payload_bytes=100)
    topic = eng.topic("t")
    with pytest.raises(PayloadTooLarge):
        await topic.enqueue("x" * 200)
    with pytest.raises(InvalidRequest):
        await topic.enqueue("x", id="")
    with pytest.raises(InvalidRequest):
        await topic.enqueue("x", delay=-1)
    with pytest.raises(InvalidRequest):
        await as_jobs(topic.claim(""))
    with pytest.raises(InvalidRequest):
        await as_jobs(topic.claim("w", count=0))
    with pytest.raises(InvalidTopicName):
        eng.topic("../etc")
    assert topic.generation == 0


async def test_payload_limit_counts_the_bytes_a_consumer_gets_back() -> None:
    topic = engine(max_payload_bytes=100).topic("t")
    # Text is measured as-is (a RESP pop returns it unquoted), JSON values compactly.
    assert (await topic.enqueue("x" * 100)).created
    assert (await topic.enqueue(["x" * 96])).created  # ["xxx..."] is exactly 100 bytes
    with pytest.raises(PayloadTooLarge):
        await topic.enqueue("x" * 101)
    with pytest.raises(PayloadTooLarge):
        await topic.enqueue(["x" * 97])


async def test_list_jobs_pages_in_enqueue_order() -> None:
    topic = engine().topic("t")
    await topic.enqueue_many([NewJob(n, id=f"j{n}") for n in range(5)])
    await as_jobs(topic.claim("w"))
    assert [j.id for j in topic.list_jobs(limit=2)] == ["j0", "j1"]
    assert [j.id for j in topic.list_jobs(limit=2, after="j1")] == ["j2", "j3"]
    assert [j.id for j in topic.list_jobs(status=JobStatus.CLAIMED)] == ["j0"]
    assert [j.id for j in topic.list_jobs(status=JobStatus.PENDING, after="j2")] == ["j3", "j4"]
    assert [j.id for j in topic.pending(0, 1)] == ["j1", "j2"]
    assert [j.id for j in topic.pending(-1)] == ["j4"]


async def test_topic_names_lists_storage_and_memory() -> None:
    store = MemoryStore()
    await engine(store).topic("a").enqueue(1)
    eng = engine(store)
    await eng.topic("b").enqueue(1)
    eng.topic("c")  # touched but never written
    assert await eng.topic_names() == ["a", "b"]


def test_a_reap_always_due_does_not_starve_the_event_loop() -> None:
    # The commit loop skipped its wait when the next reap was already due: with a period
    # of 1e-300 (now refused as a flag) it spun without ever yielding, and no other task
    # ran again. Run in a thread of its own, so a spinning loop fails the test, not hangs it.
    async def main() -> bool:
        topic = engine(reaper_period=1e-300).topic("t")
        await topic.enqueue("x")  # starts the commit loop
        await asyncio.sleep(0.05)
        return (await topic.enqueue("y")).created

    results: list[bool] = []
    thread = threading.Thread(target=lambda: results.append(asyncio.run(main())), daemon=True)
    thread.start()
    thread.join(30)
    assert results == [True], "the event loop was starved"
