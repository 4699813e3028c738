"""Named consumer groups of a stream (broker/DESIGN.md, "Consumer groups").

A topic without named groups is consumed through its own queue (its jobs' statuses), by
any group name, as always. `XGROUP CREATE` makes the topic a fan-out stream: each named
group sees every entry after its start with its own state:
- a cursor (`last_id`, and `cursor`, that entry's place in the topic): entries after it
  are new for the group;
- its delivery records, one per entry it delivered and has not acked, kept in a
  `TopicState` of their own (`queue`) so that the job rules of broker/mutations.py
  (claim, ack, reap, take_over, dead after max attempts) run on them unchanged; a record
  is a job's fields without payload and created_at, which stay in the topic's entry;
- its consumers, with when each was last seen.

A group claims its own returned records first (entries it delivered before, back after a
reap: all older than the cursor), then new entries, moving the cursor. The topic's own
status of an entry stays `pending` until every group is done with it (past its cursor,
with no record), then becomes `completed`; nothing consumes the own queue meanwhile.

Every function here that changes state is a mutation (state, now, ...), validating before
changing anything, as broker/mutations.py requires.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson

from common.models import GroupDocument, Job

from . import mutations
from .errors import GroupError
from .records import CLAIMED, COMPLETED, PENDING, JobRecord, compact_dumps, format_ms, parse_ms
from .state import TopicState

START = "0-0"


def no_group(key: str, group: str, command: str | None = None) -> GroupError:
    """Redis's NOGROUP error: XREADGROUP names the command, XINFO/XGROUP say it another
    way (`command` None), and the others name neither."""
    if command == "XREADGROUP":
        text = f"No such key '{key}' or consumer group '{group}' in XREADGROUP with GROUP option"
    elif command is None:
        text = f"No such consumer group '{group}' for key name '{key}'"
    else:
        text = f"No such key '{key}' or consumer group '{group}'"
    return GroupError("NOGROUP", text)


NO_KEY = GroupError(
    "ERR",
    "The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to "
    "use the MKSTREAM option to create an empty stream automatically.",
)


class Group:
    # A plain class, not a dataclass: mypy's dataclass plugin loops on the import cycle
    # with broker/state.py.
    def __init__(
        self,
        name: str,
        queue: TopicState,
        last_id: str,
        created_at: int,
        entries_read: int | None = None,
        consumers: dict[str, int] | None = None,
    ) -> None:
        self.name = name
        self.queue = queue  # the delivery records, as jobs without payload
        self.last_id = last_id  # the last delivered entry's id (`0-0`: none)
        self.created_at = created_at
        self.entries_read = entries_read
        self.consumers = consumers or {}  # name -> last seen (ms)
        self.cursor: int | None = None  # last_id's place (seq) in the topic; None: unknown

    def document(self) -> dict[str, Any]:
        """The stored form (common.models.GroupDocument), deliveries in delivery order."""
        doc = self.header()
        doc["deliveries"] = [orjson.loads(rec.enc) for rec in self.queue.jobs.values()]
        return doc

    def change(self) -> dict[str, Any]:
        """What a log object holds of the group (common.models.GroupChange): its header
        and its delivery records changed since the last write landed."""
        doc = self.header()
        doc["deliveries"] = [orjson.loads(rec.enc) for rec in self.queue.changed.values()]
        if self.queue.removed:
            doc["removed_deliveries"] = sorted(self.queue.removed)
        return doc

    def header(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "name": self.name,
            "last_id": self.last_id,
            "created_at": format_ms(self.created_at),
        }
        if self.entries_read is not None:
            doc["entries_read"] = self.entries_read
        doc["consumers"] = {name: format_ms(ms) for name, ms in self.consumers.items()}
        return doc

    def touch(self, state: TopicState) -> None:
        """The group changed: the next log object carries it whole."""
        self.queue.dirty = True
        state.dirty = True


def load_group(state: TopicState, doc: GroupDocument, now: int) -> Group:
    queue = TopicState(state.name, state.limits)
    for seq, delivery in enumerate(doc.deliveries):
        fields = delivery.model_dump(mode="json", exclude_none=True)
        rec = JobRecord(
            delivery.id,
            delivery.status,
            seq,
            compact_dumps(fields),
            delivery.attempts,
            parse_ms(fields["available_at"]) if "available_at" in fields else 0,
            delivery.claimed_by,
            parse_ms(fields.get("last_heartbeat", fields.get("claimed_at", format_ms(now)))),
        )
        queue.index(rec, now)
    queue.next_seq = queue.stored_seqs = len(doc.deliveries)
    consumers = {name: round(seen.timestamp() * 1000) for name, seen in doc.consumers.items()}
    created = round(doc.created_at.timestamp() * 1000)
    return Group(doc.name, queue, doc.last_id, created, doc.entries_read, consumers)


def install(state: TopicState, docs: list[GroupDocument] | None, now: int) -> None:
    """The groups of a loaded topic."""
    for doc in docs or ():
        state.groups[doc.name] = load_group(state, doc, now)


# --- entries and cursors --------------------------------------------------------------------


def _stream_key(job_id: str) -> tuple[int, int] | None:
    head, _, tail = job_id.partition("-")
    if not head.isdigit() or (tail and not tail.isdigit()):
        return None
    return int(head), int(tail or 0)


def position(state: TopicState, entry_id: str) -> int | None:
    """The place (seq) of the last entry at or before `entry_id`: -1 before every entry;
    None while the topic is still loading (the place may not be loaded yet)."""
    if entry_id in (START, "0"):
        return -1
    rec = state.jobs.get(entry_id)
    if rec is not None:
        return rec.seq
    if state.loading is not None:
        return None
    # The entry left the topic (trimmed once done): place by Redis-style id order.
    bound = _stream_key(entry_id)
    place = -1
    if bound is not None:
        for rec in state.jobs.values():
            key = _stream_key(rec.id)
            if key is not None and key <= bound:
                place = rec.seq
    return place


def cursor_of(state: TopicState, group: Group) -> int | None:
    if group.cursor is None:
        group.cursor = position(state, group.last_id)
    return group.cursor


def entries_after(state: TopicState, seq: int) -> Iterator[JobRecord]:
    """The topic's entries after place `seq`, in order."""
    for segment in state.segments:
        if not segment.recs or segment.recs[-1].seq <= seq:
            continue
        for rec in segment.recs:
            if rec.seq > seq and rec.seg is segment and state.jobs.get(rec.id) is rec:
                yield rec


