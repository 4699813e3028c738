"""Loading a stored topic document into a TopicState, fast enough for a million jobs.

A document written by a broker is compact JSON with the jobs last:
`{"format":1,...,"counters":{...},"jobs":[{"id":...},{"id":...}]}`. The fast path splits
the jobs array at `},{"id":` and parses one job at a time, keeping each job's own bytes
as its cached encoding: no full parse tree of the document is ever built and no job is
re-encoded. A split point inside a job cannot parse on its own (its braces are
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

from .records import COMPLETED, JOB_FIELD_SET, PENDING, JobRecord, compact_dumps, now_ms, parse_ms
from .state import Limits, TopicState

_JOBS_KEY = b',"jobs":['
_SPLIT = b'},{"id":'
_HEADER_FIELDS = frozenset({"format", "topic", "generation", "writer", "updated_at", "counters"})
_STATUSES = {status.value: status for status in JobStatus}


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
            _fill(state, split[0], name, split[1])
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


def _split(data: bytes) -> tuple[dict[str, Any], Iterator[tuple[dict[str, Any], bytes]]] | None:
    at = data.find(_JOBS_KEY)
    if at < 0 or not data.endswith(b"]}"):
        return None
    try:
        header = orjson.loads(data[:at] + b"}")
    except orjson.JSONDecodeError:
        return None
    if not isinstance(header, dict) or "jobs" in header:
        return None
    region = data[at + len(_JOBS_KEY) : -2]
    if not region:
        return header, iter(())
    if not region.startswith(b'{"id":') or not region.endswith(b"}"):
        return None
    return header, _pieces(region[len(b'{"id":') : -1].split(_SPLIT))


def _pieces(parts: list[bytes]) -> Iterator[tuple[dict[str, Any], bytes]]:
    body: bytes | None = None
    for index, part in enumerate(parts):
        parts[index] = b""  # free as we go
        body = part if body is None else body + _SPLIT + part
        piece = b'{"id":' + body + b"}"
        try:
            job = orjson.loads(piece)
        except orjson.JSONDecodeError:
            continue  # split inside a job's payload: join with the next part
        body = None
        yield job, piece
    if body is not None:
        raise ValueError("jobs array does not split into jobs")


def _parsed_jobs(jobs: list[Any]) -> Iterator[tuple[dict[str, Any], bytes]]:
    for index, job in enumerate(jobs):
        jobs[index] = None  # free each parsed job as soon as its record exists
        if not isinstance(job, dict):
            raise ValueError("job is not an object")
        yield job, compact_dumps(job)


def _fill(
    state: TopicState,
    header: dict[str, Any],
    name: str,
    jobs: Iterator[tuple[dict[str, Any], bytes]],
) -> None:
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
    seq = -1
    for seq, (job, enc) in enumerate(jobs):
        rec = _record(job, seq, enc)
        if rec.id in state.jobs:
            raise ValueError("duplicate job id")
        if rec.status is COMPLETED:
            completed.append((parse_ms(job.get("completed_at", job["created_at"])), seq, rec))
        state.add(rec, now)
    state.next_seq = seq + 1
    completed.sort(key=lambda item: item[:2])
    state.completed_order = deque(rec for _, _, rec in completed)


def _record(job: dict[str, Any], seq: int, enc: bytes) -> JobRecord:
    """Validate one stored job (cheaply) and build its record."""
    if not JOB_FIELD_SET.issuperset(job):
        raise ValueError("unknown job field")
    job_id, attempts = job["id"], job.get("attempts", 0)
    if not isinstance(job_id, str) or not 0 < len(job_id) <= 256:
        raise ValueError("bad id")
    if type(attempts) is not int or attempts < 0:
        raise ValueError("bad attempts")
    status = _STATUSES[job["status"]]
    created = parse_ms(job["created_at"])
    available = parse_ms(job["available_at"]) if "available_at" in job else created
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
