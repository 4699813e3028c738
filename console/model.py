"""From topic documents to what the console shows: rows, counts, ages, sparklines.

Pure functions and small data classes; no Textual, no I/O, and the clock is always passed
in, so every view can be rebuilt from a document and a time in a test.

Views of a topic's jobs:
- jobs: every job, filtered by status and search text, sorted by queue order, age or
  heartbeat age;
- stale: claimed jobs whose last heartbeat (or claim) is at least half the broker's
  visibility timeout old, stalest first. Past half the row is a warning; past the whole
  timeout the reaper is overdue (the broker is down or behind) and the row is stale;
- delayed: pending jobs whose available_at is still ahead, soonest first;
- dead: dead jobs with their last error.

A pending job whose available_at is ahead is shown as `delayed` everywhere (status column,
filter, topic counts): the document stores it as pending, so the console derives it.
Statuses, filter choices and columns come from `JobStatus`, so a new status shows up here
without an edit.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

import orjson

from common.models import Counters, Job, JobStatus, TopicDocument, format_time

PREVIEW_CHARS = 80


class ViewKind(StrEnum):
    JOBS = "jobs"  # every job, with the status filter
    STALE = "stale"  # claimed jobs late on their heartbeat
    DELAYED = "delayed"  # pending jobs not available yet, soonest first
    DEAD = "dead"  # dead jobs and why they died


DELAYED = "delayed"
#: Every status the console shows, in JobStatus's order with `delayed` after pending: the
#: status column's values, the filter's choices and the topic pane's counts.
SHOWN_STATUSES: tuple[str, ...] = tuple(
    name
    for status in JobStatus
    for name in ((status.value, DELAYED) if status is JobStatus.PENDING else (status.value,))
)


class SortOrder(StrEnum):
    QUEUE = "queue order"  # enqueue order, as in the document
    OLDEST = "oldest first"  # created_at ascending
    NEWEST = "newest first"  # created_at descending
    HEARTBEAT = "stalest heartbeat"  # claimed jobs by heartbeat age, oldest first


class Tint(StrEnum):
    NONE = ""  # nothing to point out
    WARN = "warn"  # heartbeat older than half the visibility timeout
    STALE = "stale"  # heartbeat older than the visibility timeout


# Column ids per view; JobRow has an attribute of each name.
COLUMNS: dict[ViewKind, tuple[str, ...]] = {
    ViewKind.JOBS: ("id", "status", "attempts", "age", "claimed_by", "heartbeat", "preview"),
    ViewKind.STALE: ("id", "claimed_by", "heartbeat", "attempts", "age", "preview"),
    ViewKind.DELAYED: ("id", "due", "available_at", "attempts", "last_error", "preview"),
    ViewKind.DEAD: ("id", "attempts", "age", "last_error", "preview"),
}
COLUMN_LABELS = {
    "id": "id",
    "status": "status",
    "attempts": "tries",
    "age": "age",
    "claimed_by": "claimed by",
    "heartbeat": "heartbeat",
    "preview": "payload",
    "last_error": "last error",
    "due": "due in",
    "available_at": "available at",
}


# --- formatting -------------------------------------------------------------------------


def format_age(seconds: float | None) -> str:
    """Compact age: `7s`, `4m05s`, `3h12m`, `2d04h`; empty when unknown."""
    if seconds is None:
        return ""
    total = max(0, int(seconds))
    if total < 60:
        return f"{total}s"
    if total < 3600:
        return f"{total // 60}m{total % 60:02d}s"
    if total < 86400:
        return f"{total // 3600}h{total % 3600 // 60:02d}m"
    return f"{total // 86400}d{total % 86400 // 3600:02d}h"


def format_job_age(seconds: float) -> str:
    """A job's age, to the second only in its first minute: `42s`, `4m`, `3h12m`, `2d04h`.
    Past a minute the text changes once a minute, so a table of old jobs is not redrawn
    every second (heartbeats keep seconds: they are what an operator watches tick)."""
    total = max(0, int(seconds))
    if 60 <= total < 3600:
        return f"{total // 60}m"
    return format_age(total)


def payload_text(job: Job) -> str:
    """The payload as one line of JSON (strings as themselves), for previews and search."""
    if isinstance(job.payload, str):
        return job.payload
    return orjson.dumps(job.payload).decode()


def preview(text: str, limit: int = PREVIEW_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def pretty_payload(job: Job) -> str:
    """The payload as indented JSON for the detail view."""
    return orjson.dumps(job.payload, option=orjson.OPT_INDENT_2).decode()


# --- jobs -------------------------------------------------------------------------------


def natural_key(name: str) -> list[str | int]:
    """Sorts `t-2` before `t-10`: runs of digits compare as numbers, the rest caselessly."""
    parts = re.split(r"([0-9]+)", name)
    return [int(part) if i % 2 else part.casefold() for i, part in enumerate(parts)]


def is_delayed(job: Job, now: datetime) -> bool:
    """A pending job that may not be claimed before its available_at."""
    return (
        job.status is JobStatus.PENDING and job.available_at is not None and job.available_at > now
    )


def shown_status(job: Job, now: datetime) -> str:
    return DELAYED if is_delayed(job, now) else job.status.value


def heartbeat_at(job: Job) -> datetime | None:
    """When a claimed job last showed life (its last heartbeat, else its claim)."""
    if job.status is not JobStatus.CLAIMED:
        return None
    return job.last_heartbeat or job.claimed_at


def heartbeat_age(job: Job, now: datetime) -> float | None:
    at = heartbeat_at(job)
    return None if at is None else (now - at).total_seconds()


def tint_for(age: float | None, visibility_timeout: float) -> Tint:
    if age is None or visibility_timeout <= 0:
        return Tint.NONE
    if age >= visibility_timeout:
        return Tint.STALE
    if age >= visibility_timeout / 2:
        return Tint.WARN
    return Tint.NONE


@dataclass(frozen=True, slots=True)
class JobRow:
    """One table row: display strings keyed by column id, plus what styles it."""

    id: str
    status: str
    attempts: str
    age: str
    claimed_by: str
    heartbeat: str
    preview: str
    last_error: str
    due: str
    available_at: str
    tint: Tint

    def cells(self, columns: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(getattr(self, name) for name in columns)


def job_row(job: Job, now: datetime, visibility_timeout: float, text: str | None = None) -> JobRow:
    hb_age = heartbeat_age(job, now)
    delayed = is_delayed(job, now)
    return JobRow(
        id=job.id,
        status=shown_status(job, now),
        attempts=str(job.attempts),
        age=format_job_age((now - job.created_at).total_seconds()),
        claimed_by=job.claimed_by or "",
        heartbeat=format_age(hb_age),
        preview=preview(payload_text(job) if text is None else text),
        last_error=preview(job.last_error or "", 60),
        due=format_age((job.available_at - now).total_seconds())
        if job.available_at and delayed
        else "",
        available_at=format_time(job.available_at) if job.available_at and delayed else "",
        tint=tint_for(hb_age, visibility_timeout),
    )


@dataclass(frozen=True, slots=True)
class ViewSpec:
    """What the operator asked to see of one topic."""

    kind: ViewKind = ViewKind.JOBS
    status: str | None = None  # one of SHOWN_STATUSES; jobs view only
    search: str = ""
    sort: SortOrder = SortOrder.QUEUE
    column: str | None = None  # a column clicked to sort by; wins over `sort`
    descending: bool = False

    def describe(self) -> str:
        parts = [self.kind.value]
        if self.kind is ViewKind.JOBS and self.status is not None:
            parts.append(f"status={self.status}")
        if self.search:
            parts.append(f"search={self.search!r}")
        if self.column is not None:
            arrow = "↓" if self.descending else "↑"
            parts.append(f"sort: {COLUMN_LABELS[self.column]} {arrow}")
        elif self.kind is ViewKind.JOBS and self.sort is not SortOrder.QUEUE:
            parts.append(f"sort: {self.sort.value}")
        return " · ".join(parts)


def clock_bound(spec: ViewSpec) -> bool:
    """Whether the clock alone changes which jobs a view holds: a claimed job turns stale
    as its heartbeat ages, a delayed one turns pending when its time comes. Other views
    change only with the document."""
    return spec.kind in (ViewKind.STALE, ViewKind.DELAYED) or spec.status in (
        JobStatus.PENDING.value,
        DELAYED,
    )


SortKey = Callable[[Job, datetime, "PayloadTexts"], object]
FAR = float("inf")
#: How a click on each column's header orders the jobs (ascending; again: descending).
COLUMN_SORT: dict[str, SortKey] = {
    "id": lambda job, now, texts: natural_key(job.id),
    "status": lambda job, now, texts: SHOWN_STATUSES.index(shown_status(job, now)),
    "attempts": lambda job, now, texts: job.attempts,
    "age": lambda job, now, texts: -job.created_at.timestamp(),  # youngest first
    "claimed_by": lambda job, now, texts: job.claimed_by or "",
    "heartbeat": lambda job, now, texts: -(h.timestamp() if (h := heartbeat_at(job)) else -FAR),
    "preview": lambda job, now, texts: texts.get(job),
    "last_error": lambda job, now, texts: job.last_error or "",
    "due": lambda job, now, texts: job.available_at.timestamp() if job.available_at else FAR,
    "available_at": lambda job, now, texts: (
        job.available_at.timestamp() if job.available_at else FAR
    ),
}


class PayloadTexts:
    """Payload text per job id, computed once: a job's payload never changes."""

    def __init__(self) -> None:
        self._texts: dict[str, str] = {}

    def get(self, job: Job) -> str:
        text = self._texts.get(job.id)
        if text is None:
            text = self._texts[job.id] = payload_text(job)
        return text

    def forget_missing(self, ids: set[str]) -> None:
        for job_id in [job_id for job_id in self._texts if job_id not in ids]:
            del self._texts[job_id]


