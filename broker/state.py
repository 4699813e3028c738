"""One topic's jobs in memory: the records, their indexes and encoding.

Indexes keep every operation off a scan of all jobs:
- `jobs`: id -> record, in enqueue order (dict order is the document's job order);
- ready jobs: `fresh`, a deque in enqueue order (new jobs are appended), plus `returned`,
  a heap by enqueue order for jobs that became ready again (nack, reap, requeue, delay
  over); the next job to claim is the smaller head of the two;
- `delayed`: a heap by available_at of pending jobs not yet available;
- `claimed`: id -> record in claim order (reaper, XPENDING);
- `completed_order` / `dead_order`: deques in the order jobs got there (retention, cap).
Entries of the heaps and deques are dropped lazily: an entry counts only while its record
is still in `jobs` and still where the entry says.

The state also tracks what changed since the last write landed, which is what the next
log object (common/topic_log.py) holds: `changed` (jobs added or changed, in the order
they were first touched, so new jobs are in enqueue order) and `removed` (stored jobs
that left the topic). Every change to a job goes through `add`, `set_status`, `update` or
`remove`, which keep both up to date.

Job semantics (what each operation does to these) live in broker/mutations.py; loading a
stored document in broker/loading.py.
"""

from __future__ import annotations

import dataclasses
import heapq
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from common.models import (
    FORMAT_VERSION,
    LOG_FORMAT,
    Counters,
    EffectiveSettings,
    JobStatus,
    TopicStats,
)

from .records import (
    CLAIMED,
    COMPLETED,
    DEAD,
    DELAYED,
    NOWHERE,
    PENDING,
    READY,
    SEGMENT_JOBS,
    JobRecord,
    Segment,
    format_ms,
)

if TYPE_CHECKING:
    from .groups import Group
    from .loading import Loading

COUNTER_NAMES = tuple(Counters.model_fields)


@dataclass(frozen=True, slots=True)
class Limits:
    visibility_timeout_ms: int = 30_000
    max_attempts: int = 5  # 0 = unlimited
    completed_retention: int = 1000
    dead_retention: int = 10_000
    retry_base_ms: int = 1000  # a nack without a delay waits this, doubled per attempt,
    retry_cap_ms: int = 300_000  # up to this, with jitter (mutations.backoff_ms)
    paused: bool = False  # claims find nothing (a topic's setting; no broker flag)


# A setting (common.models.TopicSettings) -> its Limits field and the factor from the
# setting's unit (seconds for times) to the field's (ms).
_SETTING_LIMITS: dict[str, tuple[str, int]] = {
    "visibility_timeout": ("visibility_timeout_ms", 1000),
    "max_attempts": ("max_attempts", 1),
    "completed_retention": ("completed_retention", 1),
    "dead_retention": ("dead_retention", 1),
    "retry_base": ("retry_base_ms", 1000),
    "retry_cap": ("retry_cap_ms", 1000),
    "paused": ("paused", 1),
}


def topic_limits(flags: Limits, settings: dict[str, Any]) -> Limits:
    """The limits a topic runs with: each of its settings (stored form, see
    TopicSettings.stored) overrides the broker's flag of the same meaning."""
    if not settings:
        return flags
    overrides: dict[str, Any] = {}
    for name, value in settings.items():
        field, factor = _SETTING_LIMITS[name]
        overrides[field] = value if factor == 1 else round(value * factor)
    return dataclasses.replace(flags, **overrides)


def effective_settings(limits: Limits) -> EffectiveSettings:
    """Limits in the settings' units (what GET /topics/{topic}/settings shows)."""
    values: dict[str, Any] = {}
    for name, (field, factor) in _SETTING_LIMITS.items():
        value = getattr(limits, field)
        values[name] = value if factor == 1 else value / factor
    return EffectiveSettings(**values)


