"""The engine under injected storage faults (tests/support/faults.py), on every backend:
lost answers, spurious conflicts, errors and torn reads."""

from __future__ import annotations

import orjson
import pytest

from broker import committer
from broker.errors import StorageUnavailable
from broker.mutations import NewJob
from common.keys import checkpoint_generation, checkpoint_prefix, log_prefix, topic_key
from common.models import JobStatus, TopicDocument
from common.store import MemoryStore, ObjectStore, PreconditionFailed, StoreUnavailable
from tests.support.faults import Fault, FaultyStore
from tests.support.polling import until

from .engine_support import as_job, as_jobs, engine, stored

KEY = topic_key("t")
LOG = log_prefix("t")  # every commit after a topic's first creates an object under it
SMALL_CHECKPOINTS = 2048  # bytes: a few dozen jobs make a checkpointed topic


@pytest.fixture
def store(faulty_store: FaultyStore) -> FaultyStore:
    return faulty_store


def statuses(doc: TopicDocument) -> dict[str, JobStatus]:
    return {job.id: job.status for job in doc.jobs}


# --- a write that landed but whose answer was lost -----------------------------------------


async def test_lost_answer_to_an_ack_answers_the_ack(store: FaultyStore) -> None:
    topic = engine(store).topic("t")
    await topic.enqueue("x", id="j")
    await as_jobs(topic.claim("w"))
    store.inject(Fault.LOST_ANSWER, op="put_if", key=LOG)
    job = await as_job(topic.ack("j", worker="w"))  # not 409: the ack that landed is this one
    assert job.status is JobStatus.COMPLETED
    assert store.count(Fault.LOST_ANSWER) == 1
    assert statuses(await stored(store, "t")) == {"j": JobStatus.COMPLETED}
    assert (await stored(store, "t")).counters.completed == 1


async def test_lost_answer_to_a_claim_takes_one_job(store: FaultyStore) -> None:
    eng = engine(store)
    topic = eng.topic("t")
    await topic.enqueue_many([NewJob(n, id=f"j{n}") for n in range(3)])
    store.inject(Fault.LOST_ANSWER, op="put_if", key=LOG)
    (job,) = await as_jobs(topic.claim("w"))
    assert job.id == "j0"
    doc = await stored(store, "t")
    assert statuses(doc) == {"j0": "claimed", "j1": "pending", "j2": "pending"}
    assert doc.jobs[0].attempts == 1
    assert eng.metrics.conflicts.get() == 0  # its own write is no conflict


async def test_lost_answer_to_a_pop_returns_the_item(store: FaultyStore) -> None:
    topic = engine(store).topic("t")
    await topic.enqueue("only", id="j")
    store.inject(Fault.LOST_ANSWER, op="put_if", key=LOG)
    popped = await topic.pop()
    assert [job.id for job in popped] == ["j"]  # not lost: completed and given to the caller
    assert statuses(await stored(store, "t")) == {"j": JobStatus.COMPLETED}


async def test_lost_answer_to_the_first_write_of_a_topic(store: FaultyStore) -> None:
    topic = engine(store).topic("t")
    store.inject(Fault.LOST_ANSWER, op="put_if", key=KEY)
    result = await topic.enqueue("x", id="j")
    assert result.created  # the create-only write that landed was this enqueue's
    doc = await stored(store, "t")
    assert (doc.generation, doc.counters.enqueued, len(doc.jobs)) == (1, 1, 1)


async def test_lost_answer_to_a_pointer_moved_to_a_new_checkpoint(store: FaultyStore) -> None:
    eng = engine(store, checkpoint_bytes=SMALL_CHECKPOINTS)
    topic = eng.topic("t")
    await topic.enqueue("first", id="first")  # the first write: a checkpoint and the pointer
    store.inject(Fault.LOST_ANSWER, op="put_if", key=KEY)  # the next pointer write
    for n in range(40):
        await topic.enqueue("p" * 100, id=f"j{n:02}")
    await until(lambda: store.count(Fault.LOST_ANSWER) == 1, "a checkpoint moved the pointer")
    await until(lambda: eng.metrics.checkpoints.get() >= 2, "the checkpoint counted")
    pointer = orjson.loads((await store.get(KEY)).data)
    assert pointer["format"] == 3 and pointer["generation"] > 1
    assert pointer["checkpoint"] in await checkpoints(store)
    again = engine(store).topic("t")
    await again.load()
    assert again.stats().pending == 41


async def test_lost_answer_to_a_new_checkpoint(store: FaultyStore) -> None:
    eng = engine(store, checkpoint_bytes=SMALL_CHECKPOINTS)
    topic = eng.topic("t")
    store.inject(Fault.LOST_ANSWER, op="put_if", key=checkpoint_prefix("t"))
    await topic.enqueue_many([NewJob("p" * 100, id=f"j{n:02}") for n in range(40)])
    assert store.count(Fault.LOST_ANSWER) == 1
    assert eng.metrics.conflicts.get() == 0
    assert len(await checkpoints(store)) == 1
    assert len((await stored(store, "t")).jobs) == 40


# --- spurious conflicts, errors, torn reads ---------------------------------------------------


