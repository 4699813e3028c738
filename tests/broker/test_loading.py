"""Loading stored documents: the split fast path, the fallback, and invalid documents."""

from __future__ import annotations

import json

import orjson
import pytest

from broker.loading import load_state, load_stored
from broker.state import Limits
from common.keys import checkpoint_key
from common.models import DocumentInvalid, JobStatus, TopicDocument, load_document
from common.store import MemoryStore
from common.topic_log import read_topic

HEADER = {
    "format": 1,
    "topic": "t",
    "generation": 3,
    "writer": 'we},{"id":ird',
    "updated_at": "2026-11-28T10:00:00.123Z",
    "counters": {"enqueued": 3},
}


def job(
    job_id: str, payload: object, status: str = "pending", **extra: object
) -> dict[str, object]:
    return {
        "id": job_id,
        "status": status,
        "payload": payload,
        "created_at": "2026-11-28T10:00:00.123Z",
        "attempts": 0,
        **extra,
    }


TRICKY = [
    job("a", [{"id": 1}, {"id": 2}]),  # the split marker inside a payload
    job("b", '},{"id":"c"}'),  # and inside a string
    job("c", {"nested": [{"id": {"id": []}}, {"id": 0}]}, "claimed", claimed_by="w"),
]


def load(data: bytes) -> list[tuple[str, JobStatus, bytes]]:
    state = load_state("t", Limits(), "topics/t.json", data, "etag")
    assert state.generation == 3 and state.counters["enqueued"] == 3
    return [(r.id, r.status, r.enc) for r in state.jobs.values()]


def test_compact_document_splits_into_its_jobs_keeping_their_bytes() -> None:
    data = orjson.dumps({**HEADER, "jobs": TRICKY})
    loaded = load(data)
    assert [(i, s) for i, s, _ in loaded] == [
        ("a", JobStatus.PENDING),
        ("b", JobStatus.PENDING),
        ("c", JobStatus.CLAIMED),
    ]
    assert [enc for _, _, enc in loaded] == [orjson.dumps(j) for j in TRICKY]


def test_other_layouts_fall_back_to_a_full_parse() -> None:
    pretty = json.dumps({"jobs": TRICKY, **HEADER}, indent=2).encode()
    assert [i for i, _, _ in load(pretty)] == ["a", "b", "c"]


def test_empty_jobs() -> None:
    assert load(orjson.dumps({**HEADER, "jobs": []})) == []
    assert load(orjson.dumps(HEADER)) == []


@pytest.mark.parametrize(
    ("jobs", "field"),
    [
        ([job("a", 1, status="lost")], "status"),
        ([job("a", 1, created_at="yesterday")], "created_at"),
        ([job("a", 1, attempts=-1)], "attempts"),
        ([job("a", 1, attempts=2**64 - 1)], "attempts"),
        ([job("a", 1, surprise=True)], "surprise"),
        ([{"status": "pending"}], "id"),
    ],
)
def test_invalid_jobs_name_the_field(jobs: list[object], field: str) -> None:
    with pytest.raises(DocumentInvalid, match=field):
        load(orjson.dumps({**HEADER, "jobs": jobs}))


def test_duplicate_ids_are_invalid() -> None:
    with pytest.raises(DocumentInvalid, match="appears twice"):
        load(orjson.dumps({**HEADER, "jobs": [job("a", 1), job("a", 2)]}))


def test_document_of_another_topic_is_invalid() -> None:
    with pytest.raises(DocumentInvalid, match="another topic"):
        load(orjson.dumps({**HEADER, "topic": "other", "jobs": []}))


