"""The compact in-memory form of a job.

A topic may hold a million jobs, so a job is not a pydantic model in memory: it is a
slotted record holding only what the indexes need (status, order, times that drive
claiming and reaping) plus `enc`, the job's JSON bytes exactly as they appear in the
document. Unchanged jobs are never re-encoded; a changed job is re-encoded from its own
bytes. Consecutive jobs are grouped in `Segment`s that keep their jobs' encodings joined:
a commit copies a thousand large buffers rather than gathering a million small bytes
objects (which costs far more than the copying), and a job in an unchanged segment holds
no bytes of its own, only where its encoding sits in its segment's buffer. Times are integer
milliseconds since the epoch (the document's precision). `common.models.Job` is built only
at the API boundary (`to_job`).
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import orjson

from common.limits import LATEST_TIME_TEXT, beyond_latest_time
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
    "history",
)
JOB_FIELD_SET = frozenset(JOB_FIELDS)
TIME_FIELDS = ("created_at", "available_at", "claimed_at", "last_heartbeat", "completed_at")
# Field order of an attempt in a job's `history` (common.models.Attempt).
ATTEMPT_FIELDS = ("worker", "claimed_at", "ended_at", "outcome", "error")
ATTEMPT_FIELD_SET = frozenset(ATTEMPT_FIELDS)
ATTEMPT_TIME_FIELDS = ("claimed_at", "ended_at")

# Where a record sits in the topic's availability indexes.
NOWHERE, READY, DELAYED = 0, 1, 2


def now_ms() -> int:
    return time.time_ns() // 1_000_000


_last_formatted: tuple[int, str] = (-1, "")


def format_ms(ms: int) -> str:
    """`2026-11-28T10:00:00.123Z`, the same text as common.models.format_time."""
    global _last_formatted
    # One commit stamps every job it changes with the same time.
    if ms == _last_formatted[0]:
        return _last_formatted[1]
    seconds, millis = divmod(ms, 1000)
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"
    _last_formatted = (ms, text)
    return text


_last_parsed: tuple[str, int] = ("", 0)


class TimeBeyondRange(ValueError):
    """A stored time after the year 9999, which no datetime can hold (common.limits)."""


def clamp_times(job: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The job with every time beyond the year 9999 set to the latest time there is, and
    the names of the fields that changed."""
    beyond = [name for name in TIME_FIELDS if beyond_latest_time(job.get(name))]
    return {**job, **dict.fromkeys(beyond, LATEST_TIME_TEXT)}, beyond


def parse_ms(value: object) -> int:
    """Milliseconds of an ISO 8601 timestamp with a timezone; ValueError otherwise."""
    global _last_parsed
    # Jobs enqueued by one commit share their timestamps: loading a document mostly
    # parses the same string as the job before.
    if value == _last_parsed[0]:
        return _last_parsed[1]
    if not isinstance(value, str):
        raise ValueError("timestamp must be a string")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        if beyond_latest_time(value):
            raise TimeBeyondRange(f"time {value!r} is after the year 9999") from None
        raise
    if parsed.tzinfo is None:
        raise ValueError("timestamp must carry a timezone")
    ms = round(parsed.timestamp() * 1000)
    _last_parsed = (value, ms)
    return ms


SEGMENT_JOBS = 1024  # jobs per segment: rebuilding one stays well under a millisecond


class Segment:
    """Consecutive jobs of a document and their encodings, joined with commas."""

    __slots__ = ("dirty", "enc", "recs")

    def __init__(self) -> None:
        self.recs: list[JobRecord] = []  # members, and removed ones until the next build
        self.enc = b""
        self.dirty = True  # a member was added, changed or removed since `enc` was built

    def build(self) -> bytes:
        """Rejoin the members' encodings; members then point into the new buffer."""
        recs = [rec for rec in self.recs if rec.seg is self]
        encs = [rec.enc for rec in recs]
        self.enc = b",".join(encs)
        offset = 0
        for rec, enc in zip(recs, encs, strict=True):
            rec._enc = None
            rec.span = offset << 32 | len(enc)
            offset += len(enc) + 1
        self.recs = recs
        self.dirty = False
        return self.enc


