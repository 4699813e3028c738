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

A topic stored as a base document with changes over it (a checkpoint and its log, format
3, or a format-2 head over its checkpoint; common/topic_log.py reads them) is loaded by
merging on the way: the base's jobs go through the same fast path, and the changes
(folded from the log) replace or follow them by the merge rule of common/topic_log.py.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import logging
from collections import deque
from collections.abc import Iterator
from typing import Any, NoReturn

import orjson
from pydantic import BaseModel

from common.keys import topic_key
from common.limits import LATEST_TIME_TEXT, MAX_ID_CHARS, MAX_STORED_COUNT
from common.models import (
    FORMAT_VERSION,
    LOG_FORMAT,
    AttemptOutcome,
    DocumentInvalid,
    GroupDocument,
    JobStatus,
    TopicDocument,
    validate_document,
)
from common.models import load_document as load_model
from common.topic_log import Stored, merge, validate_header

from .groups import install as install_groups
from .records import (
    ATTEMPT_FIELD_SET,
    COMPLETED,
    JOB_FIELD_SET,
    PENDING,
    JobRecord,
    Segment,
    TimeBeyondRange,
    clamp_times,
    compact_dumps,
    now_ms,
    parse_ms,
)
from .state import Limits, TopicState

log = logging.getLogger("simplequeue.loading")

_JOBS_KEY = b',"jobs":['
_SPLIT = b'},{"id":'
_STATUSES = {status.value: status for status in JobStatus}
# The fields of a pending job that was never claimed and carries text or JSON.
_WAITING_FIELDS = frozenset({"id", "status", "payload", "created_at", "available_at", "attempts"})


def load_state(name: str, limits: Limits, key: str, data: bytes, etag: str) -> TopicState:
    """Parse a whole (format-1) document. Raises DocumentInvalid naming the field."""
    state = TopicState(name, limits)
    with _no_gc():
        _load_whole(state, key, data)
    state.etag = etag
    state.layout = 1
    return state


def load_stored(
    name: str, limits: Limits, stored: Stored, *, first_jobs: int | None = None
) -> TopicState:
    """Build the state of a topic read from storage (common/topic_log.py: read_topic).
    Raises DocumentInvalid naming the object and field that are wrong.

    With `first_jobs`, a topic in the log layout loads its first jobs only and leaves
    the rest to `state.loading` (see Loading): a broker serves claims from a big topic
    while it loads the rest. Older layouts load whole (their first write rewrites them)."""
    if stored.format == FORMAT_VERSION:
        return load_state(name, limits, stored.base_key, stored.base, stored.root.etag)
    state = TopicState(name, limits)
    with _no_gc():
        _load_merged(state, stored, first_jobs if stored.format == LOG_FORMAT else None)
    state.etag = stored.root.etag
    state.layout = stored.format
    state.token = stored.token
    return state


@contextlib.contextmanager
def _no_gc() -> Iterator[None]:
    # A million records would otherwise run the cyclic GC over and over; they hold no cycles.
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


def _load_whole(state: TopicState, key: str, data: bytes) -> None:
    try:
        header, pieces = _document(data, state.name)
        _header(state, validate_header(key, header))
        Loading(state, pieces, data, TopicDocument, key).step(None)
    except DocumentInvalid:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        _invalid(TopicDocument, key, data, exc)


def _load_merged(state: TopicState, stored: Stored, first_jobs: int | None) -> None:
    ref, changes = stored.base_key, stored.changes
    try:
        header, pieces = _document(stored.base, state.name)
        base = validate_header(ref, header)
        if stored.header is None:
            _header(state, base)
        else:
            newest = {
                "topic": state.name,
                "generation": stored.generation,
                "writer": "",
                **stored.header,
            }
            _header(state, validate_header(topic_key(state.name), newest))
            if base.settings is not None:  # the log objects' headers carry no settings
                state.set_settings(base.settings.stored())
        if stored.settings is not None:  # validated by parse_entry
            state.set_settings(stored.settings)
        state.generation = stored.generation
        merged_groups = changes.merged_groups(header.get("groups"))
        docs = [validate_document(GroupDocument, ref, g) for g in merged_groups or ()]
        state.stream = base.kind == "stream" or changes.stream
        state.groups = {}  # the base's, as `_header` set them: the merged ones instead
        install_groups(state, docs, now_ms())
        state.unloaded = {job_id: compact_dumps(job) for job_id, job in changes.jobs.items()}
        encodings = state.unloaded

        def own(job_id: str) -> Piece:
            return changes.jobs[job_id], encodings[job_id], 0, 0

        merged = merge(pieces, _piece_id, changes, own)
        state.stored_seqs = 2**62  # every loaded job is stored: its removal is a change
        loading = Loading(state, merged, stored.base, TopicDocument, ref)
        loading.step(first_jobs)
    except DocumentInvalid:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        _invalid(TopicDocument, ref, stored.base, exc)


