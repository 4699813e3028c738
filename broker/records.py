"""The compact in-memory form of a job.

A topic may hold a million jobs, so a job is not a pydantic model in memory: it is a
slotted record holding only what the indexes need (status, order, times that drive
claiming and reaping) plus `enc`, the job's JSON bytes exactly as they appear in the
document. A commit joins the cached `enc` of every job, so unchanged jobs are never
re-encoded; a changed job is re-encoded from its own bytes. Times are integer
milliseconds since the epoch (the document's precision). `common.models.Job` is built only
at the API boundary (`to_job`).
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import orjson

from common.models import Job, JobStatus

PENDING = JobStatus.PENDING
CLAIMED = JobStatus.CLAIMED
COMPLETED = JobStatus.COMPLETED
DEAD = JobStatus.DEAD

# Field order of a job in the document (the order of common.models.Job).
JOB_FIELDS = (
    "id",
    "status",
    "payload",
    "payload_encoding",
    "created_at",
    "available_at",
    "attempts",
    "claimed_by",
    "claimed_at",
    "last_heartbeat",
    "completed_at",
    "last_error",
)
JOB_FIELD_SET = frozenset(JOB_FIELDS)
TIME_FIELDS = ("created_at", "available_at", "claimed_at", "last_heartbeat", "completed_at")

# Where a record sits in the topic's availability indexes.
NOWHERE, READY, DELAYED = 0, 1, 2


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def format_ms(ms: int) -> str:
    """`2026-11-28T10:00:00.123Z`, the same text as common.models.format_time."""
    seconds, millis = divmod(ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


_last_parsed: tuple[str, int] = ("", 0)


def parse_ms(value: object) -> int:
    """Milliseconds of an ISO 8601 timestamp with a timezone; ValueError otherwise."""
    global _last_parsed
    # Jobs enqueued by one commit share their timestamps: loading a document mostly
    # parses the same string as the job before.
    if value == _last_parsed[0]:
        return _last_parsed[1]
    if not isinstance(value, str):
        raise ValueError("timestamp must be a string")
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError("timestamp must carry a timezone")
    ms = round(parsed.timestamp() * 1000)
    _last_parsed = (value, ms)
    return ms


class JobRecord:
    __slots__ = (
        "attempts",
        "available_at",
        "claimed_by",
        "enc",
        "id",
        "last_heartbeat",
        "seq",
        "status",
        "where",
    )

    def __init__(
        self,
        id: str,
        status: JobStatus,
        seq: int,
        enc: bytes,
        attempts: int = 0,
        available_at: int = 0,
        claimed_by: str | None = None,
        last_heartbeat: int | None = None,
    ) -> None:
        self.id = id
        self.status = status
        self.seq = seq  # enqueue order: FIFO among available pending jobs
        self.enc = enc
        self.attempts = attempts
        self.available_at = available_at
        self.claimed_by = claimed_by
        self.last_heartbeat = last_heartbeat  # claimed jobs: start of the current lease
        self.where = NOWHERE

    def __lt__(self, other: JobRecord) -> bool:
        # Heap order of ready jobs: oldest enqueue first.
        return self.seq < other.seq

    def fields(self) -> dict[str, Any]:
        result: dict[str, Any] = orjson.loads(self.enc)
        return result

    def update(self, **changes: Any) -> None:
        """Set document fields (None removes one) and re-encode this job only."""
        data = self.fields()
        data.update(changes)
        self.enc = encode_fields(data)
        status = changes.get("status")
        if status is not None:
            self.status = JobStatus(status)

    def to_job(self) -> Job:
        return Job.model_validate(self.fields())


def compact_dumps(value: Any) -> bytes:
    """orjson.dumps, copied into an exactly sized object.

    orjson's result keeps its whole write buffer (kilobytes) alive; a million cached
    job encodings would hold gigabytes. The copy holds only the bytes."""
    return bytes(memoryview(orjson.dumps(value)))


def encode_fields(data: dict[str, Any]) -> bytes:
    """A job's JSON bytes in document field order, leaving out None (as dump_document)."""
    return compact_dumps({k: data[k] for k in JOB_FIELDS if data.get(k) is not None})