def new_entries(state: TopicState, group: Group) -> Iterator[JobRecord]:
    """Entries new for the group: after its cursor, and pending in the topic's own status
    (a group never sees what the topic's own queue consumed before groups existed)."""
    cursor = cursor_of(state, group)
    if cursor is None:
        return iter(())
    return (rec for rec in entries_after(state, cursor) if rec.status is PENDING)


def lag(state: TopicState, group: Group) -> int | None:
    """Redis's lag: entries added minus entries read, or the entries after the cursor."""
    if group.entries_read is not None:
        return state.counters["enqueued"] - group.entries_read
    cursor = cursor_of(state, group)
    return None if cursor is None else sum(1 for _ in entries_after(state, cursor))


def done_in(state: TopicState, group: Group, rec: JobRecord) -> bool:
    cursor = cursor_of(state, group)
    return cursor is not None and rec.seq <= cursor and rec.id not in group.queue.jobs


def settle(state: TopicState, now: int, recs: list[JobRecord], judges: list[Group]) -> None:
    """Entries that every group in `judges` is done with complete in the topic's status."""
    for rec in recs:
        live = state.jobs.get(rec.id) is rec and rec.status is PENDING
        if live and all(done_in(state, group, rec) for group in judges):
            state.set_status(rec, COMPLETED, now, completed_at=format_ms(now))
            state.counters["completed"] += 1


# --- lookups --------------------------------------------------------------------------------


def find(state: TopicState, key: str, name: str, command: str | None = None) -> Group:
    group = state.groups.get(name)
    if group is None:
        raise no_group(key, name, command)
    return group


def entry_job(state: TopicState, delivery: JobRecord) -> Job | None:
    """The topic's entry with the group's delivery fields (what a reply shows)."""
    entry = state.jobs.get(delivery.id)
    if entry is None:
        return None
    fields = orjson.loads(entry.enc)
    own = orjson.loads(delivery.enc)
    own.pop("status")
    fields.update(own, status=delivery.status.value)
    fields.pop("completed_at", None)
    return Job.model_validate(fields)