def _piece_id(piece: Piece) -> str:
    job_id: str = piece[0]["id"]
    return job_id


def _document(data: bytes, name: str) -> tuple[dict[str, Any], Iterator[Piece]]:
    """The header and the jobs of a whole document, for `name`."""
    split = _split(data)
    if split is None:
        raw = orjson.loads(data)
        jobs = raw.pop("jobs", [])
        if not isinstance(jobs, list):  # `{}` or `""` would iterate as no jobs at all
            raise ValueError("field jobs: not a list")
        split = raw, _parsed_jobs(jobs)
    if split[0]["topic"] != name:
        raise ValueError(f"document belongs to another topic than {name!r}")
    return split


def _invalid(model: type[BaseModel], key: str, data: bytes, exc: Exception) -> NoReturn:
    # The fast path only says "something is wrong"; the model (the rules every reader
    # applies) says what, unless it accepts what the fast path's stricter types refuse
    # (`"attempts": 1.0`) or cannot see the problem (another topic's document).
    load_model(model, key, data)
    raise DocumentInvalid(key, str(exc) or "malformed topic document") from None


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


def _header(state: TopicState, header: TopicDocument) -> None:
    """The state's generation, time and counters from a header the model validated."""
    if header.topic != state.name:
        raise DocumentInvalid(
            topic_key(state.name), f"field topic: {header.topic!r}, not {state.name!r}"
        )
    state.generation = header.generation
    state.updated_at = round(header.updated_at.timestamp() * 1000)
    state.counters.update(header.counters.model_dump())
    if header.settings is not None:
        state.set_settings(header.settings.stored())
    state.stream = header.kind == "stream"
    install_groups(state, header.groups, now_ms())


class Loading:
    """Building a topic's records from its stored jobs, all at once or a step at a time.

    While a step leaves jobs to load, `state.loading` is this object: the records so far
    are a prefix of the topic in enqueue order, so the next job a claim would take among
    them is the next in the whole topic (the committer lets only claims run meanwhile).
    Stored changes not loaded yet stay in `state.unloaded` (to check that each was
    merged). Jobs that come as a place in `data` get no bytes of
    their own: each segment (records.py) copies its run of the document in one piece. A
    segment whose run has a gap (a job left out) or a job with bytes of its own is
    rebuilt by the next whole write."""

    def __init__(
        self,
        state: TopicState,
        jobs: Iterator[Piece],
        data: bytes,
        model: type[BaseModel],
        key: str,
    ) -> None:
        self.state, self.jobs, self.data = state, jobs, data
        self.model, self.key = model, key  # for errors
        self.now = now_ms()
        self.completed: list[tuple[int, int, JobRecord]] = []
        self.segment: Segment | None = None
        self.run_start: int | None = None
        self.last_stop = 0
        self.mixed = False

    def step(self, jobs: int | None) -> bool:
        """Load up to `jobs` more jobs (None: all); True when the topic is loaded.
        Raises DocumentInvalid for a job that is wrong."""
        state = self.state
        if self.segment is not None and self.segment.dirty:
            self.mixed = True  # a claim changed one of its jobs since the last step
        try:
            with _no_gc():
                count = self._fill(itertools.islice(self.jobs, jobs))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            _invalid(self.model, self.key, self.data, exc)
        self._seal()  # the jobs loaded so far have their bytes, also between steps
        if jobs is not None and count == jobs:
            state.loading = self
            return False
        state.completed_order = deque(rec for _, _, rec in sorted(self.completed))
        state.stored_seqs = state.next_seq
        if state.unloaded:
            raise DocumentInvalid(self.key, "a changed job is missing from the merge")
        state.loading = None
        return True

    def _fill(self, jobs: Iterator[Piece]) -> int:
        state, unloaded = self.state, self.state.unloaded
        count = 0
        for job, enc, start, stop in jobs:
            seq = state.next_seq
            repaired = False
            try:
                rec, done = _record(job, seq, enc)
            except TimeBeyondRange:
                job, enc = self._repaired(job)
                rec, done = _record(job, seq, enc)
                repaired = True
            if rec.id in state.jobs:
                raise ValueError("duplicate job id")
            if done is not None:
                self.completed.append((done, seq, rec))
            state.index(rec, self.now)
            state.next_seq = seq + 1
            count += 1
            if unloaded:
                unloaded.pop(rec.id, None)  # one of the stored changes, loaded now
            if repaired:
                state.changed[rec.id] = rec  # the next write stores it repaired
            if rec.seg is not self.segment:
                self._seal()
                self.segment, self.run_start, self.mixed = rec.seg, None, False
            if enc is not None:
                self.mixed = True
                continue
            if self.run_start is None:
                self.run_start = start
            elif start != self.last_stop + 1:
                self.mixed = True
            rec.span = (start - self.run_start) << 32 | (stop - start)
            self.last_stop = stop
        return count

    def _repaired(self, job: dict[str, Any]) -> tuple[dict[str, Any], bytes]:
        """A job whose times lie beyond the year 9999 (stored by versions that did not
        limit delays) with those times at the latest one there is, and its new bytes.
        One job's impossible time must not make its whole topic unreadable: the job is
        reported, keeps its place, and is stored repaired at the next write."""
        job, fields = clamp_times(job)
        log.warning(
            "job time out of range topic=%s job=%s fields=%s read_as=%s hint=%r",
            self.state.name,
            job.get("id"),
            ",".join(fields),
            LATEST_TIME_TEXT,
            "stored so at the next write; delete the job if its delay was a mistake",
        )
        return job, compact_dumps(job)

    def _seal(self) -> None:
        """The segment's encoding is its run of the document (its jobs joined by commas)."""
        segment = self.segment
        if segment is not None:
            start = self.run_start
            segment.enc = b"" if start is None else self.data[start : self.last_stop]
            segment.dirty = self.mixed


