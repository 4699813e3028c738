"""The log layout (format 3) on every backend: topics stored by older brokers (format 1
whole documents, format 2 heads over checkpoints; fixtures written by the broker before
the log layout) move to it on their first write; brokers racing on one topic; a stale
broker after garbage collection; a reader reading while garbage is collected."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest

from broker import checkpoints, committer
from broker.engine import Engine, EngineSettings
from common.keys import (
    checkpoint_generation,
    checkpoint_prefix,
    log_generation,
    log_key,
    log_prefix,
    topic_key,
)
from common.models import LOG_FORMAT, TopicDocument, load_document
from common.store import ObjectStore
from common.topic_log import DocumentReader, pointer_bytes, read_topic
from tests.support.polling import until
from tests.support.stores import WatchedStore, open_backend

from .engine_support import as_job, as_jobs

FIXTURES = Path(__file__).parent / "fixtures"
SMALL = 4096  # --checkpoint-bytes: checkpoints every few commits


@pytest.fixture(params=["memfs", "localfs", "s3"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ObjectStore]:
    async with open_backend(request, tmp_path, request.param) as backend:
        yield backend


def broker(store: ObjectStore, writer: str = "new", **settings: int) -> Engine:
    chosen = {"checkpoint_bytes": SMALL, **settings}
    return Engine(store, EngineSettings(**chosen), writer=writer)


async def copy_fixture(store: ObjectStore, name: str) -> list[str]:
    """Store the files of fixtures/<name> under their keys; returns the keys."""
    root = FIXTURES / name
    keys = []
    for path in sorted(root.rglob("*.json")):
        key = path.relative_to(root).as_posix()
        await store.put_if(key, path.read_bytes(), None)
        keys.append(key)
    return keys


async def document(store: ObjectStore, topic: str) -> TopicDocument:
    found = await DocumentReader(store).get(topic)
    return load_document(TopicDocument, topic_key(topic), found.data)


async def checkpoint_keys(store: ObjectStore, topic: str) -> list[str]:
    keys = await store.list(checkpoint_prefix(topic))
    return [key for key in keys if checkpoint_generation(key) is not None]


async def log_generations(store: ObjectStore, topic: str) -> list[int]:
    keys = await store.list(log_prefix(topic))
    return [g for key in keys if (g := log_generation(key)) is not None]


async def pointer(store: ObjectStore, topic: str) -> dict[str, object]:
    value: dict[str, object] = orjson.loads((await store.get(topic_key(topic))).data)
    return value


# --- upgrade ----------------------------------------------------------------------------


async def test_a_format_1_document_is_read_unchanged_and_upgraded_on_its_first_write(
    store: ObjectStore,
) -> None:
    await copy_fixture(store, "format1")
    before = await document(store, "whole")
    old = broker(store).topic("whole")
    assert old.stats().total == 0  # not loaded yet
    await old.load()
    assert [(j.id, j.status) for j in old.claimed()] == [("w1", "claimed")]
    assert (await pointer(store, "whole"))["format"] == 1  # reading wrote nothing

    await old.enqueue("new", id="w9")  # the first write: a checkpoint and the pointer
    stored = await pointer(store, "whole")
    assert stored["format"] == LOG_FORMAT and stored["generation"] == before.generation + 1
    after = await document(store, "whole")
    assert [j.id for j in after.jobs] == [*(j.id for j in before.jobs), "w9"]
    assert after.jobs[:-1] == before.jobs  # every old job as it was stored
    await as_job(old.ack("w1"))  # the next write: a log object
    assert await log_generations(store, "whole") == [before.generation + 2]
    again = broker(store, "other").topic("whole")
    await again.load()
    assert again.stats() == old.stats()


async def test_a_format_2_head_is_read_unchanged_and_upgraded_on_its_first_write(
    store: ObjectStore,
) -> None:
    keys = await copy_fixture(store, "format2")
    (old_checkpoint,) = [key for key in keys if checkpoint_generation(key) is not None]
    before = await document(store, "headed")
    ids = [j.id for j in before.jobs]
    assert "h30" not in ids and ids[-2:] == ["later", "h31"]  # the head's changes merged
    eng = broker(store)
    topic = eng.topic("headed")
    await topic.load()
    assert [j.id for j in topic.pending()][-3:] == ["late", "later", "h31"]
    (claimed,) = await as_jobs(topic.claim("w"))  # the first write
    assert (await pointer(store, "headed"))["format"] == LOG_FORMAT
    after = await document(store, "headed")
    assert [j.id for j in after.jobs] == ids
    assert after.jobs[ids.index(claimed.id)].status == "claimed"
    assert after.counters.enqueued == before.counters.enqueued
    await topic.enqueue("x", id="x")
    await eng.stop()  # the old checkpoint is garbage now, collected in the background
    assert old_checkpoint not in await checkpoint_keys(store, "headed")
    again = broker(store, "other").topic("headed")
    await again.load()
    assert [j.id for j in again.pending()][-1] == "x"


# --- brokers racing ---------------------------------------------------------------------


async def test_two_brokers_racing_on_one_topic_lose_nothing_and_claim_nothing_twice(
    store: ObjectStore,
) -> None:
    a, b = broker(store, "a"), broker(store, "b")
    enqueued = await asyncio.gather(
        *(eng.topic("t").enqueue({"n": n, "pad": "r" * 50}) for n in range(40) for eng in (a, b))
    )
    claimed = await asyncio.gather(
        *(as_jobs(eng.topic("t").claim(f"w{n}", count=3)) for n in range(15) for eng in (a, b))
    )
    ids = [job.id for jobs in claimed for job in jobs]
    assert len(ids) == len(set(ids)) == 80  # every job claimed once
    await asyncio.gather(a.stop(), b.stop())
    stored = await document(store, "t")
    assert sorted(j.id for j in stored.jobs) == sorted(r.id for r in enqueued)
    assert {j.status for j in stored.jobs} == {"claimed"}
    assert stored.generation == max(await log_generations(store, "t"))


# --- garbage collection -----------------------------------------------------------------


@pytest.fixture
def short_grace(monkeypatch: pytest.MonkeyPatch) -> float:
    grace = 0.3
    monkeypatch.setattr(committer, "GRACE_SECONDS", grace)
    monkeypatch.setattr(committer, "CONFIRM_SECONDS", grace / 2)
    monkeypatch.setattr(committer, "GC_INTERVAL_SECONDS", 0.0)
    monkeypatch.setattr(checkpoints, "GRACE_SECONDS", grace)
    return grace


async def test_a_stale_broker_never_recreates_a_collected_log_object(
    store: ObjectStore, short_grace: float
) -> None:
    stale, busy = broker(store, "stale"), broker(store, "busy")
    await stale.topic("t").enqueue("first", id="first")
    await stale.topic("t").load()
    behind = stale.topic("t").generation
    # Another broker writes on: checkpoints past `behind`, and collects the log objects
    # they cover once the grace period is over (broker/checkpoints.py).
    n = 0

    async def collected() -> bool:
        nonlocal n
        n += 1
        await busy.topic("t").enqueue({"pad": "b" * 200}, id=f"b{n}")
        return log_key("t", behind + 1) not in set(await store.list(log_prefix("t")))

    await until(collected, "the log object after the stale copy collected")
    assert behind < int(str((await pointer(store, "t"))["generation"]))
    # The stale broker writes from its old copy: had it created log/<behind+1> again,
    # the write would be acknowledged and never read by anyone.
    await stale.topic("t").enqueue("late", id="late")
    fresh = broker(store, "fresh").topic("t")
    await fresh.load()
    assert fresh.get_job("late") is not None
    assert fresh.stats().total == n + 2
    await asyncio.gather(stale.stop(), busy.stop())


async def test_log_objects_younger_than_the_grace_period_are_kept(
    store: ObjectStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    eng = broker(store)
    for n in range(60):
        await eng.topic("t").enqueue({"pad": "k" * 200}, id=f"k{n}")
    await eng.stop()
    covered = int(str((await pointer(store, "t"))["generation"]))
    assert covered > 2  # checkpoints were written...
    assert min(await log_generations(store, "t")) == 2  # ...and nothing deleted yet


async def checkpoint_and_collect(store: ObjectStore, topic: str) -> None:
    """What garbage collection does at its most eager: a checkpoint of the whole topic at
    its newest generation, the pointer moved to it, everything older deleted."""
    stored = await read_topic(store, topic)
    whole = (await DocumentReader(store).get(topic)).data
    key = f"{checkpoint_prefix(topic)}checkpoint-{stored.generation:012d}-0000beef.json"
    await store.put_if(key, whole, None)
    assert stored.token is not None
    new = pointer_bytes(topic, stored.generation, stored.token, key)
    await store.put_if(topic_key(topic), new, stored.root.etag)
    for old in await checkpoint_keys(store, topic):
        if old != key:
            await store.delete(old)
    for generation in await log_generations(store, topic):
        await store.delete(log_key(topic, generation))


@pytest.mark.parametrize("where", ["checkpoint", "log"])
async def test_a_reader_reading_while_garbage_is_collected_reads_the_topic(
    store: ObjectStore, where: str
) -> None:
    eng = broker(store, checkpoint_bytes=10**9)  # no checkpoint of its own
    for n in range(8):
        await eng.topic("t").enqueue(n, id=f"j{n}")
    await eng.stop()
    expected = await document(store, "t")
    hooked = WatchedStore(store)
    named = str((await pointer(store, "t"))["checkpoint"])
    # Right after the reader read the pointer, before it reads the checkpoint it names
    # (or the third log object after it), everything it would read is collected.
    first = key = named if where == "checkpoint" else log_key("t", 4)
    hooked.before_read[first] = lambda: checkpoint_and_collect(store, "t")
    found = await DocumentReader(hooked).get("t")
    assert load_document(TopicDocument, topic_key("t"), found.data) == expected
    assert await log_generations(store, "t") == []
    assert key not in await store.list("topics/")