class JobRecord:
    __slots__ = (
        "_enc",
        "attempts",
        "available_at",
        "claimed_by",
        "id",
        "last_heartbeat",
        "seg",
        "seq",
        "span",
        "status",
        "where",
    )

    def __init__(
        self,
        id: str,
        status: JobStatus,
        seq: int,
        enc: bytes | None,
        attempts: int = 0,
        available_at: int = 0,
        claimed_by: str | None = None,
        last_heartbeat: int | None = None,
    ) -> None:
        self.id = id
        self.status = status
        self.seq = seq  # enqueue order: FIFO among available pending jobs
        self.seg: Segment | None = None  # set by TopicState.add
        self._enc: bytes | None = enc  # None: the encoding is `span` of seg.enc
        self.span = 0  # offset << 32 | length in seg.enc
        self.attempts = attempts
        self.available_at = available_at
        self.claimed_by = claimed_by
        self.last_heartbeat = last_heartbeat  # claimed jobs: start of the current lease
        self.where = NOWHERE

    def __lt__(self, other: JobRecord) -> bool:
        # Heap order of ready jobs: oldest enqueue first.
        return self.seq < other.seq

    @property
    def enc(self) -> bytes:
        """The job's JSON bytes exactly as in the document."""
        if self._enc is not None:
            return self._enc
        assert self.seg is not None
        offset, length = self.span >> 32, self.span & 0xFFFFFFFF
        return self.seg.enc[offset : offset + length]

    @enc.setter
    def enc(self, value: bytes) -> None:
        self._enc = value
        if self.seg is not None:
            self.seg.dirty = True

    def detach(self) -> None:
        """Leave the segment (the job left the document), keeping a copy of its bytes."""
        if self.seg is not None:
            self._enc = self.enc
            self.seg.dirty = True
            self.seg = None

    def fields(self) -> dict[str, Any]:
        result: dict[str, Any] = orjson.loads(self.enc)
        return result

    def update(self, **changes: Any) -> None:
        """Set document fields (None removes one) and re-encode this job only. A change
        may be a function of the field's current value (None when absent): the job's
        bytes are parsed once, however the new value depends on the old."""
        data = self.fields()
        for name, value in changes.items():
            data[name] = value(data.get(name)) if callable(value) else value
        self.enc = encode_fields(data)
        status = changes.get("status")
        if status is not None:
            self.status = JobStatus(status)

    def to_job(self) -> Job:
        return job_from_json(self.enc)


def job_from_json(enc: bytes) -> Job:
    """The model of a job from its document bytes."""
    return Job.model_validate(orjson.loads(enc))


def _canonical_time(value: Any) -> bool:
    # `2026-11-28T10:00:00.123Z`: what format_time gives back for it is the same text.
    return (
        type(value) is str
        and len(value) == 24
        and value.isascii()
        and value[10] == "T"
        and value[19] == "."
        and value[23] == "Z"
    )


def _canonical_history(history: Any) -> bool:
    """No history, or attempts whose fields are in model order with canonical times."""
    return history is None or all(
        list(attempt) == [name for name in ATTEMPT_FIELDS if name in attempt]
        and None not in attempt.values()
        and all(_canonical_time(attempt[name]) for name in ATTEMPT_TIME_FIELDS if name in attempt)
        for attempt in history
    )


def api_json(enc: bytes) -> bytes:
    """A job's JSON as the API shows it, `Job.model_dump(mode="json", exclude_none=True)`,
    made from its document bytes without building the model (a tenth of the time).

    A stored job already has that form unless another writer put times in another ISO
    8601 form or left out `attempts`; those go through the model."""
    data = orjson.loads(enc)
    if (
        "attempts" not in data
        or not all(
            _canonical_time(data[name]) for name in TIME_FIELDS if data.get(name) is not None
        )
        or not _canonical_history(data.get("history"))
    ):
        return orjson.dumps(job_from_json(enc).model_dump(mode="json", exclude_none=True))
    return orjson.dumps({k: data[k] for k in JOB_FIELDS if data.get(k) is not None})


def compact_dumps(value: Any) -> bytes:
    """orjson.dumps, copied into an exactly sized object.

    orjson's result keeps its whole write buffer (kilobytes) alive; a million cached
    job encodings would hold gigabytes. The copy holds only the bytes."""
    return bytes(memoryview(orjson.dumps(value)))


def encode_fields(data: dict[str, Any]) -> bytes:
    """A job's JSON bytes in document field order, leaving out None (as dump_document)."""
    return compact_dumps({k: data[k] for k in JOB_FIELDS if data.get(k) is not None})