class TopicState:
    def __init__(self, name: str, limits: Limits) -> None:
        self.name = name
        self.flags = limits  # the broker's
        self.limits = limits  # in force: the flags with the topic's settings over them
        self.settings: dict[str, Any] = {}  # the topic's settings, stored form
        self.settings_changed = False  # the next log object carries `settings`
        self.generation = 0
        self.etag: str | None = None
        self.updated_at: int | None = None
        self.counters: dict[str, int] = dict.fromkeys(COUNTER_NAMES, 0)
        self.jobs: dict[str, JobRecord] = {}
        self.segments: list[Segment] = []  # the jobs in document order (see records.py)
        self.counts: dict[JobStatus, int] = dict.fromkeys(JobStatus, 0)
        self.fresh: deque[JobRecord] = deque()
        self.returned: list[JobRecord] = []
        self.delayed: list[tuple[int, int, JobRecord]] = []
        self.n_delayed = 0
        self.claimed: dict[str, JobRecord] = {}
        self.completed_order: deque[JobRecord] = deque()
        self.dead_order: deque[JobRecord] = deque()
        # The one table of statuses: the index a record of each status is kept in. A new
        # status is added here (and to JobStatus); a status missing here is a KeyError,
        # never silently indexed as another one.
        self._enter: dict[JobStatus, Callable[[JobRecord, int], None]] = {
            PENDING: self.place,
            CLAIMED: self._index_claimed,
            COMPLETED: self._index_completed,
            DEAD: self._index_dead,
        }
        self.next_seq = 0
        self.dirty = False  # set by any change that must be written
        self.refused = False  # set by a mutation that refused a job this state may not know
        self.token: str | None = None  # the chain token of `generation` (format 3)
        self.layout = 0  # the stored format (0: nothing stored, 1, 2 or 3)
        self.stored_seqs = 0  # records with a lower seq are stored (existed before the batch)
        self.changed: dict[str, JobRecord] = {}
        self.removed: set[str] = set()
        self.unloaded: dict[str, bytes] = {}  # stored changes not loaded yet
        self.loading: Loading | None = None  # set while only a prefix of the jobs is loaded
        self.stream = False  # used as a stream (XADD, XGROUP CREATE MKSTREAM): TYPE says so
        self.groups: dict[str, Group] = {}  # named consumer groups (broker/groups.py)
        self.destroyed: set[str] = set()  # groups removed since the last write landed

    def set_settings(self, settings: dict[str, Any]) -> None:
        """The topic's settings (stored form, validated): the limits follow them."""
        self.settings = settings
        self.limits = topic_limits(self.flags, settings)
        for group in self.groups.values():  # a group's records live by the topic's limits
            group.queue.limits = self.limits

    # --- index upkeep -------------------------------------------------------------------

    def add(self, rec: JobRecord, now: int) -> None:
        """A new job (enqueue)."""
        self.index(rec, now)
        self.changed[rec.id] = rec

    def index(self, rec: JobRecord, now: int) -> None:
        """Index a record that is not in `jobs` yet (enqueue, load)."""
        self.jobs[rec.id] = rec
        segment = self.segments[-1] if self.segments else None
        if segment is None or len(segment.recs) >= SEGMENT_JOBS:
            segment = Segment()
            self.segments.append(segment)
        segment.recs.append(rec)
        segment.dirty = True
        rec.seg = segment
        self.counts[rec.status] += 1
        self._enter[rec.status](rec, now)

    def remove(self, rec: JobRecord) -> None:
        self.changed.pop(rec.id, None)
        if rec.seq < self.stored_seqs:
            self.removed.add(rec.id)
        self.unplace(rec)
        self.claimed.pop(rec.id, None)
        self.counts[rec.status] -= 1
        del self.jobs[rec.id]
        rec.detach()

    def set_status(self, rec: JobRecord, status: JobStatus, now: int, **fields: Any) -> None:
        """Move a record to `status`, updating its document fields and every index."""
        self.unplace(rec)
        if rec.status is CLAIMED:
            self.claimed.pop(rec.id, None)
        self.counts[rec.status] -= 1
        rec.update(status=status, **fields)
        self.changed[rec.id] = rec
        self.counts[status] += 1
        self._enter[status](rec, now)
        self.dirty = True

    def update(self, rec: JobRecord, **fields: Any) -> None:
        """Set document fields of a job whose status stays (heartbeat, XCLAIM)."""
        rec.update(**fields)
        self.changed[rec.id] = rec
        self.dirty = True

    def _index_claimed(self, rec: JobRecord, now: int) -> None:
        self.claimed[rec.id] = rec

    def _index_completed(self, rec: JobRecord, now: int) -> None:
        self.completed_order.append(rec)  # oldest first: what retention trims

    def _index_dead(self, rec: JobRecord, now: int) -> None:
        self.dead_order.append(rec)  # oldest first: what the dead-job cap drops

    def place(self, rec: JobRecord, now: int) -> None:
        if rec.available_at > now:
            rec.where = DELAYED
            self.n_delayed += 1
            heapq.heappush(self.delayed, (rec.available_at, rec.seq, rec))
        elif not self.fresh or self.fresh[-1].seq < rec.seq:
            rec.where = READY
            self.fresh.append(rec)
        else:
            rec.where = READY
            heapq.heappush(self.returned, rec)

    def unplace(self, rec: JobRecord) -> None:
        if rec.where == DELAYED:
            self.n_delayed -= 1
        rec.where = NOWHERE

    def _live(self, rec: JobRecord, where: int) -> bool:
        return rec.where == where and self.jobs.get(rec.id) is rec

    def promote(self, now: int) -> None:
        """Delayed jobs whose time has come become ready."""
        while self.delayed and self.delayed[0][0] <= now:
            at, _, rec = heapq.heappop(self.delayed)
            if self._live(rec, DELAYED) and rec.available_at == at:
                self.unplace(rec)
                self.place(rec, now)

    def peek_ready(self, now: int) -> JobRecord | None:
        """The next job a claim would take, or None (always None while paused)."""
        if self.limits.paused:
            return None
        self.promote(now)
        while self.fresh and not self._live(self.fresh[0], READY):
            self.fresh.popleft()
        while self.returned and not self._live(self.returned[0], READY):
            heapq.heappop(self.returned)
        if self.fresh and (not self.returned or self.fresh[0].seq < self.returned[0].seq):
            return self.fresh[0]
        return self.returned[0] if self.returned else None

    def take_ready(self, now: int) -> JobRecord | None:
        rec = self.peek_ready(now)
        if rec is None:
            return None
        if self.fresh and self.fresh[0] is rec:
            self.fresh.popleft()
        else:
            heapq.heappop(self.returned)
        rec.where = NOWHERE
        return rec

    def next_due(self) -> int | None:
        """When the earliest delayed job becomes available (ms), or None."""
        while self.delayed:
            at, _, rec = self.delayed[0]
            if self._live(rec, DELAYED) and rec.available_at == at:
                return at
            heapq.heappop(self.delayed)
        return None

    # --- reads --------------------------------------------------------------------------

    def stats(self, now: int) -> TopicStats:
        self.promote(now)
        return TopicStats(
            topic=self.name,
            pending=self.counts[PENDING] - self.n_delayed,
            delayed=self.n_delayed,
            claimed=self.counts[CLAIMED],
            completed=self.counts[COMPLETED],
            dead=self.counts[DEAD],
            total=len(self.jobs),
            generation=self.generation,
            updated_at=None if self.updated_at is None else format_ms(self.updated_at),
            counters=Counters(**self.counters),
            paused=self.limits.paused,
        )

    def records(self, status: JobStatus | None = None) -> Iterator[JobRecord]:
        if status is CLAIMED:
            return iter(sorted(self.claimed.values(), key=lambda r: r.seq))
        recs = iter(self.jobs.values())
        return recs if status is None else (r for r in recs if r.status is status)

    # --- document -----------------------------------------------------------------------

    def _header(self, format: int, generation: int, writer: str, now: int) -> dict[str, Any]:
        header = {
            "format": format,
            "topic": self.name,
            "generation": generation,
            "writer": writer,
            "updated_at": format_ms(now),
            "counters": self.counters,
        }
        if self.settings:  # a topic without settings is stored as before they existed
            header["settings"] = self.settings
        header.update(self._group_fields())
        return header

    def _group_fields(self, changed_only: bool = False) -> dict[str, Any]:
        """The stream kind and consumer groups, only for a topic that has them (a topic
        without leaves its documents as they were); in a log object, the groups destroyed
        and then those that changed, with only their changed delivery records."""
        fields: dict[str, Any] = {"kind": "stream"} if self.stream else {}
        if changed_only and self.destroyed:
            fields["destroyed_groups"] = sorted(self.destroyed)
        if changed_only:
            changed = [g.change() for g in self.groups.values() if g.queue.dirty]
        else:
            changed = [g.document() for g in self.groups.values()]
        if changed:
            fields["groups"] = changed
        return fields

    def encode(self, generation: int, writer: str, now: int) -> bytes:
        """The whole document's bytes; unchanged jobs contribute their cached encoding."""
        return b",".join(self.encode_parts(generation, writer, now))

    def encode_parts(self, generation: int, writer: str, now: int) -> list[bytes]:
        """The whole document as parts to join with commas: the state's current bytes,
        so that the join (a copy of the whole topic) can run off the event loop while
        the state changes on."""
        head = orjson.dumps(self._header(FORMAT_VERSION, generation, writer, now))
        parts = []
        kept = []
        for segment in self.segments:
            enc = segment.build() if segment.dirty else segment.enc
            if enc:
                parts.append(enc)
                kept.append(segment)
        self.segments = kept
        if not parts:
            return [head[:-1] + b',"jobs":[]}']
        # The head and tail ride on the first/last segment.
        parts[0] = head[:-1] + b',"jobs":[' + parts[0]
        parts[-1] = parts[-1] + b"]}"
        return parts

    def encode_entry(
        self, generation: int, parent: str, token: str, writer: str, now: int
    ) -> bytes:
        """A log object (format 3): what changed since the last write landed."""
        header: dict[str, Any] = {
            "format": LOG_FORMAT,
            "topic": self.name,
            "generation": generation,
            "parent": parent,
            "token": token,
            "writer": writer,
            "updated_at": format_ms(now),
            "counters": self.counters,
        }
        if self.settings_changed:  # the whole set, replacing the one before (topic_log.py)
            header["settings"] = self.settings
        header["removed"] = list(self.removed)
        header.update(self._group_fields(changed_only=True))
        jobs = b",".join([rec.enc for rec in self.changed.values()])
        return orjson.dumps(header)[:-1] + b',"jobs":[' + jobs + b"]}"

    def landed(self) -> None:
        """A write landed: the next one holds only what changes from now on."""
        self.changed = {}
        self.removed = set()
        self.settings_changed = False
        self.stored_seqs = self.next_seq
        self.destroyed = set()
        for group in self.groups.values():
            group.queue.landed()
            group.queue.dirty = False
