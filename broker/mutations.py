"""Job semantics (broker/DESIGN.md, "Job semantics"): what each operation does to a topic's state.

Every function validates first and changes nothing when it raises, so one bad request in
a group commit never alters the document for the others. Each takes `now` in ms from the
committer, so a batch that is re-applied after a conflict uses one clock reading per try.
claim, heartbeat, ack and nack return the job's document bytes as the mutation left them
(Topic makes a model of them, or the API JSON without one).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from common.models import HISTORY_ATTEMPTS, HISTORY_ERROR_CHARS, AttemptOutcome, Job, TopicSettings
from common.payload import payload_to_bytes

from .errors import JobNotFound, JobStateConflict, LeaseLost, TopicHasGroups
from .records import (
    CLAIMED,
    COMPLETED,
    DEAD,
    PENDING,
    JobRecord,
    compact_dumps,
    format_ms,
)
from .state import Limits, TopicState


@dataclass(frozen=True, slots=True)
class NewJob:
    payload: Any
    id: str | None = None
    delay: float = 0.0
    payload_encoding: str | None = None
    stream: bool = False  # XADD: the topic is a stream from now on (TYPE)


@dataclass(frozen=True, slots=True)
class EnqueueResult:
    id: str
    created: bool


def enqueue(state: TopicState, now: int, job_id: str, job: NewJob) -> EnqueueResult:
    """Append a pending job; an id already in the topic is not duplicated."""
    if job.stream and not state.stream:
        state.stream = state.dirty = True
    if job_id in state.jobs:
        return EnqueueResult(job_id, False)
    available = now + max(0, round(job.delay * 1000))
    # What encode_fields makes of these fields (document order, no None), built directly.
    fields: dict[str, Any] = {"id": job_id, "status": PENDING}
    if job.payload is not None:
        fields["payload"] = job.payload
    if job.payload_encoding is not None:
        fields["payload_encoding"] = job.payload_encoding
    fields["created_at"] = format_ms(now)
    fields["available_at"] = format_ms(available)
    fields["attempts"] = 0
    enc = compact_dumps(fields)
    state.add(JobRecord(job_id, PENDING, state.next_seq, enc, available_at=available), now)
    state.next_seq += 1
    state.counters["enqueued"] += 1
    state.dirty = True
    return EnqueueResult(job_id, True)


# --- attempt history (README, "Semantics": what each outcome means) -----------------------
# A job's `history` is changed here only: `_started` when a claim begins, `_ended` when it
# ends. Each returns a function of the stored list that JobRecord.update applies while it
# re-encodes the job, so the job is parsed once.

History = list[dict[str, Any]] | None


def _started(worker: str | None, stamp: str) -> Callable[[History], History]:
    """A new attempt in flight; the oldest are dropped beyond HISTORY_ATTEMPTS."""
    attempt = {"claimed_at": stamp} if worker is None else {"worker": worker, "claimed_at": stamp}
    return lambda history: [*(history or []), attempt][-HISTORY_ATTEMPTS:]


def _ended(
    stamp: str, outcome: AttemptOutcome, error: str | None = None
) -> Callable[[History], History]:
    """The attempt in flight ends. A job claimed by a broker that kept no history has
    none in flight: there is nothing to end."""

    def end(history: History) -> History:
        if not history or "ended_at" in history[-1]:
            return history
        attempt = {**history[-1], "ended_at": stamp, "outcome": outcome.value}
        if error is not None:
            attempt["error"] = error[:HISTORY_ERROR_CHARS]
        return [*history[:-1], attempt]

    return end


def _then(
    first: Callable[[History], History], second: Callable[[History], History]
) -> Callable[[History], History]:
    return lambda history: second(first(history))


def claim(state: TopicState, now: int, worker: str, count: int) -> list[bytes]:
    """The oldest available pending jobs become claimed by `worker` (their new bytes)."""
    if state.groups:
        raise TopicHasGroups(state.name)
    claimed: list[bytes] = []
    while len(claimed) < count and (rec := state.take_ready(now)) is not None:
        rec.attempts += 1
        rec.claimed_by = worker
        rec.last_heartbeat = now
        stamp = format_ms(now)
        state.set_status(
            rec,
            CLAIMED,
            now,
            attempts=rec.attempts,
            claimed_by=worker,
            claimed_at=stamp,
            last_heartbeat=stamp,
            history=_started(worker, stamp),
        )
        claimed.append(rec.enc)
    return claimed


def pop(state: TopicState, now: int, count: int) -> list[bytes]:
    """Claim and complete in one step (a Redis list pop: at-most-once); the jobs' new
    bytes."""
    if state.groups:
        raise TopicHasGroups(state.name)
    popped: list[bytes] = []
    while len(popped) < count and (rec := state.take_ready(now)) is not None:
        rec.attempts += 1
        stamp = format_ms(now)
        state.set_status(
            rec,
            COMPLETED,
            now,
            attempts=rec.attempts,
            claimed_at=stamp,
            completed_at=stamp,
            history=_then(_started(None, stamp), _ended(stamp, AttemptOutcome.ACKED)),
        )
        state.counters["completed"] += 1
        popped.append(rec.enc)
    return popped


def pop_values(state: TopicState, now: int, count: int) -> list[bytes]:
    """`pop`, each job as the bytes a RESP client gets back for its payload (no model)."""
    values: list[bytes] = []
    for enc in pop(state, now, count):
        fields = orjson.loads(enc)
        values.append(payload_to_bytes(fields.get("payload"), fields.get("payload_encoding")))
    return values


def find(state: TopicState, job_id: str) -> JobRecord:
    rec = state.jobs.get(job_id)
    if rec is None:
        raise JobNotFound(state.name, job_id)
    return rec


def lookup(state: TopicState, now: int, job_id: str) -> Job:
    """The job, changing nothing (run by the committer to decide a 404 on stored state)."""
    return find(state, job_id).to_job()


def check_lease(rec: JobRecord, worker: str | None) -> None:
    """The job must be claimed, and by `worker` when one is named."""
    if rec.status is not CLAIMED:
        if rec.attempts > 0 and rec.status in (PENDING, DEAD):
            raise LeaseLost(rec.id, rec.status)  # reaped (or nacked) since it was claimed
        raise JobStateConflict(rec.id, rec.status, "claimed")
    if worker and rec.claimed_by != worker:
        raise LeaseLost(rec.id, rec.status, holder=rec.claimed_by)


def heartbeat(state: TopicState, now: int, job_id: str, worker: str | None) -> bytes:
    rec = find(state, job_id)
    check_lease(rec, worker)
    rec.last_heartbeat = now
    state.update(rec, last_heartbeat=format_ms(now))
    return rec.enc


def ack(state: TopicState, now: int, job_id: str, worker: str | None) -> bytes:
    rec = find(state, job_id)
    check_lease(rec, worker)
    stamp = format_ms(now)
    state.set_status(
        rec, COMPLETED, now, completed_at=stamp, history=_ended(stamp, AttemptOutcome.ACKED)
    )
    state.counters["completed"] += 1
    return rec.enc


def _retry_or_bury(
    state: TopicState,
    rec: JobRecord,
    now: int,
    delay_ms: int,
    error: str | None,
    outcome: AttemptOutcome,
) -> None:
    """A claimed job that failed: pending again, or dead once it used max_attempts."""
    limit = state.limits.max_attempts
    released: dict[str, Any] = {
        "claimed_by": None,
        "claimed_at": None,
        "last_heartbeat": None,
        "history": _ended(format_ms(now), outcome, error),
    }
    if error is not None:
        released["last_error"] = error
    if limit and rec.attempts >= limit:
        state.set_status(rec, DEAD, now, **released)
        state.counters["dead"] += 1
    else:
        rec.available_at = now + max(0, delay_ms)
        state.set_status(rec, PENDING, now, available_at=format_ms(rec.available_at), **released)
    rec.claimed_by = None


def backoff_ms(limits: Limits, attempts: int) -> int:
    """The wait before retrying a job nacked without a delay after `attempts` claims:
    base, doubled per attempt, capped; then "equal jitter" (between half and all of it),
    so that jobs failing together do not all come back at once."""
    if limits.retry_base_ms <= 0:
        return 0
    exponent = min(max(attempts - 1, 0), 40)  # 2**40 ms is past any cap
    ceiling: int = min(limits.retry_cap_ms, limits.retry_base_ms * 2**exponent)
    return ceiling // 2 + random.randint(0, ceiling - ceiling // 2)


def nack(
    state: TopicState,
    now: int,
    job_id: str,
    worker: str | None,
    delay: float | None,
    error: str | None,
) -> bytes:
    """A failed attempt: pending again after `delay` seconds (None: the backoff), or dead."""
    rec = find(state, job_id)
    check_lease(rec, worker)
    wait = backoff_ms(state.limits, rec.attempts) if delay is None else round(delay * 1000)
    _retry_or_bury(state, rec, now, wait, error, AttemptOutcome.NACKED)
    return rec.enc


def reap(state: TopicState, now: int) -> int:
    """Claimed jobs whose lease ran out return to pending (or die at max_attempts)."""
    deadline = now - state.limits.visibility_timeout_ms
    expired = [r for r in state.claimed.values() if (r.last_heartbeat or 0) <= deadline]
    for rec in expired:
        timeout = state.limits.visibility_timeout_ms / 1000
        reason = f"lease expired: no heartbeat for {timeout:g}s"
        _retry_or_bury(state, rec, now, 0, reason, AttemptOutcome.REAPED)
    state.counters["reaped"] += len(expired)
    if state.groups:
        from .groups import reap as reap_groups  # groups.py builds on this module

        return len(expired) + reap_groups(state, now)
    return len(expired)


def requeue(state: TopicState, now: int, job_id: str) -> Job:
    rec = find(state, job_id)
    if rec.status not in (DEAD, CLAIMED):
        raise JobStateConflict(job_id, rec.status, "dead or claimed")
    rec.attempts = 0
    rec.available_at = now
    rec.claimed_by = None
    state.set_status(
        rec,
        PENDING,
        now,
        attempts=0,
        available_at=format_ms(now),
        claimed_by=None,
        claimed_at=None,
        last_heartbeat=None,
        history=_ended(format_ms(now), AttemptOutcome.LOST, "requeued while claimed"),
    )
    return rec.to_job()


def purge(state: TopicState, now: int, status: str | None) -> int:
    """Remove every job, or every job of one status, in one write; counted as `purged`.
    A worker holding a purged claim gets job_not_found on its ack."""
    doomed = [rec for rec in state.jobs.values() if status is None or rec.status == status]
    if status is None and state.groups:  # as Redis's DEL, the stream's groups go too
        state.destroyed.update(state.groups)
        state.groups.clear()
        state.dirty = True
    for rec in doomed:
        state.remove(rec)
    if doomed:
        state.counters["purged"] += len(doomed)
        state.dirty = True
    return len(doomed)


def requeue_dead(state: TopicState, now: int, error_contains: str | None) -> int:
    """Every dead job (whose last error contains the text, when given) back to pending with
    its attempts reset, in one write, keeping its place in the queue."""
    dead = [
        rec
        for rec in state.jobs.values()
        if rec.status is DEAD
        and (error_contains is None or error_contains in (rec.to_job().last_error or ""))
    ]
    for rec in dead:
        requeue(state, now, rec.id)
    return len(dead)


def delete(state: TopicState, now: int, job_id: str) -> Job:
    rec = find(state, job_id)
    if rec.status not in (PENDING, DEAD):
        raise JobStateConflict(job_id, rec.status, "pending or dead")
    job = rec.to_job()
    state.remove(rec)
    state.dirty = True
    return job


def trim_completed(
    state: TopicState,
    now: int,
    max_len: int | None,
    below: Callable[[str], bool] | None,
    limit: int | None,
) -> int:
    """XTRIM: remove completed jobs, oldest enqueued first, while the topic holds more than
    `max_len` jobs (MAXLEN) or whose id is `below` the threshold (MINID); at most `limit`.
    Pending, claimed and dead jobs are never trimmed: they are work not yet done, or
    failures an operator must see. Returns how many were removed."""
    excess = len(state.jobs) - max_len if max_len is not None else None
    removed = 0
    for rec in [r for r in state.jobs.values() if r.status is COMPLETED]:
        if excess is not None and removed >= excess:
            break
        if limit is not None and removed >= limit:
            break
        if below is not None and not below(rec.id):
            continue
        state.remove(rec)
        state.dirty = True
        removed += 1
    return removed


def take_over(
    state: TopicState,
    now: int,
    job_ids: list[str],
    worker: str,
    min_idle_ms: int,
    count_delivery: bool = True,
    owned_by: str | None = None,
    as_job: Callable[[JobRecord], Any] = JobRecord.to_job,
) -> list[Any]:
    """XCLAIM: claimed jobs idle for at least min_idle move to `worker`; others are skipped.
    Each move counts as a delivery (attempts) unless `count_delivery` is false (Redis's
    JUSTID, which does not increment the delivery count). With `owned_by`, only that
    worker's claims are taken: a consumer re-reading its own pending entries (XREADGROUP
    with an id), which Redis counts as a delivery too. Each moved job as `as_job` makes
    it (a consumer group's records have no payload to make a Job of: broker/groups.py)."""
    moved: list[Any] = []
    stamp = format_ms(now)
    lost = _ended(stamp, AttemptOutcome.LOST, f"taken over by {worker}")
    handed_over = _then(lost, _started(worker, stamp))
    for job_id in job_ids:
        rec = state.jobs.get(job_id)
        if rec is None or rec.status is not CLAIMED:
            state.refused = True  # maybe claimed through another broker since this state
            continue
        if now - (rec.last_heartbeat or 0) < min_idle_ms:
            continue
        if owned_by is not None and rec.claimed_by != owned_by:
            continue
        if count_delivery:
            rec.attempts += 1
        fields: dict[str, Any] = {}
        if rec.claimed_by != worker:  # the same worker re-reading its claim goes on with it
            fields["history"] = handed_over
        rec.claimed_by = worker
        rec.last_heartbeat = now
        state.claimed.pop(rec.id)
        state.claimed[rec.id] = rec  # claim order: now the newest claim
        state.update(
            rec,
            attempts=rec.attempts,
            claimed_by=worker,
            claimed_at=stamp,
            last_heartbeat=stamp,
            **fields,
        )
        moved.append(as_job(rec))
    return moved


def trim(state: TopicState) -> None:
    """Retention: keep the newest completed jobs and cap dead ones (counted as dropped)."""
    for status, order, limit in (
        (COMPLETED, state.completed_order, state.limits.completed_retention),
        (DEAD, state.dead_order, state.limits.dead_retention),
    ):
        while state.counts[status] > limit and order:
            rec = order.popleft()
            if state.jobs.get(rec.id) is rec and rec.status is status:
                state.remove(rec)
                state.dirty = True
                if status is DEAD:
                    state.counters["dropped"] += 1


def change_settings(state: TopicState, now: int, changes: dict[str, Any]) -> dict[str, Any]:
    """Set the topic's settings given in `changes` (validated, TopicSettings), clearing
    those given as None; the others stay. Written (as the whole set) only if they changed.
    Returns the topic's settings, stored form."""
    merged = {**state.settings, **changes}
    settings = TopicSettings.model_validate(merged).stored()
    if settings != state.settings:
        state.set_settings(settings)
        state.settings_changed = True
        state.dirty = True
    return settings
