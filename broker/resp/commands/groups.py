"""Consumer groups: at-least-once consumption of a topic.

A topic without named groups (none was made by XGROUP CREATE) is consumed through its
own queue, whatever group name a command gives. `XREADGROUP ... >` claims jobs for the
named consumer; XACK completes them; a claim that is not acked (nor heartbeated over
HTTP) within the visibility timeout goes back to pending. XPENDING shows claimed jobs
with idle time and delivery count (attempts); XCLAIM / XAUTOCLAIM move idle ones to
another consumer.

Once XGROUP CREATE made named groups, the topic is a fan-out stream: each command acts on
the group it names, with the same rules, on that group's own deliveries
(broker/groups.py), and a group that does not exist is Redis's NOGROUP error.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, ClassVar

from broker import groups as named
from broker.engine import Topic
from broker.groups import Group
from broker.records import job_from_json, now_ms
from broker.state import TopicState
from common.limits import CLAIM_COUNT
from common.models import Job, JobStatus, utc_now

from ..reply import NULL_ARRAY, OK
from ..session import Context
from .base import ENQUEUE, Args, Command, Container, fail, out_of_range, topic_name
from .jobs import Range, count_done, entry_of, from_cursor, stream_id
from .reads import block_timeout, parse_read, streams_reply
from .streams import JOB_COUNT_FIELDS, UNKNOWN_XINFO_STREAM, XInfoStream, loaded
from .waiting import all_available

DEFAULT_COUNT = 100  # XREADGROUP / XAUTOCLAIM without COUNT


def claimed_jobs(topic: Topic, consumer: str | None = None) -> list[Job]:
    """Claimed jobs in enqueue order (Redis orders its pending list by id), not in the
    order they were claimed."""
    everyone = topic.list_jobs(status=JobStatus.CLAIMED, limit=topic.stats().claimed)
    return [job for job in everyone if consumer is None or job.claimed_by == consumer]


def named_group(topic: Topic, group: str, command: str | None) -> Group | None:
    """The named group a command acts on, or None when the topic has no named groups
    (it is consumed through its own queue). NOGROUP when it has others."""
    state = topic.current_state()
    if state is None or not state.groups:
        return None
    return named.find(state, topic.name, group, command)


def _state(topic: Topic) -> TopicState:
    state = topic.current_state()
    assert state is not None  # loaded: a group was found in it
    return state


def idle_ms(job: Job) -> int:
    since = job.last_heartbeat or job.claimed_at or job.created_at
    return max(0, int((utc_now() - since).total_seconds() * 1000))


def _claimed(topic: Topic, group: str, consumer: str | None, command: str) -> list[Job]:
    """Claimed entries in entry order: of the named group, or of the topic's own queue."""
    found = named_group(topic, group, command)
    if found is None:
        return claimed_jobs(topic, consumer)
    return named.pending(_state(topic), found, consumer)


async def _group_take_over(
    topic: Topic,
    group: str,
    command: str,
    ids: list[str],
    consumer: str,
    min_idle_ms: int,
    count_delivery: bool,
    owned_by: str | None = None,
) -> list[Job]:
    return await topic.in_group(
        named.take_over,
        key=topic.name,
        name=group,
        command=command,
        ids=ids,
        consumer=consumer,
        min_idle_ms=min_idle_ms,
        count_delivery=count_delivery,
        owned_by=owned_by,
    )


def _claim_count(args: Args, *, zero: int) -> int:
    """A COUNT of jobs to claim (common.limits.CLAIM_COUNT); 0 means `zero`, as in Redis."""
    count = args.integer()
    if count == 0:
        return zero
    if not CLAIM_COUNT.low <= count <= CLAIM_COUNT.high:
        raise out_of_range("COUNT", CLAIM_COUNT)
    return count


def _ids(args: Args) -> list[str]:
    return [word.decode("utf-8", "replace") for word in args.rest()]


