"""Loading a stored topic document into a TopicState, fast enough for a million jobs.

A document written by a broker is compact JSON with the jobs last:
`{"format":1,...,"counters":{...},"jobs":[{"id":...},{"id":...}]}`. The fast path splits
the jobs array at `},{"id":` and parses one job at a time in place (a memoryview); the
stored bytes become the jobs' cached encodings, copied a segment (records.py) at a time:
no full parse tree of the document is ever built, no job is re-encoded and no job gets
a bytes object of its own. A split point inside a job cannot parse on its own (its braces are
unbalanced, and the byte sequence cannot occur inside a JSON string), so pieces that fail
to parse are joined with the next. Any other layout falls back to parsing the whole
document; anything invalid is reported by the pydantic model, naming the field.
"""

from __future__ import annotations

import gc
from collections import deque
from collections.abc import Iterator
from typing import Any

import orjson

from common.models import FORMAT_VERSION, Counters, DocumentInvalid, JobStatus, TopicDocument
from common.models import load_document as load_model

from .records import (
    COMPLETED,
    JOB_FIELD_SET,
    PENDING,
    JobRecord,
    Segment,
    compact_dumps,
    now_ms,
    parse_ms,
)
from .state import Limits, TopicState

_JOBS_KEY = b',"jobs":['
_SPLIT = b'},{"id":'
_HEADER_FIELDS = frozenset({"format", "topic", "generation", "writer", "updated_at", "counters"})
_STATUSES = {status.value: status for status in JobStatus}
# The fields of a pending job that was never claimed and carries text or JSON.
_WAITING_FIELDS = frozenset({"id", "status", "payload", "created_at", "available_at", "attempts"})


def load_state(name: str, limits: Limits, key: str, data: bytes, etag: str) -> TopicState:
    """Parse stored bytes; raises DocumentInvalid naming the field that is wrong."""
    state = TopicState(name, limits)
    # A million records would otherwise run the cyclic GC over and over; they hold no cycles.
    collecting = gc.isenabled()
    gc.disable()
    try:
        split = _split(data)
        if split is None:
            raw = orjson.loads(data)
            jobs = raw.pop("jobs", [])
            _fill(state, raw, name, _parsed_jobs(jobs))
        else:
            _fill(state, split[0], name, split[1], data)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        # The fast path only says "something is wrong"; the model says what, unless the
        # problem is one the model cannot see (duplicate ids, another topic's document).
        load_model(TopicDocument, key, data)
        raise DocumentInvalid(key, str(exc) or "malformed topic document") from None
    finally:
        if collecting:
            gc.enable()
    state.etag = etag
    return state


Piece = tuple[dict[str, Any], bytes | None, int, int]  # job, own bytes or None, start, end


def _split(data: bytes) -> tuple[dict[str, Any], Iterator[Piece]] | None:
    at = data.find(_JOBS_KEY)
    if at < 0 or not data.endswith(b"]}"):
        return None
    try:
        header = orjson.loads(data[:at] + b"}")
    except orjson.JSONDecodeError:
        return None
    if not isinstance(header, dict) or "jobs" in header:
        return None
    start, end = at + len(_JOBS_KEY), len(data) - 2
    if start == end:
        return header, iter(())
    if not data.startswith(b'{"id":', start) or data[end - 1 : end] != b"}":
        return None
    return header, _pieces(data, start, end)


def _pieces(data: bytes, start: int, end: int) -> Iterator[Piece]:
    """Each job of the jobs array `data[start:end]` with where its bytes are."""
    view = memoryview(data)
    search = start
    while start < end:
        cut = data.find(_SPLIT, search, end)
        stop = end if cut < 0 else cut + 1
        try:
            job = orjson.loads(view[start:stop])
        except orjson.JSONDecodeError:
            if cut < 0:
                raise ValueError("jobs array does not split into jobs") from None
            search = cut + 1  # split inside a job's payload: look for the next one
            continue
        yield job, None, start, stop
        start = search = stop + 1


