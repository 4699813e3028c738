from typing import Any

import orjson
import pytest

from common.models import (
    HEAD_FORMAT,
    CheckpointRef,
    DocumentInvalid,
    Job,
    JobStatus,
    TopicDocument,
    TopicHead,
    dump_document,
    format_time,
    load_document,
    utc_now,
)
from common.payload import payload_from_bytes, payload_to_bytes


def _document() -> TopicDocument:
    now = utc_now()
    job = Job(id="j1", status=JobStatus.PENDING, payload={"item": "book"}, created_at=now)
    return TopicDocument(topic="orders", generation=3, writer="node-a", updated_at=now, jobs=[job])


def test_document_round_trips_through_bytes() -> None:
    doc = _document()
    loaded = load_document(TopicDocument, "topics/orders.json", dump_document(doc))
    assert loaded == doc.model_copy(update={"updated_at": loaded.updated_at, "jobs": loaded.jobs})
    assert loaded.jobs[0].payload == {"item": "book"}
    assert loaded.generation == 3


def test_timestamps_are_utc_milliseconds_with_z() -> None:
    doc = _document()
    stamp = orjson.loads(dump_document(doc))["updated_at"]
    assert stamp.endswith("Z") and len(stamp) == len("2026-11-28T10:00:00.123Z")
    assert format_time(doc.updated_at) == stamp


def test_none_fields_are_left_out_of_the_document() -> None:
    raw = orjson.loads(dump_document(_document()))
    assert "claimed_by" not in raw["jobs"][0]


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda d: d["jobs"][0].update(status="bogus"), "jobs.0.status"),
        (lambda d: d.pop("generation"), "generation"),
        (lambda d: d.update(format=2), "format"),
        (lambda d: d["jobs"][0].update(surprise=1), "jobs.0.surprise"),
        (lambda d: d.update(updated_at="2026-11-28T10:00:00"), "updated_at"),
    ],
)
def test_invalid_document_names_key_and_field(mutate, field: str) -> None:  # type: ignore[no-untyped-def]
    raw = orjson.loads(dump_document(_document()))
    mutate(raw)
    with pytest.raises(DocumentInvalid) as info:
        load_document(TopicDocument, "topics/orders.json", orjson.dumps(raw))
    assert "topics/orders.json" in str(info.value)
    assert field in str(info.value)


def test_garbage_bytes_are_a_clear_error() -> None:
    with pytest.raises(DocumentInvalid, match="not JSON"):
        load_document(TopicDocument, "topics/x.json", b"{torn")


@pytest.mark.parametrize(
    ("data", "stored", "encoding"),
    [
        (b'{"a":1}', {"a": 1}, None),
        (b"[1,2]", [1, 2], None),
        (b'{"a": 1}', '{"a": 1}', None),  # not compact: kept as text so it round-trips
        (b"plain text", "plain text", None),
        (b"", "", None),
        (b"42", "42", None),  # scalars stay text: only objects and arrays are parsed
        (b"\xff\x00\x01", "/wAB", "base64"),
    ],
)
def test_payload_rule_round_trips_bytes(data: bytes, stored: object, encoding: str | None) -> None:
    payload, enc = payload_from_bytes(data)
    assert payload == stored
    assert enc == encoding
    assert payload_to_bytes(payload, enc) == data


def _head_raw() -> dict[str, Any]:
    raw: dict[str, Any] = orjson.loads(dump_document(_document()))
    raw["format"] = 2
    jobs = raw.pop("jobs")
    raw["checkpoint"] = {"key": "topics/orders/checkpoint-000000000002-1a2b3c4d.json"}
    raw["checkpoint"].update(generation=2, jobs=10)
    raw["removed"] = ["gone"]
    raw["jobs"] = jobs
    return raw


def test_a_topic_head_keeps_its_fields_in_the_stored_order() -> None:
    raw = _head_raw()
    head = load_document(TopicHead, "topics/orders.json", orjson.dumps(raw))
    assert head.format == HEAD_FORMAT == 2
    assert head.checkpoint == CheckpointRef(key=raw["checkpoint"]["key"], generation=2, jobs=10)
    assert head.removed == ["gone"] and head.jobs[0].id == "j1"
    assert list(orjson.loads(dump_document(head))) == [
        "format",
        "topic",
        "generation",
        "writer",
        "updated_at",
        "counters",
        "checkpoint",
        "removed",
        "jobs",
    ]


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda d: d.update(format=1), "format"),
        (lambda d: d.update(surprise=1), "surprise"),
        (lambda d: d["checkpoint"].update(surprise=1), "checkpoint.surprise"),
        (lambda d: d["checkpoint"].update(generation=-1), "checkpoint.generation"),
        (lambda d: d["checkpoint"].update(jobs=-1), "checkpoint.jobs"),
        (lambda d: d.pop("checkpoint"), "checkpoint"),
        (lambda d: d.update(removed="gone"), "removed"),
        (lambda d: d["jobs"][0].update(status="bogus"), "jobs.0.status"),
    ],
)
def test_invalid_topic_head_names_key_and_field(mutate, field: str) -> None:  # type: ignore[no-untyped-def]
    raw = _head_raw()
    mutate(raw)
    with pytest.raises(DocumentInvalid) as info:
        load_document(TopicHead, "topics/orders.json", orjson.dumps(raw))
    assert "topics/orders.json" in str(info.value)
    assert f"field {field}" in str(info.value)


def test_a_time_after_the_year_9999_reads_as_the_latest_time() -> None:
    """What brokers before common.limits stored for a delay of 1e15 s: readers of the
    document agree with the broker's loader instead of refusing the whole document."""
    raw = {
        "id": "far",
        "status": "pending",
        "created_at": "2026-12-01T22:59:16.659Z",
        "available_at": "31690765-06-05T00:45:56.659Z",
    }
    job = Job.model_validate(raw)
    assert job.model_dump(mode="json")["available_at"] == "9999-12-31T23:59:59.999Z"
    with pytest.raises(ValueError, match="available_at"):
        Job.model_validate({**raw, "available_at": "31690765-06-05"})