@dataclass
class XReadGroup(Command):
    name = "xreadgroup"
    arity = -7
    summary = "Claim new jobs (`>`) for a consumer, or re-read its claimed ones (`0`)."
    group = "stream"
    flags = ("write", "blocking", "movablekeys")
    blocking = True

    group_name: str
    consumer: str
    count: int
    block_ms: int | None
    noack: bool
    streams: list[tuple[str, str]]

    @classmethod
    def parse(cls, args: Args) -> Command:
        if args.keyword() != "GROUP":
            fail("ERR syntax error")
        group = args.text()
        consumer = args.text()
        read = parse_read(
            args, cls.name, lambda words: _claim_count(words, zero=DEFAULT_COUNT), noack=True
        )
        count = DEFAULT_COUNT if read.count is None else read.count
        return cls(group, consumer, count, read.block_ms, read.noack, read.streams)

    def without_blocking(self) -> Command:
        return replace(self, block_ms=None)  # as without BLOCK

    async def apply(self, ctx: Context) -> Any:
        for name, _ in self.streams:  # NOGROUP before anything is read, as in Redis
            named_group(await loaded(ctx, name), self.group_name, "XREADGROUP")
        if all(cursor == ">" for _, cursor in self.streams):
            found = await self._claim_new(ctx)
        else:
            found = await self._read_own(ctx)
        return streams_reply(ctx.session.protocol, found)

    async def _take(self, topic: Topic) -> list[Job] | None:
        if named_group(topic, self.group_name, "XREADGROUP") is not None:
            jobs = await topic.in_group(
                named.claim,
                key=topic.name,
                name=self.group_name,
                consumer=self.consumer,
                count=self.count,
                noack=self.noack,
            )
            return jobs or None
        if self.noack:
            jobs = await topic.pop(count=self.count)
        else:
            jobs = [
                job_from_json(enc) for enc in await topic.claim(self.consumer, count=self.count)
            ]
        return jobs or None

    async def _redeliver(self, topic: Topic, jobs: list[Job]) -> list[Job]:
        """Re-reading pending entries is a delivery, as in Redis: the count rises and the
        idle time starts again. A job another consumer took meanwhile is left out."""
        ids = [job.id for job in jobs]
        if named_group(topic, self.group_name, "XREADGROUP") is not None:
            # Even with nothing to re-read: in Redis a re-read makes the consumer.
            moved = await _group_take_over(
                topic, self.group_name, "XREADGROUP", ids, self.consumer, 0, True, self.consumer
            )
        elif not jobs:
            return []
        else:
            moved = await topic.take_over(ids, self.consumer, min_idle=0, owned_by=self.consumer)
        by_id = {job.id: job for job in moved}
        return [by_id[job_id] for job_id in ids if job_id in by_id]

    async def _claim_new(self, ctx: Context) -> list[tuple[str, list[Job]]]:
        topics = [ctx.topic(name) for name, _ in self.streams]
        seen: dict[str, int] = {}

        async def take(topic: Topic) -> list[Job] | None:
            seen[topic.name] = topic.generation
            return await self._take(topic)

        async def ready(topic: Topic, timeout: float) -> object:  # noqa: ASYNC109
            if named_group(topic, self.group_name, "XREADGROUP") is None:
                return await topic.wait_for_available(timeout)
            # A group's entries come with a commit: an XADD, or a reap in the group.
            return await topic.wait_for_generation(seen[topic.name], timeout)

        found = await all_available(topics, block_timeout(self.block_ms), take, wait=ready)
        return [(topic.name, jobs) for topic, jobs in found]

    async def _read_own(self, ctx: Context) -> list[tuple[str, list[Job]]]:
        found: list[tuple[str, list[Job]]] = []
        for name, cursor in self.streams:
            topic = await loaded(ctx, name)
            if cursor == ">":
                jobs = await self._take(topic) or []
            else:
                mine = _claimed(topic, self.group_name, self.consumer, "XREADGROUP")
                own = from_cursor(mine, cursor, inclusive=False)
                jobs = await self._redeliver(topic, own[: self.count])
            found.append((name, jobs))
        return found