def _seen(state: TopicState, group: Group, consumer: str, now: int) -> None:
    """Remember the consumer; a new one is stored (Redis creates it), a known one's time
    rides along with the group's next write."""
    if consumer not in group.consumers:
        group.touch(state)
    group.consumers[consumer] = now


# --- mutations ------------------------------------------------------------------------------


def create(
    state: TopicState,
    now: int,
    name: str,
    start: str,
    mkstream: bool,
    entries_read: int | None,
) -> None:
    if not state.jobs and not state.stream and not mkstream and state.generation == 0:
        raise NO_KEY
    if name in state.groups:
        raise GroupError("BUSYGROUP", "Consumer Group name already exists")
    last_id = _start_id(state, start)
    group = Group(name, TopicState(state.name, state.limits), last_id, now, entries_read)
    state.groups[name] = group  # a group of this name destroyed before stays destroyed:
    # the log object says so first, then has this one start over (common/topic_log.py)
    if mkstream:
        state.stream = True
    group.touch(state)


def _start_id(state: TopicState, start: str) -> str:
    if start == "$":
        last = next(reversed(state.jobs), None) if state.jobs else None
        return last if last is not None else START
    return START if start == "0" else start


def destroy(state: TopicState, now: int, key: str, name: str) -> int:
    _existing(state)
    group = state.groups.pop(name, None)
    if group is None:
        return 0
    state.destroyed.add(name)
    state.dirty = True
    # Entries only this group held back are done now; with no group left, those this
    # group was done with are (the others stay pending in the topic's own queue).
    judges = list(state.groups.values()) or [group]
    settle(state, now, list(state.records(PENDING)), judges)
    return 1


def _existing(state: TopicState) -> None:
    if not state.jobs and not state.stream and not state.groups and state.generation == 0:
        raise NO_KEY


def set_id(
    state: TopicState, now: int, key: str, name: str, start: str, entries_read: int | None
) -> None:
    _existing(state)
    group = find(state, key, name)
    group.last_id = _start_id(state, start)
    group.cursor = None
    group.entries_read = entries_read
    group.touch(state)


def create_consumer(state: TopicState, now: int, key: str, name: str, consumer: str) -> int:
    _existing(state)
    group = find(state, key, name)
    if consumer in group.consumers:
        return 0
    _seen(state, group, consumer, now)
    return 1


def delete_consumer(state: TopicState, now: int, key: str, name: str, consumer: str) -> int:
    """Remove a consumer and its pending entries (as Redis does: they are not delivered
    again); how many it had."""
    _existing(state)
    group = find(state, key, name)
    if consumer not in group.consumers:
        return 0
    del group.consumers[consumer]
    owned = [rec for rec in group.queue.claimed.values() if rec.claimed_by == consumer]
    entries = [state.jobs[rec.id] for rec in owned if rec.id in state.jobs]
    for rec in owned:
        group.queue.remove(rec)
    group.touch(state)
    settle(state, now, entries, list(state.groups.values()))
    return len(owned)


def claim(
    state: TopicState, now: int, key: str, name: str, consumer: str, count: int, noack: bool
) -> list[Job]:
    """XREADGROUP `>`: the group's oldest available entries for `consumer` (returned ones
    first, then new ones); with NOACK, new entries are delivered without a record."""
    group = find(state, key, name, "XREADGROUP")
    queue = group.queue
    jobs: list[Job] = []
    fresh = new_entries(state, group)
    while len(jobs) < count:
        if queue.peek_ready(now) is None or noack:
            entry = next(fresh, None)
            if entry is None:
                break
            _deliver(state, group, entry)
            if noack:
                jobs.append(entry.to_job())
                settle(state, now, [entry], list(state.groups.values()))
                continue
            _record(queue, entry, now)
        delivered = mutations.claim(queue, now, consumer, 1)
        if delivered:
            rec = queue.jobs[orjson.loads(delivered[0])["id"]]
            job = entry_job(state, rec)
            if job is not None:
                jobs.append(job)
    if jobs:  # as Redis 7.0: `>` makes a consumer only when it delivers something
        _seen(state, group, consumer, now)
    if queue.dirty:
        group.touch(state)
    return jobs