def _parsed_jobs(jobs: list[Any]) -> Iterator[Piece]:
    for index, job in enumerate(jobs):
        jobs[index] = None  # free each parsed job as soon as its record exists
        if not isinstance(job, dict):
            raise ValueError("job is not an object")
        yield job, compact_dumps(job), 0, 0


def _fill(
    state: TopicState,
    header: dict[str, Any],
    name: str,
    jobs: Iterator[Piece],
    data: bytes = b"",
) -> None:
    """Build the records. Jobs that come as a place in `data` get no bytes of their own:
    each segment (records.py) copies its run of the document in one piece."""
    if header["format"] != FORMAT_VERSION or header["topic"] != name:
        raise ValueError(f"document belongs to another topic than {name!r} or another format")
    generation, writer = header["generation"], header["writer"]
    if not isinstance(generation, int) or generation < 0 or not isinstance(writer, str):
        raise ValueError("bad header")
    if not _HEADER_FIELDS.issuperset(header):
        raise ValueError("unknown field")
    state.generation = generation
    state.updated_at = parse_ms(header["updated_at"])
    state.counters.update(Counters.model_validate(header.get("counters", {})).model_dump())
    now = now_ms()
    completed: list[tuple[int, int, JobRecord]] = []
    segment: Segment | None = None
    segment_start = last_stop = 0
    seq = -1
    for seq, (job, enc, start, stop) in enumerate(jobs):
        rec = _record(job, seq, enc)
        if rec.id in state.jobs:
            raise ValueError("duplicate job id")
        if rec.status is COMPLETED:
            completed.append((parse_ms(job.get("completed_at", job["created_at"])), seq, rec))
        state.add(rec, now)
        if enc is None:
            if rec.seg is not segment:
                _seal(segment, data, segment_start, last_stop)
                segment, segment_start = rec.seg, start
            rec.span = (start - segment_start) << 32 | (stop - start)
            last_stop = stop
    _seal(segment, data, segment_start, last_stop)
    state.next_seq = seq + 1
    completed.sort(key=lambda item: item[:2])
    state.completed_order = deque(rec for _, _, rec in completed)


def _seal(segment: Segment | None, data: bytes, start: int, stop: int) -> None:
    """The segment's encoding is this run of the document (its jobs joined by commas)."""
    if segment is not None:
        segment.enc = data[start:stop]
        segment.dirty = False


def _record(job: dict[str, Any], seq: int, enc: bytes | None) -> JobRecord:
    """Validate one stored job (cheaply) and build its record."""
    job_id, attempts = job["id"], job.get("attempts", 0)
    if type(job_id) is not str or not 0 < len(job_id) <= 256:
        raise ValueError("bad id")
    if type(attempts) is not int or attempts < 0:
        raise ValueError("bad attempts")
    status = _STATUSES[job["status"]]
    created = parse_ms(job["created_at"])
    available = parse_ms(job["available_at"]) if "available_at" in job else created
    if status is PENDING and _WAITING_FIELDS.issuperset(job):
        # The bulk of a deep queue: nothing else to check (one set test for six fields).
        return JobRecord(job_id, status, seq, enc, attempts, available, None, created)
    if not JOB_FIELD_SET.issuperset(job):
        raise ValueError("unknown job field")
    heartbeat = job.get("last_heartbeat", job.get("claimed_at"))
    if status is not PENDING:  # times that pending jobs do not carry
        for field in ("claimed_at", "completed_at"):
            if field in job:
                parse_ms(job[field])
    claimed_by = job.get("claimed_by")
    for text in (claimed_by, job.get("last_error")):
        if text is not None and not isinstance(text, str):
            raise ValueError("bad text field")
    if job.get("payload_encoding") not in (None, "base64"):
        raise ValueError("bad payload_encoding")
    started = parse_ms(heartbeat) if heartbeat is not None else created
    return JobRecord(job_id, status, seq, enc, attempts, available, claimed_by, started)