def select_jobs(
    jobs: list[Job],
    spec: ViewSpec,
    now: datetime,
    visibility_timeout: float,
    texts: PayloadTexts | None = None,
) -> list[Job]:
    """The jobs a view shows, in the order it shows them."""
    texts = texts or PayloadTexts()
    if spec.kind is ViewKind.DEAD:
        chosen = [job for job in jobs if job.status is JobStatus.DEAD]
    elif spec.kind is ViewKind.DELAYED:
        chosen = [job for job in jobs if is_delayed(job, now)]
    elif spec.kind is ViewKind.STALE:
        half = visibility_timeout / 2
        chosen = [
            job for job in jobs if (age := heartbeat_age(job, now)) is not None and age >= half
        ]
    elif spec.status is not None:
        chosen = [job for job in jobs if shown_status(job, now) == spec.status]
    else:
        chosen = list(jobs)
    if spec.search:
        needle = spec.search.casefold()
        chosen = [
            job
            for job in chosen
            if needle in job.id.casefold() or needle in texts.get(job).casefold()
        ]
    if spec.column is not None:
        key = COLUMN_SORT[spec.column]
        chosen.sort(key=lambda job: key(job, now, texts), reverse=spec.descending)  # type: ignore[arg-type,return-value]
        return chosen
    if spec.kind is ViewKind.DELAYED:
        chosen.sort(key=lambda job: job.available_at or now)
        return chosen
    sort = SortOrder.HEARTBEAT if spec.kind is ViewKind.STALE else spec.sort
    if sort is SortOrder.OLDEST:
        chosen.sort(key=lambda job: job.created_at)
    elif sort is SortOrder.NEWEST:
        chosen.sort(key=lambda job: job.created_at, reverse=True)
    elif sort is SortOrder.HEARTBEAT:
        # Oldest heartbeat first; jobs without one (not claimed) keep queue order after.
        far = now.timestamp() + 1
        chosen.sort(key=lambda job: h.timestamp() if (h := heartbeat_at(job)) else far)
    return chosen