GOOD = job("a", 1)
SHAPES = {
    "jobs is an object": {**HEADER, "jobs": {}},
    "jobs is a string": {**HEADER, "jobs": ""},
    "jobs is null": {**HEADER, "jobs": None},
    "a job is a number": {**HEADER, "jobs": [1]},
    "counters is a list": {**HEADER, "counters": [], "jobs": []},
    "a counter below 0": {**HEADER, "counters": {"enqueued": -1}, "jobs": []},
    "no writer": {k: v for k, v in HEADER.items() if k != "writer"} | {"jobs": []},
    "an unknown field": {**HEADER, "extra": 1, "jobs": []},
    "generation as text": {**HEADER, "generation": "3", "jobs": []},
    # Counts that adding 1 to would overflow a 64-bit integer (bricking every write).
    "a counter of 2**64-1": {**HEADER, "counters": {"enqueued": 2**64 - 1}, "jobs": []},
    "a counter above 2**53": {**HEADER, "counters": {"dropped": 2**53 + 1}, "jobs": []},
    "a generation of 2**63": {**HEADER, "generation": 2**63, "jobs": []},
    "attempts of 2**64-1": {**HEADER, "jobs": [{**GOOD, "attempts": 2**64 - 1}]},
    "attempts above 2**53": {**HEADER, "jobs": [{**GOOD, "attempts": 2**53 + 1}]},
    "attempts of 2**53": {**HEADER, "jobs": [{**GOOD, "attempts": 2**53}]},
    "attempts below 0": {**HEADER, "jobs": [{**GOOD, "attempts": -1}]},
    "an unknown status": {**HEADER, "jobs": [{**GOOD, "status": "lost"}]},
    "an id too long": {**HEADER, "jobs": [{**GOOD, "id": "x" * 257}]},
    "a time as a number": {**HEADER, "jobs": [{**GOOD, "created_at": 5}]},
    "a time without zone": {**HEADER, "jobs": [{**GOOD, "created_at": "2026-11-28T10:00:00"}]},
    "an unknown job field": {**HEADER, "jobs": [{**GOOD, "foo": 1}]},
    "an id twice": {**HEADER, "jobs": [GOOD, GOOD]},
    "no jobs": dict(HEADER),
    "valid": {**HEADER, "jobs": [GOOD]},
}


@pytest.mark.parametrize("shape", list(SHAPES))
@pytest.mark.parametrize("indent", [False, True], ids=["compact", "indented"])
def test_the_broker_and_every_reader_accept_the_same_documents(shape: str, indent: bool) -> None:
    # One validation path: what the model (and so every reader) refuses, the broker's
    # loader refuses too, naming the same field; what the model accepts, it loads.
    data = orjson.dumps(SHAPES[shape], option=orjson.OPT_INDENT_2 if indent else 0)
    try:
        load_document(TopicDocument, "topics/t.json", data)
    except DocumentInvalid as exc:
        with pytest.raises(DocumentInvalid) as refused:
            load_state("t", Limits(), "topics/t.json", data, "etag")
        assert refused.value.problem == exc.problem
    else:
        load_state("t", Limits(), "topics/t.json", data, "etag")


FAR = "31690765-06-05T00:45:56.659Z"  # what a delay of 1e15 s was stored as
LATEST = "9999-12-31T23:59:59.999Z"


async def test_times_after_the_year_9999_are_repaired_in_a_checkpoint_and_a_head() -> None:
    """A head over a checkpoint: both the checkpoint's job and the head's job whose times
    no datetime can hold are loaded, read as the latest time, and carried by the next
    write (so the repair is stored even though the checkpoint is not rewritten)."""
    store = MemoryStore()
    key = checkpoint_key("t", 1, "0000000a")
    checkpoint = orjson.dumps({**HEADER, "jobs": [job("old", 1, available_at=FAR), job("fine", 2)]})
    head = orjson.dumps(
        {
            **{**HEADER, "format": 2},
            "checkpoint": {"key": key, "generation": 1, "jobs": 2},
            "removed": [],
            "jobs": [job("new", 3, "dead", completed_at=FAR, attempts=5)],
        }
    )
    await store.put_if(key, checkpoint, None)
    await store.put_if("topics/t.json", head, None)
    state = load_stored("t", Limits(), await read_topic(store, "t"))
    assert list(state.jobs) == ["old", "fine", "new"]
    assert orjson.loads(state.jobs["old"].enc)["available_at"] == LATEST
    assert orjson.loads(state.jobs["new"].enc)["completed_at"] == LATEST
    assert state.jobs["fine"].enc == orjson.dumps(job("fine", 2))
    assert set(state.changed) == {"old", "new"}
    written = orjson.loads(state.encode_entry(4, "0" * 16, "1" * 16, "w", 0))
    assert {j["id"] for j in written["jobs"]} == {"old", "new"}
    assert FAR.encode() not in state.encode(4, "w", 0)


def test_a_garbled_time_is_still_an_invalid_document() -> None:
    data = orjson.dumps({**HEADER, "jobs": [job("a", 1, available_at="31690765-06-05")]})
    with pytest.raises(DocumentInvalid):
        load(data)
