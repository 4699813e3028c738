"""Consumer groups: at-least-once consumption of a topic.

Each topic has one implicit consumer group; any group name is accepted and XGROUP CREATE
just answers OK. `XREADGROUP ... >` claims jobs for the named consumer; XACK completes
them; a claim that is not acked (nor heartbeated over HTTP) within the visibility timeout
goes back to pending. XPENDING shows claimed jobs with idle time and delivery count
(attempts); XCLAIM / XAUTOCLAIM move idle ones to another consumer.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, ClassVar

from broker.engine import Topic
from common.limits import CLAIM_COUNT
from common.models import Job, JobStatus, utc_now

from ..reply import NULL_ARRAY, OK
from ..session import Context
from .base import ENQUEUE, Args, Command, Container, fail, out_of_range, topic_name
from .jobs import Range, count_done, entry_of, from_cursor
from .reads import block_timeout, parse_read, streams_reply
from .streams import loaded
from .waiting import all_available

DEFAULT_COUNT = 100  # XREADGROUP / XAUTOCLAIM without COUNT


def claimed_jobs(topic: Topic, consumer: str | None = None) -> list[Job]:
    """Claimed jobs in enqueue order (Redis orders its pending list by id), not in the
    order they were claimed."""
    everyone = topic.list_jobs(status=JobStatus.CLAIMED, limit=topic.stats().claimed)
    return [job for job in everyone if consumer is None or job.claimed_by == consumer]


def idle_ms(job: Job) -> int:
    since = job.last_heartbeat or job.claimed_at or job.created_at
    return max(0, int((utc_now() - since).total_seconds() * 1000))


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

    consumer: str
    count: int
    block_ms: int | None
    noack: bool
    streams: list[tuple[str, str]]

    @classmethod
    def parse(cls, args: Args) -> Command:
        if args.keyword() != "GROUP":
            fail("ERR syntax error")
        args.next()  # the group: one per topic
        consumer = args.text()
        read = parse_read(
            args, cls.name, lambda words: _claim_count(words, zero=DEFAULT_COUNT), noack=True
        )
        count = DEFAULT_COUNT if read.count is None else read.count
        return cls(consumer, count, read.block_ms, read.noack, read.streams)

    def without_blocking(self) -> Command:
        return replace(self, block_ms=None)  # as without BLOCK

    async def apply(self, ctx: Context) -> Any:
        if all(cursor == ">" for _, cursor in self.streams):
            found = await self._claim_new(ctx)
        else:
            found = await self._read_own(ctx)
        return streams_reply(ctx.session.protocol, found)

    async def _take(self, topic: Topic) -> list[Job] | None:
        if self.noack:
            jobs = await topic.pop(count=self.count)
        else:
            jobs = await topic.claim(self.consumer, count=self.count)
        return jobs or None

    async def _redeliver(self, topic: Topic, jobs: list[Job]) -> list[Job]:
        """Re-reading pending entries is a delivery, as in Redis: the count rises and the
        idle time starts again. A job another consumer took meanwhile is left out."""
        if not jobs:
            return []
        ids = [job.id for job in jobs]
        moved = await topic.take_over(ids, self.consumer, min_idle=0, owned_by=self.consumer)
        by_id = {job.id: job for job in moved}
        return [by_id[job_id] for job_id in ids if job_id in by_id]

    async def _claim_new(self, ctx: Context) -> list[tuple[str, list[Job]]]:
        topics = [ctx.topic(name) for name, _ in self.streams]
        found = await all_available(topics, block_timeout(self.block_ms), self._take)
        return [(topic.name, jobs) for topic, jobs in found]

    async def _read_own(self, ctx: Context) -> list[tuple[str, list[Job]]]:
        found: list[tuple[str, list[Job]]] = []
        for name, cursor in self.streams:
            topic = await loaded(ctx, name)
            if cursor == ">":
                jobs = await self._take(topic) or []
            else:
                own = from_cursor(claimed_jobs(topic, self.consumer), cursor, inclusive=False)
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
    ids: list[str]

    @classmethod
    def parse(cls, args: Args) -> Command:
        topic = topic_name(args.next())
        args.next()  # group
        return cls(topic, _ids(args))

    async def apply(self, ctx: Context) -> Any:
        # Unknown or unclaimed ids: nothing to acknowledge (not counted), as in Redis.
        return await count_done(ctx.topic(self.topic).ack, self.ids)


@dataclass
class XPending(Command):
    name = "xpending"
    arity = -3
    summary = "Claimed jobs: a summary, or [IDLE ms] start end count [consumer] for details."
    group = "stream"
    flags = ("readonly",)
    first_key, last_key, key_step = 1, 1, 1

    topic: str
    detail: tuple[Range, int, str | None, int] | None  # range, count, consumer, min idle

    @classmethod
    def parse(cls, args: Args) -> Command:
        topic = topic_name(args.next())
        args.next()  # group
        if not args:
            return cls(topic, None)
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
        return cls(topic, (bounds, max(count, 0), consumer, min_idle))

    async def apply(self, ctx: Context) -> Any:
        topic = await loaded(ctx, self.topic)
        if self.detail is None:
            return self._summary(claimed_jobs(topic))
        bounds, count, consumer, min_idle = self.detail
        rows = [
            [job.id, job.claimed_by, idle_ms(job), job.attempts]
            for job in claimed_jobs(topic, consumer)
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
        args.next()  # group
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
        return cls(topic, consumer, min_idle, ids, just_id)

    async def apply(self, ctx: Context) -> Any:
        topic = ctx.topic(self.topic)
        jobs = await topic.take_over(
            self.ids,
            self.consumer,
            min_idle=self.min_idle_ms / 1000,
            count_delivery=not self.just_id,  # Redis: JUSTID does not count a delivery
        )
        return [job.id if self.just_id else entry_of(job) for job in jobs]


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
    consumer: str
    min_idle_ms: int
    start: str
    count: int
    just_id: bool

    @classmethod
    def parse(cls, args: Args) -> Command:
        topic = topic_name(args.next())
        args.next()  # group
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
        return cls(topic, consumer, min_idle, start, count, just_id)

    async def apply(self, ctx: Context) -> Any:
        topic = await loaded(ctx, self.topic)
        candidates = [
            job
            for job in from_cursor(claimed_jobs(topic), self.start, inclusive=True)
            if idle_ms(job) >= self.min_idle_ms
        ]
        chosen = [job.id for job in candidates[: self.count]]
        following = candidates[self.count].id if len(candidates) > self.count else "0-0"
        moved = await topic.take_over(
            chosen,
            self.consumer,
            min_idle=self.min_idle_ms / 1000,
            count_delivery=not self.just_id,  # Redis: JUSTID does not count a delivery
        )
        entries = [job.id if self.just_id else entry_of(job) for job in moved]
        return [following, entries, []]


# --- XGROUP -------------------------------------------------------------------------------


def _fixed(name: str, arity: int, reply: Any, summary: str) -> type[Command]:
    """An XGROUP subcommand that only validates its key and answers `reply`."""

    class Fixed(Command):
        @classmethod
        def parse(cls, args: Args) -> Command:
            topic_name(args.next())
            args.rest()
            return cls()

        async def apply(self, ctx: Context) -> Any:
            return reply

    Fixed.name, Fixed.arity, Fixed.summary, Fixed.group = name, arity, summary, "stream"
    Fixed.__name__ = Fixed.__qualname__ = "XGroup" + name.split("|")[1].title()
    return Fixed


class XGroup(Container):
    name = "xgroup"
    summary = "Consumer groups: CREATE answers OK (every topic has one implicit group)."
    group = "stream"
    subcommands: ClassVar[dict[str, type[Command]]] = {
        "CREATE": _fixed("xgroup|create", -5, OK, "Accepted: every topic has one group."),
        "SETID": _fixed("xgroup|setid", -5, OK, "Accepted; has no effect."),
        "DESTROY": _fixed("xgroup|destroy", 4, 0, "Accepted; the group cannot be removed."),
        "CREATECONSUMER": _fixed(
            "xgroup|createconsumer", 5, 1, "Accepted: consumers are implicit."
        ),
        "DELCONSUMER": _fixed("xgroup|delconsumer", 5, 0, "Accepted; has no effect."),
    }


COMMANDS: list[type[Command]] = [XGroup, XReadGroup, XAck, XPending, XClaim, XAutoClaim]