@dataclass
class XAck(Command):
    name = "xack"
    arity = -4
    summary = "Complete claimed jobs; reply: how many were claimed and are now completed."
    group = "stream"
    flags = ("write",)
    first_key, last_key, key_step = 1, 1, 1
    run = ENQUEUE

    topic: str
    group_name: str
    ids: list[str]

    @classmethod
    def parse(cls, args: Args) -> Command:
        topic = topic_name(args.next())
        return cls(topic, args.text(), _ids(args))

    async def apply(self, ctx: Context) -> Any:
        # Unknown or unclaimed ids: nothing to acknowledge (not counted), as in Redis.
        topic = ctx.topic(self.topic)
        state = topic.current_state()
        if state is not None and state.groups:
            if self.group_name not in state.groups:
                return 0  # Redis answers 0 for a group that does not exist
            group = self.group_name
            return await topic.in_group(named.ack, key=self.topic, name=group, ids=self.ids)
        return await count_done(topic.ack, self.ids)


@dataclass
class XPending(Command):
    name = "xpending"
    arity = -3
    summary = "Claimed jobs: a summary, or [IDLE ms] start end count [consumer] for details."
    group = "stream"
    flags = ("readonly",)
    first_key, last_key, key_step = 1, 1, 1

    topic: str
    group_name: str
    detail: tuple[Range, int, str | None, int] | None  # range, count, consumer, min idle

    @classmethod
    def parse(cls, args: Args) -> Command:
        topic = topic_name(args.next())
        group = args.text()
        if not args:
            return cls(topic, group, None)
        min_idle = 0
        if args.peek_keyword() == "IDLE":
            args.next()
            min_idle = args.integer()
        if len(args) < 3:
            fail("ERR syntax error")
        bounds = Range.parse(args.next(), args.next())
        count = args.integer()
        consumer = args.text() if args else None
        args.end()
        return cls(topic, group, (bounds, max(count, 0), consumer, min_idle))

    async def apply(self, ctx: Context) -> Any:
        topic = await loaded(ctx, self.topic)
        if self.detail is None:
            return self._summary(_claimed(topic, self.group_name, None, "XPENDING"))
        bounds, count, consumer, min_idle = self.detail
        rows = [
            [job.id, job.claimed_by, idle_ms(job), job.attempts]
            for job in _claimed(topic, self.group_name, consumer, "XPENDING")
            if bounds.admits(job.id) and idle_ms(job) >= min_idle
        ]
        return rows[:count]

    @staticmethod
    def _summary(jobs: list[Job]) -> list[Any]:
        if not jobs:
            return [0, None, None, NULL_ARRAY]
        per_consumer: dict[str, int] = {}
        for job in jobs:
            per_consumer[job.claimed_by or ""] = per_consumer.get(job.claimed_by or "", 0) + 1
        consumers = [[name, str(n)] for name, n in sorted(per_consumer.items())]
        return [len(jobs), jobs[0].id, jobs[-1].id, consumers]


def _min_idle(args: Args, command: str) -> int:
    value = args.integer(f"ERR Invalid min-idle-time argument for {command}")
    return max(value, 0)


@dataclass
class XClaim(Command):
    name = "xclaim"
    arity = -6
    summary = "Move claimed jobs idle at least min-idle-time ms to this consumer."
    group = "stream"
    flags = ("write",)
    first_key, last_key, key_step = 1, 1, 1

    topic: str
    group_name: str
    consumer: str
    min_idle_ms: int
    ids: list[str]
    just_id: bool

    OPTIONS: ClassVar[frozenset[str]] = frozenset(
        {"IDLE", "TIME", "RETRYCOUNT", "FORCE", "JUSTID", "LASTID"}
    )

    @classmethod
    def parse(cls, args: Args) -> Command:
        topic = topic_name(args.next())
        group = args.text()
        consumer = args.text()
        min_idle = _min_idle(args, "XCLAIM")
        ids: list[str] = []
        while args and args.peek_keyword() not in cls.OPTIONS:
            ids.append(args.text())
        just_id = False
        while args:
            option = args.keyword()
            if option == "JUSTID":
                just_id = True
            elif option in ("IDLE", "TIME", "RETRYCOUNT") and args:
                # Checked as Redis does (a 64-bit integer), then ignored: the broker keeps
                # its own claim times and delivery counts.
                args.integer(f"ERR Invalid {option} option argument for XCLAIM")
            elif option == "LASTID" and args:
                args.next()  # accepted and ignored: ids are not a sequence here
            elif option != "FORCE":
                fail(f"ERR Unrecognized XCLAIM option '{option}'")
        return cls(topic, group, consumer, min_idle, ids, just_id)

    async def apply(self, ctx: Context) -> Any:
        topic = await loaded(ctx, self.topic)
        jobs = await _take_over(
            topic,
            self.group_name,
            "XCLAIM",
            self.ids,
            self.consumer,
            self.min_idle_ms,
            self.just_id,
        )
        return [job.id if self.just_id else entry_of(job) for job in jobs]


