"""Two engines on one store: a refusal (404, 409) is decided on the stored state, never on
an engine's older copy; on every backend."""

from __future__ import annotations

import asyncio

import pytest

from broker.errors import JobNotFound, LeaseLost
from common.keys import topic_key
from common.models import JobStatus
from tests.support.faults import FaultyStore

from .engine_support import as_job, as_jobs, engine, stored


@pytest.fixture
def store(faulty_store: FaultyStore) -> FaultyStore:
    return faulty_store


async def test_heartbeat_and_ack_of_a_job_claimed_elsewhere(store: FaultyStore) -> None:
    a, b = engine(store).topic("t"), engine(store).topic("t")
    await a.enqueue("x", id="j")
    await b.load()  # b's copy: j pending
    await as_jobs(a.claim("w"))
    assert (await as_job(b.heartbeat("j", worker="w"))).status is JobStatus.CLAIMED  # not 409
    assert (await as_job(b.ack("j", worker="w"))).status is JobStatus.COMPLETED
    assert (await stored(store, "t")).jobs[0].status is JobStatus.COMPLETED


async def test_a_job_enqueued_elsewhere_is_found(store: FaultyStore) -> None:
    a, b = engine(store).topic("t"), engine(store).topic("t")
    await a.enqueue("first", id="first")
    await b.load()
    await a.enqueue("x", id="j")  # b has not seen it
    assert [job.id for job in await as_jobs(a.claim("w", count=2))] == ["first", "j"]
    assert (await b.find_job("j")).id == "j"  # not 404
    assert (await as_job(b.nack("j", worker="w"))).status is JobStatus.PENDING  # not 404


async def test_a_refusal_on_fresh_state_stands_and_the_document_is_current(
    store: FaultyStore,
) -> None:
    a, b = engine(store).topic("t"), engine(store).topic("t")
    await a.enqueue("x", id="j")
    await b.load()
    await as_jobs(a.claim("w"))
    with pytest.raises(LeaseLost, match="claimed by 'w'"):
        await as_job(b.ack("j", worker="other"))  # decided on the claim a made
    with pytest.raises(JobNotFound):
        await as_job(b.ack("nobody", worker="w"))
    generation = (await stored(store, "t")).generation
    assert b.generation == generation
    document = b.document()
    assert document is not None and document[0] == (await store.get(topic_key("t"))).data


async def test_a_refusal_costs_one_read_when_nothing_changed(
    store: FaultyStore,
) -> None:
    topic = engine(store).topic("t")
    await topic.enqueue("x", id="j")
    await as_jobs(topic.claim("w"))
    await as_job(topic.heartbeat("j", worker="w"))
    before = store.calls.copy()
    with pytest.raises(JobNotFound):
        await as_job(topic.heartbeat("nobody"))
    with pytest.raises(LeaseLost):
        await as_job(topic.ack("j", worker="other"))
    await as_job(topic.ack("j", worker="w"))
    # Each refusal: one get of the next log object, which is not there.
    assert store.calls - before == {"get": 2, "put_if": 1}


async def test_take_over_of_a_job_claimed_elsewhere(store: FaultyStore) -> None:
    """XCLAIM skips jobs that are not claimed: a skip is a refusal, decided on storage."""
    a, b = engine(store).topic("t"), engine(store).topic("t")
    await a.enqueue("x", id="j")
    await b.load()  # b's copy: j pending
    await as_jobs(a.claim("w"))
    moved = await b.take_over(["j"], "w2", min_idle=0)
    assert [job.claimed_by for job in moved] == ["w2"]  # was [] from b's old copy


async def test_storage_is_polled_only_while_a_client_waits(
    store: FaultyStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("broker.committer.POLL_SECONDS", 0.02)
    a, b = engine(store).topic("t"), engine(store).topic("t")
    await a.enqueue("x", id="first")
    assert [job.id for job in await b.pop()] == ["first"]  # b has the topic, and runs
    before = store.calls.copy()
    await asyncio.sleep(0.3)  # 15 poll periods with nobody waiting
    assert store.calls == before  # an idle broker reads nothing

    waiter = asyncio.create_task(b.pop(wait=30))
    for _ in range(1000):  # b polls while the client waits
        if store.calls["get"] >= before["get"] + 3:  # of the next log object
            break
        await asyncio.sleep(0.01)
    else:
        raise AssertionError("no poll of storage while a client waits")
    await a.enqueue("y", id="j")
    assert [job.id for job in await asyncio.wait_for(waiter, 10)] == ["j"]