@dataclass(frozen=True, slots=True)
class Window:
    """The slice of a view the table holds when the view is longer than the row cap."""

    start: int
    stop: int
    total: int

    @property
    def hidden(self) -> int:
        return self.total - (self.stop - self.start)

    def describe(self) -> str:
        if not self.hidden:
            return f"{self.total:,} row" if self.total == 1 else f"{self.total:,} rows"
        return (
            f"rows {self.start + 1:,}-{self.stop:,} of {self.total:,} "
            f"({self.hidden:,} hidden; [ and ] move the window)"
        )


def window(total: int, start: int, cap: int) -> Window:
    """Clamp a window of at most `cap` rows starting near `start` to `total` rows."""
    start = max(0, min(start, total - cap))
    return Window(start, min(total, start + cap), total)


def view_window(
    doc: TopicDocument | None,
    spec: ViewSpec,
    now: datetime,
    visibility_timeout: float,
    *,
    start: int = 0,
    cap: int = 1000,
    texts: PayloadTexts | None = None,
) -> tuple[list[Job], Window]:
    """The jobs of one view of a document, windowed to at most `cap`, in table order."""
    jobs = select_jobs(doc.jobs if doc else [], spec, now, visibility_timeout, texts)
    win = window(len(jobs), start, cap)
    return jobs[win.start : win.stop], win


# --- topics -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TopicSummary:
    topic: str
    counts: dict[str, int]  # by shown status (SHOWN_STATUSES): the status fields are disjoint
    total: int
    generation: int
    counters: Counters
    updated_at: datetime
    next_due: datetime | None  # when the soonest delayed job turns pending
    paused: bool = False  # the topic's setting: claims find nothing


def summarize(doc: TopicDocument, now: datetime) -> TopicSummary:
    counts = dict.fromkeys(SHOWN_STATUSES, 0)
    next_due: datetime | None = None
    for job in doc.jobs:
        status = shown_status(job, now)
        counts[status] += 1
        if status == DELAYED and (next_due is None or job.available_at < next_due):  # type: ignore[operator]
            next_due = job.available_at
    return TopicSummary(
        topic=doc.topic,
        counts=counts,
        total=len(doc.jobs),
        generation=doc.generation,
        counters=doc.counters,
        updated_at=doc.updated_at,
        next_due=next_due,
        paused=doc.settings is not None and bool(doc.settings.paused),
    )