async def _take_over(
    topic: Topic,
    group: str,
    command: str,
    ids: list[str],
    consumer: str,
    min_idle_ms: int,
    just_id: bool,
) -> list[Job]:
    """XCLAIM and XAUTOCLAIM: in the named group, or in the topic's own queue."""
    count_delivery = not just_id  # Redis: JUSTID does not count a delivery
    if named_group(topic, group, command) is not None:
        return await _group_take_over(
            topic, group, command, ids, consumer, min_idle_ms, count_delivery
        )
    return await topic.take_over(
        ids, consumer, min_idle=min_idle_ms / 1000, count_delivery=count_delivery
    )


@dataclass
class XAutoClaim(Command):
    name = "xautoclaim"
    arity = -6
    summary = (
        "Move up to COUNT jobs idle at least min-idle-time ms, from a cursor, to this consumer."
    )
    group = "stream"
    flags = ("write",)
    first_key, last_key, key_step = 1, 1, 1

    topic: str
    group_name: str
    consumer: str
    min_idle_ms: int
    start: str
    count: int
    just_id: bool

    @classmethod
    def parse(cls, args: Args) -> Command:
        topic = topic_name(args.next())
        group = args.text()
        consumer = args.text()
        min_idle = _min_idle(args, "XAUTOCLAIM")
        start = args.text()
        count, just_id = DEFAULT_COUNT, False
        while args:
            option = args.keyword()
            if option == "COUNT" and args:
                count = args.integer()
                if count < 1:
                    fail("ERR COUNT must be > 0")
                if count > CLAIM_COUNT.high:
                    raise out_of_range("COUNT", CLAIM_COUNT)
            elif option == "JUSTID":
                just_id = True
            else:
                fail("ERR syntax error")
        return cls(topic, group, consumer, min_idle, start, count, just_id)

    async def apply(self, ctx: Context) -> Any:
        topic = await loaded(ctx, self.topic)
        candidates = [
            job
            for job in from_cursor(
                _claimed(topic, self.group_name, None, "XAUTOCLAIM"), self.start, inclusive=True
            )
            if idle_ms(job) >= self.min_idle_ms
        ]
        chosen = [job.id for job in candidates[: self.count]]
        following = candidates[self.count].id if len(candidates) > self.count else "0-0"
        moved = await _take_over(
            topic,
            self.group_name,
            "XAUTOCLAIM",
            chosen,
            self.consumer,
            self.min_idle_ms,
            self.just_id,
        )
        entries = [job.id if self.just_id else entry_of(job) for job in moved]
        return [following, entries, []]


# --- XGROUP -------------------------------------------------------------------------------


def _start(args: Args) -> str:
    """A group's start: `$` (after the newest entry) or a Redis-style id."""
    text = args.text()
    if text != "$" and stream_id(text) is None:
        fail("ERR Invalid stream ID specified as stream command argument")
    return text


def _entries_read(args: Args, subcommand: str) -> int | None:
    """`[ENTRIESREAD n]`: the group's count of entries read (-1: unknown)."""
    if not args:
        return None
    if args.keyword() != "ENTRIESREAD" or len(args) != 1:
        fail(
            f"ERR unknown subcommand or wrong number of arguments for '{subcommand}'. "
            "Try XGROUP HELP."
        )
    value = args.integer()
    if value < -1:
        fail("ERR value for ENTRIESREAD must be positive or -1")
    return None if value == -1 else value


