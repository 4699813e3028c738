"""The merge rule (common/topic_log.py) on format-2 heads, and reading topics of formats 1,
2 and 3 from real stores (the reader every client uses)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from common.keys import checkpoint_key, topic_key
from common.models import (
    Counters,
    DocumentInvalid,
    Job,
    JobStatus,
    TopicDocument,
    load_document,
)
from common.store import NotFound, Object
from common.topic_log import DocumentReader, HeadInvalid
from common.topic_log import merge_head as merge_document
from tests.support.checkpoints import Checkpointed, checkpointed, store_checkpointed
from tests.support.stores import WatchedStore, open_backend

KEY = topic_key("orders")
T0 = datetime(2026, 11, 28, 10, 0, 0, tzinfo=UTC)


def job(job_id: str, version: int = 0, status: JobStatus = JobStatus.PENDING) -> Job:
    """A job whose payload says which version of it this is."""
    return Job(
        id=job_id,
        status=status,
        payload={"id": job_id, "v": version},
        created_at=T0,
        attempts=version,
    )


def base(*ids: str, generation: int = 10) -> TopicDocument:
    return TopicDocument(
        topic="orders",
        generation=generation,
        writer="node-a",
        updated_at=T0,
        counters=Counters(enqueued=len(ids)),
        jobs=[job(job_id) for job_id in ids],
    )


def merged_jobs(parts: Checkpointed) -> list[tuple[str, int]]:
    """(id, version) of each job of the merged document, in order."""
    merged = orjson.loads(merge_document(KEY, parts.head, parts.checkpoint))
    return [(j["id"], j["payload"]["v"]) for j in merged["jobs"]]


# --- the merge rule ---------------------------------------------------------------------


def test_a_changed_job_replaces_the_checkpoints_in_its_place() -> None:
    parts = checkpointed(base("a", "b", "c"), changed=[job("b", 1, JobStatus.CLAIMED)])
    assert merged_jobs(parts) == [("a", 0), ("b", 1), ("c", 0)]


def test_removed_jobs_are_left_out() -> None:
    parts = checkpointed(base("a", "b", "c"), removed=["a", "c"])
    assert merged_jobs(parts) == [("b", 0)]


def test_a_job_removed_then_enqueued_again_goes_to_the_end() -> None:
    parts = checkpointed(base("a", "b", "c"), changed=[job("a", 1)], removed=["a"])
    assert merged_jobs(parts) == [("b", 0), ("c", 0), ("a", 1)]


def test_new_jobs_follow_the_checkpoints_in_head_order() -> None:
    changed = [job("z", 1), job("b", 2), job("m", 1), job("d", 1)]
    parts = checkpointed(base("a", "b", "c"), changed=changed)
    assert merged_jobs(parts) == [("a", 0), ("b", 2), ("c", 0), ("z", 1), ("m", 1), ("d", 1)]


def test_the_header_is_the_heads_in_design_order_as_format_1() -> None:
    later = T0 + timedelta(seconds=5)
    counters = Counters(enqueued=7, completed=2, dead=1, reaped=3, dropped=0)
    parts = checkpointed(
        base("a"), generation=15, writer="node-b", updated_at=later, counters=counters
    )
    merged = orjson.loads(merge_document(KEY, parts.head, parts.checkpoint))
    head = orjson.loads(parts.head)
    # `settings` only in a topic that has some, `kind` and `groups` only in a stream
    optional = ("settings", "kind", "groups")
    fields = [name for name in TopicDocument.model_fields if name not in optional]
    assert list(merged) == fields  # broker/DESIGN.md's order
    assert merged["format"] == 1
    for field in ["topic", "generation", "writer", "updated_at", "counters"]:
        assert merged[field] == head[field]
    assert (merged["generation"], merged["writer"]) == (15, "node-b")
    document = load_document(TopicDocument, KEY, merge_document(KEY, parts.head, parts.checkpoint))
    assert document.counters == counters and document.updated_at == later


def test_jobs_keep_the_fields_they_were_stored_with() -> None:
    parts = checkpointed(base("a", "b"), changed=[job("b", 1)])
    checkpoint = orjson.loads(parts.checkpoint)
    # A field order and a time spelling that a re-dump through Job would change.
    checkpoint["jobs"][0] = {
        "payload": [1, 2],
        "id": "a",
        "created_at": "2026-11-28T10:00:00Z",
        "status": "pending",
    }
    merged = orjson.loads(merge_document(KEY, parts.head, orjson.dumps(checkpoint)))
    assert orjson.dumps(merged["jobs"][0]) == orjson.dumps(checkpoint["jobs"][0])
    assert merged["jobs"][1] == orjson.loads(parts.head)["jobs"][0]


def test_the_merged_document_is_compact_json() -> None:
    parts = checkpointed(base("a", "b"), changed=[job("c", 1)])
    data = merge_document(KEY, parts.head, parts.checkpoint)
    assert data == orjson.dumps(orjson.loads(data))


def test_a_format_1_document_passes_through_byte_for_byte() -> None:
    data = b'{ "format": 1, "topic": "orders", "generation": 1, "writer": "w",\n "jobs": [] }'
    assert merge_document(KEY, data, b"not even looked at") is data


@pytest.mark.parametrize("found", ["3", "0", '"2"', "true", "null", "1.0"])
def test_a_document_of_no_known_format_is_refused_naming_its_key(found: str) -> None:
    data = b'{"format": ' + found.encode() + b', "topic": "orders", "jobs": []}'
    with pytest.raises(DocumentInvalid, match="field format") as info:
        merge_document(KEY, data, b"{}")
    assert info.value.key == KEY


@pytest.mark.parametrize("data", [b"{torn", b"[1, 2]", b'"text"'])
def test_a_head_that_is_not_a_json_object_is_refused(data: bytes) -> None:
    with pytest.raises(DocumentInvalid) as info:
        merge_document(KEY, data, b"{}")
    assert info.value.key == KEY


def test_a_head_with_an_invalid_field_is_refused_naming_the_field() -> None:
    head = orjson.loads(checkpointed(base("a")).head)
    head["jobs"] = [{"id": "x", "status": "bogus", "created_at": "2026-11-28T10:00:00Z"}]
    with pytest.raises(DocumentInvalid, match=r"field jobs\.0\.status"):
        merge_document(KEY, orjson.dumps(head), checkpointed(base("a")).checkpoint)


@pytest.mark.parametrize(
    "key",
    [
        checkpoint_key("emails", 10, "0123abcd"),  # another topic's
        checkpoint_key("orders", 11, "0123abcd"),  # says generation 11, the head says 10
        "broker.json",
    ],
)
def test_a_head_must_name_a_checkpoint_of_its_own_topic(key: str) -> None:
    parts = checkpointed(base("a"))
    head = orjson.loads(parts.head)
    head["checkpoint"]["key"] = key
    with pytest.raises(DocumentInvalid, match=r"field checkpoint\.key") as info:
        merge_document(KEY, orjson.dumps(head), b"{}")
    assert info.value.key == KEY


def test_a_checkpoint_of_another_topic_is_refused() -> None:
    parts = checkpointed(base("a"))
    other = orjson.loads(parts.checkpoint)
    other["topic"] = "emails"
    with pytest.raises(DocumentInvalid, match="'emails', not 'orders'") as info:
        merge_document(KEY, parts.head, orjson.dumps(other))
    assert info.value.key == parts.checkpoint_key


@pytest.mark.parametrize(
    "checkpoint",
    [
        b"{torn",
        b"[]",
        b'{"format": 2, "topic": "orders", "jobs": []}',
        b'{"format": 1, "topic": "orders", "jobs": {}}',
        b'{"format": 1, "topic": "orders", "jobs": [{"status": "pending"}]}',
        b'{"format": 1, "topic": "orders", "jobs": ["a"]}',
    ],
)
def test_a_checkpoint_that_is_not_a_format_1_document_is_refused(checkpoint: bytes) -> None:
    parts = checkpointed(base("a"))
    with pytest.raises(DocumentInvalid) as info:
        merge_document(KEY, parts.head, checkpoint)
    assert info.value.key == parts.checkpoint_key


# A topic's history since its checkpoint, as steps on a dict (which keeps insertion order,
# moves nothing on update and appends on insert): the straightforward model of the rule.
ids = st.sampled_from("abcdefghij")
steps = st.lists(st.tuples(st.sampled_from(["enqueue", "change", "delete"]), ids), max_size=30)


@settings(max_examples=200, deadline=None, database=None)
@given(st.lists(ids, unique=True, max_size=8), steps)
def test_merging_matches_replaying_the_changes_on_a_dict(
    base_ids: list[str], history: list[tuple[str, str]]
) -> None:
    topic = {job_id: 0 for job_id in base_ids}  # id -> version
    touched: set[str] = set()
    removed: set[str] = set()
    for version, (step, job_id) in enumerate(history, start=1):
        present = job_id in topic
        if step == "delete" and present:
            del topic[job_id]
            if job_id in base_ids:
                removed.add(job_id)
        elif (step == "enqueue" and not present) or (step == "change" and present):
            topic[job_id] = version
        else:
            continue  # enqueueing an id already there, or changing/deleting an absent one
        touched.add(job_id)
    # The head holds each touched job still in the topic, in the topic's order.
    changed = [job(job_id, v) for job_id, v in topic.items() if job_id in touched]
    parts = checkpointed(base(*base_ids), changed=changed, removed=sorted(removed))
    assert merged_jobs(parts) == list(topic.items())


# --- reading from real stores -----------------------------------------------------------


@pytest.fixture(params=["localfs", "s3"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[WatchedStore]:
    async with open_backend(request, tmp_path, request.param) as backend:
        yield WatchedStore(backend)


async def test_reader_returns_the_merged_document_with_the_heads_etag(
    store: WatchedStore,
) -> None:
    parts = checkpointed(base("a", "b"), changed=[job("b", 1), job("c", 1)], removed=["a"])
    etag = await store_checkpointed(store.inner, parts)
    found = await DocumentReader(store).get("orders")
    assert found == Object(merge_document(KEY, parts.head, parts.checkpoint), etag)
    assert [j.id for j in load_document(TopicDocument, KEY, found.data).jobs] == ["b", "c"]


async def test_reader_returns_a_format_1_document_byte_for_byte(store: WatchedStore) -> None:
    data = b'{"format": 1, "topic": "orders", "generation": 1, "writer": "w", "jobs": []}\n'
    etag = await store.inner.put_if(KEY, data, None)
    reader = DocumentReader(store)
    assert await reader.get("orders") == Object(data, etag)
    assert await reader.get_if_changed("orders", etag) is None


async def test_reader_raises_not_found_for_a_topic_without_a_document(
    store: WatchedStore,
) -> None:
    with pytest.raises(NotFound):
        await DocumentReader(store).get("orders")


async def test_reader_polls_a_head_with_conditional_reads(store: WatchedStore) -> None:
    first = checkpointed(base("a", "b"), changed=[job("b", 1)])
    etag = await store_checkpointed(store.inner, first)
    reader = DocumentReader(store)
    found = await reader.get_if_changed("orders", None)
    assert found is not None and found.etag == etag
    assert await reader.get_if_changed("orders", etag) is None

    second = checkpointed(base("a", "b"), changed=[job("b", 2)], generation=12)
    etag = await store_checkpointed(store.inner, second)
    found = await reader.get_if_changed("orders", found.etag)
    assert found is not None and found.etag == etag
    assert orjson.loads(found.data)["jobs"][1]["payload"] == {"id": "b", "v": 2}
    assert store.reads[first.checkpoint_key] == 2  # read again for the new head
    assert store.reads[KEY] == 4  # read, unchanged, changed, read


async def test_reader_reads_a_new_checkpoint_when_the_head_names_one(
    store: WatchedStore,
) -> None:
    reader = DocumentReader(store)
    await store_checkpointed(store.inner, checkpointed(base("a")))
    await reader.get("orders")
    newer = checkpointed(base("x", "y", generation=20), changed=[job("z", 1)])
    await store_checkpointed(store.inner, newer)
    found = await reader.get("orders")
    assert [j["id"] for j in orjson.loads(found.data)["jobs"]] == ["x", "y", "z"]
    assert store.reads[newer.checkpoint_key] == 1


async def test_reader_reads_the_head_again_when_its_checkpoint_was_deleted(
    store: WatchedStore,
) -> None:
    # The reader gets head A; before it reads A's checkpoint, a broker lands head B on a
    # new checkpoint and deletes A's (as brokers do once no head refers to it).
    old = checkpointed(base("a", generation=10))
    new = checkpointed(base("a", "b", generation=20), changed=[job("c", 1)])
    await store_checkpointed(store.inner, old)

    async def broker_moves_on() -> None:
        await store_checkpointed(store.inner, new)
        await store.inner.delete(old.checkpoint_key)

    store.before_read[old.checkpoint_key] = broker_moves_on
    found = await DocumentReader(store).get("orders")
    assert [j["id"] for j in orjson.loads(found.data)["jobs"]] == ["a", "b", "c"]
    assert found.etag == (await store.inner.get(KEY)).etag
    assert store.reads[KEY] == 3  # head A, a look whether it moved on, head B


async def test_reader_reports_a_head_whose_checkpoint_is_missing(store: WatchedStore) -> None:
    parts = checkpointed(base("a"))
    etag = await store.inner.put_if(KEY, parts.head, None)  # the checkpoint was never written
    with pytest.raises(HeadInvalid, match="does not exist") as info:
        await DocumentReader(store).get("orders")
    assert (info.value.key, info.value.etag) == (KEY, etag)


async def test_reader_reports_an_invalid_checkpoint_with_the_heads_etag(
    store: WatchedStore,
) -> None:
    parts = checkpointed(base("a"))
    await store.inner.put_if(parts.checkpoint_key, b'{"format": 1, "topic": "emails"}', None)
    etag = await store.inner.put_if(KEY, parts.head, None)
    with pytest.raises(HeadInvalid, match="'emails', not 'orders'") as info:
        await DocumentReader(store).get("orders")
    assert (info.value.key, info.value.etag) == (parts.checkpoint_key, etag)


async def test_reader_reports_an_unknown_format_with_the_heads_etag(
    store: WatchedStore,
) -> None:
    etag = await store.inner.put_if(KEY, b'{"format": 4}', None)
    with pytest.raises(HeadInvalid, match="field format") as info:
        await DocumentReader(store).get("orders")
    assert (info.value.key, info.value.etag) == (KEY, etag)