def _deliver(state: TopicState, group: Group, entry: JobRecord) -> None:
    """The cursor moves past `entry`."""
    group.last_id, group.cursor = entry.id, entry.seq
    if group.entries_read is None:
        remaining = sum(1 for _ in entries_after(state, entry.seq))
        group.entries_read = state.counters["enqueued"] - remaining
    else:
        group.entries_read += 1
    group.touch(state)


def _record(queue: TopicState, entry: JobRecord, now: int) -> None:
    """A delivery record for `entry`, ready to claim."""
    enc = compact_dumps(
        {"id": entry.id, "status": PENDING, "available_at": format_ms(now), "attempts": 0}
    )
    queue.add(JobRecord(entry.id, PENDING, queue.next_seq, enc, available_at=now), now)
    queue.next_seq += 1


def ack(state: TopicState, now: int, key: str, name: str, ids: list[str]) -> int:
    """XACK: how many of `ids` were claimed in the group; their records leave it."""
    group = find(state, key, name, "XACK")
    done: list[JobRecord] = []
    for job_id in dict.fromkeys(ids):
        rec = group.queue.jobs.get(job_id)
        if rec is None or rec.status is not CLAIMED:
            state.refused = True  # another broker may have claimed it: decided on storage
            continue
        group.queue.remove(rec)
        entry = state.jobs.get(job_id)
        if entry is not None:
            done.append(entry)
    if done or group.queue.dirty:
        group.touch(state)
    settle(state, now, done, list(state.groups.values()))
    return len(done)


def take_over(
    state: TopicState,
    now: int,
    key: str,
    name: str,
    command: str,
    ids: list[str],
    consumer: str,
    min_idle_ms: int,
    count_delivery: bool,
    owned_by: str | None = None,
) -> list[Job]:
    """XCLAIM / XAUTOCLAIM / re-reading with an id, in one group (mutations.take_over)."""
    group = find(state, key, name, command)
    known = [job_id for job_id in ids if job_id in group.queue.jobs]
    moved: list[JobRecord] = mutations.take_over(
        group.queue, now, known, consumer, min_idle_ms, count_delivery, owned_by, as_job=_same
    )
    if group.queue.refused or len(known) < len(ids):  # decided again on the stored state
        state.refused, group.queue.refused = True, False
    # As Redis 7.0: XCLAIM and XAUTOCLAIM make the consumer only when they take an entry;
    # a re-read of the consumer's own entries always does.
    if moved or owned_by is not None:
        _seen(state, group, consumer, now)
    if moved:
        group.touch(state)
    found = [entry_job(state, rec) for rec in moved]
    return [job for job in found if job is not None]


def _same(rec: JobRecord) -> JobRecord:
    return rec


def reap(state: TopicState, now: int) -> int:
    """The visibility timeout in every group (run with the topic's reaper)."""
    reaped = 0
    for group in state.groups.values():
        dead_before = group.queue.counters["dead"]
        count = mutations.reap(group.queue, now)
        if count:
            state.counters["dead"] += group.queue.counters["dead"] - dead_before
            group.touch(state)
        reaped += count
    state.counters["reaped"] += reaped
    return reaped


# --- reads ----------------------------------------------------------------------------------


def claimed_records(state: TopicState, group: Group) -> list[JobRecord]:
    """The group's claimed records in entry order (Redis orders its pending list by id),
    not in the order they were delivered."""

    def entry_order(rec: JobRecord) -> int:
        entry = state.jobs.get(rec.id)
        return entry.seq if entry is not None else -1

    return sorted(group.queue.claimed.values(), key=entry_order)


def pending(state: TopicState, group: Group, consumer: str | None = None) -> list[Job]:
    """The group's claimed entries in entry order, as jobs (XPENDING, XAUTOCLAIM)."""
    recs = claimed_records(state, group)
    jobs = [entry_job(state, rec) for rec in recs if consumer in (None, rec.claimed_by)]
    return [job for job in jobs if job is not None]


def consumer_pending(group: Group) -> dict[str, int]:
    counts = dict.fromkeys(group.consumers, 0)
    for rec in group.queue.claimed.values():
        if rec.claimed_by is not None:
            counts[rec.claimed_by] = counts.get(rec.claimed_by, 0) + 1
    return counts