@dataclass
class XGroupCreate(Command):
    name = "xgroup|create"
    arity = -5
    summary = "Make a consumer group that sees every entry after an id (`$`: new ones only)."
    group = "stream"
    flags = ("write",)
    first_key, last_key, key_step = 2, 2, 1

    topic: str
    group_name: str
    start: str
    mkstream: bool
    entries_read: int | None

    @classmethod
    def parse(cls, args: Args) -> Command:
        topic = topic_name(args.next())
        name = args.text()
        start = _start(args)
        mkstream = args.peek_keyword() == "MKSTREAM" if args else False
        if mkstream:
            args.next()
        return cls(topic, name, start, mkstream, _entries_read(args, "CREATE"))

    async def apply(self, ctx: Context) -> Any:
        await ctx.topic(self.topic).in_group(
            named.create,
            name=self.group_name,
            start=self.start,
            mkstream=self.mkstream,
            entries_read=self.entries_read,
        )
        return OK


@dataclass
class XGroupSetId(Command):
    name = "xgroup|setid"
    arity = -5
    summary = "Move a group's last-delivered id (`$`: after the newest entry)."
    group = "stream"
    flags = ("write",)
    first_key, last_key, key_step = 2, 2, 1

    topic: str
    group_name: str
    start: str
    entries_read: int | None

    @classmethod
    def parse(cls, args: Args) -> Command:
        topic = topic_name(args.next())
        name = args.text()
        start = _start(args)
        return cls(topic, name, start, _entries_read(args, "SETID"))

    async def apply(self, ctx: Context) -> Any:
        await ctx.topic(self.topic).in_group(
            named.set_id,
            key=self.topic,
            name=self.group_name,
            start=self.start,
            entries_read=self.entries_read,
        )
        return OK


@dataclass
class GroupCommand(Command):
    """A command on one group of a stream: `key group ...`."""

    group = "stream"
    first_key, last_key, key_step = 2, 2, 1

    topic: str
    group_name: str

    @classmethod
    def parse(cls, args: Args) -> Command:
        return cls(topic_name(args.next()), args.text())


class XGroupDestroy(GroupCommand):
    name = "xgroup|destroy"
    arity = 4
    summary = "Remove a consumer group; reply 1, or 0 if it did not exist."
    flags = ("write",)

    async def apply(self, ctx: Context) -> Any:
        return await ctx.topic(self.topic).in_group(
            named.destroy, key=self.topic, name=self.group_name
        )


@dataclass
class XGroupCreateConsumer(GroupCommand):
    name = "xgroup|createconsumer"
    arity = 5
    summary = "Add a consumer to a group; reply 1, or 0 if it existed."
    flags = ("write",)

    consumer: str

    @classmethod
    def parse(cls, args: Args) -> Command:
        return cls(topic_name(args.next()), args.text(), args.text())

    async def apply(self, ctx: Context) -> Any:
        operation = named.delete_consumer if self.deletes else named.create_consumer
        return await ctx.topic(self.topic).in_group(
            operation, key=self.topic, name=self.group_name, consumer=self.consumer
        )

    @property
    def deletes(self) -> bool:
        return False


class XGroupDelConsumer(XGroupCreateConsumer):
    name = "xgroup|delconsumer"
    summary = "Remove a consumer and its pending entries; reply: how many it had."

    @property
    def deletes(self) -> bool:
        return True


class XGroup(Container):
    name = "xgroup"
    summary = "Consumer groups: CREATE, SETID, DESTROY, CREATECONSUMER, DELCONSUMER."
    group = "stream"
    subcommands: ClassVar[dict[str, type[Command]]] = {
        "CREATE": XGroupCreate,
        "SETID": XGroupSetId,
        "DESTROY": XGroupDestroy,
        "CREATECONSUMER": XGroupCreateConsumer,
        "DELCONSUMER": XGroupDelConsumer,
    }


# --- XINFO --------------------------------------------------------------------------------


async def _stream_state(ctx: Context, name: str) -> TopicState:
    """The state of an existing topic (else Redis's `no such key`)."""
    topic = await loaded(ctx, name)
    state = topic.current_state()
    if topic.document() is None or state is None:
        fail("ERR no such key")
    return state


def _group_info(state: TopicState, group: Group) -> dict[str, Any]:
    return {
        "name": group.name,
        "consumers": len(group.consumers),
        "pending": len(group.queue.claimed),
        "last-delivered-id": group.last_id,
        "entries-read": group.entries_read,
        "lag": named.lag(state, group),
    }