async def test_spurious_conflicts_duplicate_nothing(store: FaultyStore) -> None:
    topic = engine(store).topic("t")
    await topic.enqueue_many([NewJob(n, id=f"j{n}") for n in range(3)])
    store.inject(Fault.SPURIOUS_CONFLICT, op="put_if", key=LOG, times=3)
    store.inject(Fault.LATENCY, op="put_if", seconds=0.01, times=3)
    (job,) = await as_jobs(topic.claim("w"))
    assert job.id == "j0"
    assert (await as_job(topic.ack("j0", worker="w"))).status is JobStatus.COMPLETED
    result = await topic.enqueue("again", id="j1")
    assert not result.created
    assert store.count(Fault.SPURIOUS_CONFLICT) == 3
    doc = await stored(store, "t")
    assert statuses(doc) == {"j0": "completed", "j1": "pending", "j2": "pending"}
    assert (doc.counters.enqueued, doc.counters.completed) == (3, 1)


async def test_a_spurious_conflict_on_a_new_checkpoint_is_retried(store: FaultyStore) -> None:
    eng = engine(store, checkpoint_bytes=SMALL_CHECKPOINTS)
    store.inject(Fault.SPURIOUS_CONFLICT, op="put_if", key=checkpoint_prefix("t"))
    await eng.topic("t").enqueue_many([NewJob("p" * 100, id=f"j{n:02}") for n in range(40)])
    assert store.count(Fault.SPURIOUS_CONFLICT) == 1
    assert len((await stored(store, "t")).jobs) == 40
    assert len(await checkpoints(store)) == 1  # the one the pointer names


async def test_a_storage_error_fails_the_batch_and_the_next_one_works(store: FaultyStore) -> None:
    topic = engine(store).topic("t")
    await topic.enqueue("kept", id="kept")
    store.inject(Fault.ERROR, op="put_if", key=LOG)
    store.inject(Fault.ERROR, op="get", key=KEY)  # the reload that undoes the batch fails too
    with pytest.raises(StorageUnavailable, match="injected storage error"):
        await topic.enqueue("lost", id="lost")
    assert await as_jobs(topic.claim("w")) != []  # reloaded: sees only what landed
    assert topic.get_job("lost") is None
    await topic.enqueue("next", id="next")
    assert statuses(await stored(store, "t")) == {"kept": "claimed", "next": "pending"}


async def test_a_torn_read_never_overwrites_the_document(
    store: FaultyStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A torn read makes the document look unusable; the broker parses it again after
    # BROKEN_RECHECK_SECONDS even though its ETag did not change (0 here: at once).
    monkeypatch.setattr(committer, "BROKEN_RECHECK_SECONDS", 0.0)
    first = engine(store).topic("t")
    await first.enqueue_many([NewJob(n, id=f"j{n}") for n in range(5)])
    before = (await store.get(KEY)).data
    store.inject(Fault.TORN_READ, key=KEY)
    second = engine(store).topic("t")
    with pytest.raises(StorageUnavailable):
        await second.enqueue("new", id="new")
    assert (await store.inner.get(KEY)).data == before
    await second.enqueue("new", id="new")  # read whole this time
    assert len((await stored(store, "t")).jobs) == 6


async def test_a_torn_read_after_a_conflict_never_overwrites(
    store: FaultyStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(committer, "BROKEN_RECHECK_SECONDS", 0.0)
    a, b = engine(store).topic("t"), engine(store).topic("t")
    await a.enqueue("a", id="a")
    await b.load()
    await a.enqueue("a2", id="a2")  # b's copy is now behind
    written = (await store.get(KEY)).data
    store.inject(Fault.TORN_READ, key=KEY, times=None)
    with pytest.raises(StorageUnavailable):
        await b.enqueue("b", id="b")
    assert (await store.inner.get(KEY)).data == written
    store.clear()
    await b.enqueue("b", id="b")
    assert sorted(statuses(await stored(store, "t"))) == ["a", "a2", "b"]


async def test_fault_rules_follow_their_schedule() -> None:
    store = FaultyStore(MemoryStore())
    store.inject(Fault.ERROR, op="put_if", key="a", skip=1, times=2)
    etag = await store.put_if("a", b"1", None)  # skipped
    for _ in range(2):
        with pytest.raises(StoreUnavailable):
            await store.put_if("a", b"2", etag)
    etag = await store.put_if("a", b"2", etag)  # spent
    await store.put_if("b", b"1", None)  # another key
    store.inject(Fault.LOST_ANSWER, op="put_if")
    with pytest.raises(PreconditionFailed):
        await store.put_if("a", b"3456", etag)  # ...and yet it landed
    store.inject(Fault.TORN_READ, times=None)
    assert (await store.get("a")).data == b"34"
    assert store.count(Fault.ERROR) == 2 and store.rules[0].fault is Fault.TORN_READ
    with pytest.raises(ValueError, match="torn-read cannot hit put_if"):
        store.inject(Fault.TORN_READ, op="put_if")


async def checkpoints(store: ObjectStore) -> list[str]:
    keys = await store.list(checkpoint_prefix("t"))
    return [key for key in keys if checkpoint_generation(key) is not None]