SPARK_BLOCKS = "▁▂▃▄▅▆▇█"


def sparkline(values: list[float]) -> str:
    """Block characters scaled to the largest value; all-zero is a flat baseline."""
    top = max(values, default=0.0)
    if top <= 0:
        return SPARK_BLOCKS[0] * len(values)
    last = len(SPARK_BLOCKS) - 1
    return "".join(SPARK_BLOCKS[round(value / top * last)] for value in values)


#: Windows of the throughput history, in minutes (the topic detail shows each).
HISTORY_WINDOWS = (5, 15, 60)


@dataclass(frozen=True, slots=True)
class WindowRates:
    minutes: int
    seen: float  # seconds of the window the console has watched
    enqueued: int
    completed: int

    def per_minute(self, count: int) -> float:
        return count / self.seen * 60 if self.seen > 0 else 0.0


@dataclass
class Throughput:
    """Enqueue and completion rates of a topic, derived from its lifetime counters.

    Each document seen adds a sample (time, enqueued, completed); a rate over a bucket is
    the counter's growth across it. Counters only rise, so missed documents lose nothing.
    """

    bucket: float = 10.0  # seconds per sparkline bar: six bars are the last minute
    buckets: int = 6
    samples: deque[tuple[float, int, int]] = field(default_factory=deque)
    # The longer history (HISTORY_WINDOWS): at most one sample per `bucket` seconds.
    history: deque[tuple[float, int, int]] = field(default_factory=deque)

    def add(self, at: datetime, counters: Counters) -> None:
        t = at.timestamp()
        if self.samples and t < self.samples[-1][0]:
            return
        sample = (t, counters.enqueued, counters.completed)
        self.samples.append(sample)
        horizon = t - self.bucket * (self.buckets + 1)
        while len(self.samples) > 1 and self.samples[1][0] <= horizon:
            self.samples.popleft()
        # The last sample always holds the latest counters; it is kept as a new point
        # once it is a bucket past the one before.
        if len(self.history) >= 2 and t - self.history[-2][0] < self.bucket:
            self.history[-1] = sample
        else:
            self.history.append(sample)
        horizon = t - max(HISTORY_WINDOWS) * 60 - self.bucket
        while len(self.history) > 1 and self.history[1][0] <= horizon:
            self.history.popleft()

    def over(self, now: datetime, minutes: int) -> WindowRates:
        """Jobs enqueued and completed in the last `minutes`, or over the part of it the
        console has seen (`seen` seconds, from its first document of the topic)."""
        if not self.history:
            return WindowRates(minutes, 0.0, 0, 0)
        end = now.timestamp()
        start = end - minutes * 60
        base = self.history[0]
        for sample in self.history:
            if sample[0] > start:
                break
            base = sample
        last = self.history[-1]
        seen = max(0.0, end - max(base[0], start))
        return WindowRates(minutes, seen, max(0, last[1] - base[1]), max(0, last[2] - base[2]))

    def _at(self, t: float) -> tuple[int, int] | None:
        """Counter values as of time t (the latest sample not after it)."""
        found = None
        for sample in self.samples:
            if sample[0] > t:
                break
            found = (sample[1], sample[2])
        return found

    def rates(self, now: datetime) -> tuple[list[float], list[float]]:
        """Per-second (enqueue, completion) rates for each bucket, oldest first."""
        end = now.timestamp()
        enq: list[float] = []
        done: list[float] = []
        for i in range(self.buckets, 0, -1):
            lo, hi = self._at(end - i * self.bucket), self._at(end - (i - 1) * self.bucket)
            if lo is None:
                lo = (self.samples[0][1], self.samples[0][2]) if self.samples else None
            if lo is None or hi is None:
                enq.append(0.0)
                done.append(0.0)
                continue
            enq.append(max(0, hi[0] - lo[0]) / self.bucket)
            done.append(max(0, hi[1] - lo[1]) / self.bucket)
        return enq, done


def format_rate(per_second: float) -> str:
    """A rate, always per minute (a queue of a few jobs a minute would read `0/s`):
    `0/m`, `0.5/m`, `48/m`, `1,200/m`, `75k/m`."""
    per_minute = per_second * 60
    if per_minute >= 100_000:
        return f"{per_minute / 1000:,.0f}k/m"
    if per_minute >= 10 or per_minute == 0 or float(round(per_minute, 1)).is_integer():
        return f"{per_minute:,.0f}/m"
    return f"{per_minute:.1f}/m"