_OUTCOMES = frozenset(outcome.value for outcome in AttemptOutcome)


def _check_history(history: Any) -> None:
    """A job's attempts as the model takes them (common.models.Attempt), checked cheaply."""
    if type(history) is not list:
        raise ValueError("field history: must be a list of attempts")
    for attempt in history:
        if type(attempt) is not dict or not ATTEMPT_FIELD_SET.issuperset(attempt):
            raise ValueError("field history: an attempt is not an object of attempt fields")
        parse_ms(attempt["claimed_at"])
        if "ended_at" in attempt:
            parse_ms(attempt["ended_at"])
        if attempt.get("outcome") not in _OUTCOMES | {None}:
            raise ValueError("field history: an attempt has an unknown outcome")
        for text in (attempt.get("worker"), attempt.get("error")):
            if text is not None and not isinstance(text, str):
                raise ValueError("field history: an attempt's worker or error must be text")


def _record(job: dict[str, Any], seq: int, enc: bytes | None) -> tuple[JobRecord, int | None]:
    """Validate one stored job (cheaply) and build its record; for a completed job, also
    when it completed (for retention). TimeBeyondRange for a time after the year 9999."""
    job_id, attempts = job["id"], job.get("attempts", 0)
    if type(job_id) is not str or not 0 < len(job_id) <= MAX_ID_CHARS:
        raise ValueError("field id: must be text of 1 to 256 characters")
    if type(attempts) is not int or not 0 <= attempts <= MAX_STORED_COUNT:
        raise ValueError(f"field attempts: must be a whole number from 0 to {MAX_STORED_COUNT}")
    status = _STATUSES[job["status"]]
    created = parse_ms(job["created_at"])
    available = parse_ms(job["available_at"]) if "available_at" in job else created
    if status is PENDING and _WAITING_FIELDS.issuperset(job):
        # The bulk of a deep queue: nothing else to check (one set test for six fields).
        return JobRecord(job_id, status, seq, enc, attempts, available, None, created), None
    if not JOB_FIELD_SET.issuperset(job):
        raise ValueError("a job has an unknown field")
    heartbeat = job.get("last_heartbeat", job.get("claimed_at"))
    if status is not PENDING:  # times that pending jobs do not carry
        for field in ("claimed_at", "completed_at"):
            if field in job:
                parse_ms(job[field])
    claimed_by = job.get("claimed_by")
    for text in (claimed_by, job.get("last_error")):
        if text is not None and not isinstance(text, str):
            raise ValueError("field claimed_by or last_error: must be text")
    if job.get("payload_encoding") not in (None, "base64"):
        raise ValueError("field payload_encoding: must be base64 or absent")
    if "history" in job:
        _check_history(job["history"])
    started = parse_ms(heartbeat) if heartbeat is not None else created
    done = parse_ms(job.get("completed_at", job["created_at"])) if status is COMPLETED else None
    return JobRecord(job_id, status, seq, enc, attempts, available, claimed_by, started), done