@dataclass
class XInfoGroups(Command):
    name = "xinfo|groups"
    arity = 3
    summary = "The stream's named consumer groups (none for a topic consumed directly)."
    group = "stream"
    flags = ("readonly",)
    first_key, last_key, key_step = 2, 2, 1

    topic: str

    @classmethod
    def parse(cls, args: Args) -> Command:
        return cls(topic_name(args.next()))

    async def apply(self, ctx: Context) -> Any:
        state = await _stream_state(ctx, self.topic)
        return [_group_info(state, group) for group in _by_name(state.groups)]


class XInfoConsumers(GroupCommand):
    name = "xinfo|consumers"
    arity = 4
    summary = "A group's consumers: pending entries and idle ms."
    flags = ("readonly",)

    async def apply(self, ctx: Context) -> Any:
        state = await _stream_state(ctx, self.topic)
        group = named.find(state, self.topic, self.group_name)
        now = now_ms()
        pending = named.consumer_pending(group)
        return [
            {
                "name": consumer,
                "pending": pending.get(consumer, 0),
                "idle": max(0, now - seen),  # Redis 7.0's fields (7.2 adds `inactive`)
            }
            for consumer, seen in sorted(group.consumers.items())
        ]


def _by_name(groups: dict[str, Group]) -> list[Group]:
    """Groups as Redis lists them: by name."""
    return [groups[name] for name in sorted(groups)]


@dataclass
class XInfoStreamFull(XInfoStream):
    """XINFO STREAM with the named groups; FULL [COUNT n] lists entries and groups."""

    full: int | None = None  # FULL's COUNT (0: all); None without FULL

    @classmethod
    def parse(cls, args: Args) -> Command:
        topic = topic_name(args.next())
        if not args:
            return cls(topic)
        if args.keyword() != "FULL":
            fail(UNKNOWN_XINFO_STREAM)
        count = 10  # Redis's default
        if args:
            if args.keyword() != "COUNT" or not args:
                fail("ERR syntax error")
            count = max(args.integer(), 0)
        args.end()
        return cls(topic, count)

    async def apply(self, ctx: Context) -> Any:
        info: dict[str, Any] = await super().apply(ctx)
        state = await _stream_state(ctx, self.topic)
        if self.full is None:
            info["groups"] = len(state.groups)
            return info
        topic = ctx.topic(self.topic)
        entries = topic.list_jobs(limit=self.full or max(1, len(state.jobs)))
        # FULL: Redis 7.0's fields only (no job counts), then entries and groups as lists.
        left_out = {"groups", "first-entry", "last-entry", *JOB_COUNT_FIELDS}
        full = {k: v for k, v in info.items() if k not in left_out}
        full["entries"] = [entry_of(job) for job in entries]
        full["groups"] = [_group_full(state, group, self.full) for group in _by_name(state.groups)]
        return full


def _group_full(state: TopicState, group: Group, count: int) -> dict[str, Any]:
    pel = named.claimed_records(state, group)
    pel = pel[:count] if count else pel
    pending = named.consumer_pending(group)
    return {
        "name": group.name,
        "last-delivered-id": group.last_id,
        "entries-read": group.entries_read,
        "lag": named.lag(state, group),
        "pel-count": len(group.queue.claimed),
        "pending": [[r.id, r.claimed_by, r.last_heartbeat, r.attempts] for r in pel],
        "consumers": [
            {
                "name": consumer,
                "seen-time": seen,  # Redis 7.0's fields (7.2 adds `active-time`)
                "pel-count": pending.get(consumer, 0),
                "pending": [
                    [r.id, r.last_heartbeat, r.attempts] for r in pel if r.claimed_by == consumer
                ],
            }
            for consumer, seen in sorted(group.consumers.items())
        ],
    }


class XInfo(Container):
    name = "xinfo"
    summary = "XINFO STREAM key [FULL [COUNT n]], GROUPS key, CONSUMERS key group."
    group = "stream"
    subcommands: ClassVar[dict[str, type[Command]]] = {
        "STREAM": XInfoStreamFull,
        "GROUPS": XInfoGroups,
        "CONSUMERS": XInfoConsumers,
    }


COMMANDS: list[type[Command]] = [XGroup, XReadGroup, XAck, XPending, XClaim, XAutoClaim, XInfo]
