"""Streams: a topic as an append-only log of entries, read without claiming.

XADD enqueues a job whose payload is the JSON object of its fields; XRANGE/XREVRANGE show
every job still in the document (pending, claimed, completed until retention trims it,
dead); XDEL deletes pending or dead jobs. XTRIM, and XADD's MAXLEN/MINID options, remove
completed jobs only; the broker's retention setting trims them too.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import orjson

from broker.engine import NewJob, Topic
from common.limits import MAX_ID_CHARS
from common.models import Job

from ..session import Context
from .base import (
    ENQUEUE,
    Args,
    Command,
    TopicCommand,
    fail,
    parse_int,
    topic_name,
    wrong_arity,
)
from .jobs import (
    IDS,
    Range,
    check_size,
    count_done,
    entry_of,
    fields_payload,
    from_cursor,
    stream_id,
)
from .keyspace import existing
from .reads import ReadOptions, parse_read, streams_reply
from .waiting import all_available

PAGE = 1000
BAD_ID = "ERR Invalid stream ID specified as stream command argument"


def all_jobs(topic: Topic) -> Iterator[Job]:
    """Every job of a loaded topic in enqueue order, a page at a time."""
    after: str | None = None
    while True:
        page = topic.list_jobs(limit=PAGE, after=after)
        yield from page
        if len(page) < PAGE:
            return
        after = page[-1].id


async def loaded(ctx: Context, name: str) -> Topic:
    topic = ctx.topic(name)
    await topic.load()
    return topic


@dataclass(frozen=True)
class Trim:
    """`MAXLEN|MINID [=|~] threshold [LIMIT count]` of XTRIM and XADD. Only completed jobs
    are trimmed (mutations.trim_completed); `~` trims exactly, as `=` does."""

    max_len: int | None
    min_id: tuple[int, int] | None
    limit: int | None

    @classmethod
    def parse(cls, strategy: str, args: Args) -> Trim:
        approximate = args.peek_keyword() == "~"
        if args.peek_keyword() in ("=", "~"):
            args.next()
        threshold = args.next()
        limit = None
        if args.peek_keyword() == "LIMIT":
            args.next()
            if not approximate:
                fail("ERR syntax error, LIMIT cannot be used without the special ~ option")
            limit = args.integer()
            if limit < 0:
                fail("ERR The LIMIT argument must be >= 0.")
        if strategy == "MAXLEN":
            max_len = parse_int(threshold)
            if max_len < 0:
                fail("ERR The MAXLEN argument must be >= 0.")
            return cls(max_len, None, limit or None)
        min_id = stream_id(threshold.decode("utf-8", "replace"))
        if min_id is None:
            fail(BAD_ID)
        return cls(None, min_id, limit or None)

    def below(self, job_id: str) -> bool:
        key = stream_id(job_id)
        return self.min_id is not None and key is not None and key < self.min_id

    async def apply(self, topic: Topic) -> int:
        return await topic.trim_completed(
            max_len=self.max_len, below=self.below if self.min_id else None, limit=self.limit
        )


@dataclass
class XTrim(Command):
    name = "xtrim"
    arity = -4
    summary = (
        "Remove completed entries, oldest first, down to MAXLEN entries or below MINID; "
        "pending, claimed and dead ones are never trimmed. Reply: how many were removed."
    )
    group = "stream"
    flags = ("write",)
    first_key, last_key, key_step = 1, 1, 1

    topic: str
    trim: Trim

    @classmethod
    def parse(cls, args: Args) -> Command:
        topic = topic_name(args.next())
        strategy = args.keyword()
        if strategy not in ("MAXLEN", "MINID"):
            fail("ERR syntax error")
        trim = Trim.parse(strategy, args)
        if args:
            fail("ERR syntax error")
        return cls(topic, trim)

    async def apply(self, ctx: Context) -> Any:
        return await self.trim.apply(await loaded(ctx, self.topic))


@dataclass
class XAdd(Command):
    name = "xadd"
    arity = -5
    summary = "Enqueue a job whose payload is the object of the field-value pairs; reply: its id."
    group = "stream"
    flags = ("write",)
    first_key, last_key, key_step = 1, 1, 1
    run: ClassVar[str | None] = ENQUEUE

    topic: str
    id: str | None  # None: generate `<ms>-<seq>`
    payload: dict[str, str]
    trim: Trim | None = None

    @classmethod
    def parse(cls, args: Args) -> Command:
        topic = topic_name(args.next())
        make_stream, trim = True, None
        while (option := args.peek_keyword()) in ("NOMKSTREAM", "MAXLEN", "MINID"):
            args.next()
            if option == "NOMKSTREAM":
                make_stream = False
            else:
                trim = Trim.parse(option, args)
        word = args.text()
        pairs = args.rest()
        if not pairs or len(pairs) % 2:
            raise wrong_arity(cls.name)
        if word != "*" and not 0 < len(word) <= MAX_ID_CHARS:
            fail(BAD_ID)
        kind = cls if make_stream else XAddNoMkStream
        return kind(topic, None if word == "*" else word, fields_payload(pairs), trim)

    async def apply(self, ctx: Context) -> Any:
        check_size(len(orjson.dumps(self.payload)), ctx.server.options.max_payload_bytes)
        job = NewJob(self.payload, self.id or IDS.next(), stream=True)
        topic = ctx.topic(self.topic)
        results, _ = await ctx.batcher.enqueue(topic, [job])
        if self.trim is not None:
            await self.trim.apply(topic)
        return results[0].id


class XAddNoMkStream(XAdd):
    # Must see the writes before it (a pipelined LPUSH may create the topic), so it does
    # not run alongside them.
    run = None

    async def apply(self, ctx: Context) -> Any:
        if not await existing(ctx, self.topic):
            return None
        return await super().apply(ctx)


class XLen(TopicCommand):
    name = "xlen"
    arity = 2
    summary = "The number of jobs in the topic (every status)."
    group = "stream"
    flags = ("readonly",)

    async def apply(self, ctx: Context) -> Any:
        return (await loaded(ctx, self.topic)).stats().total


@dataclass
class XRange(Command):
    name = "xrange"
    arity = -4
    summary = "Peek at entries between two ids (- and + for all), in enqueue order."
    group = "stream"
    flags = ("readonly",)
    first_key, last_key, key_step = 1, 1, 1
    reverse: ClassVar[bool] = False

    topic: str
    range: Range
    count: int | None

    @classmethod
    def parse(cls, args: Args) -> Command:
        topic = topic_name(args.next())
        first, second = args.next(), args.next()
        count = None
        if args:
            if args.keyword() != "COUNT" or len(args) != 1:
                fail("ERR syntax error")
            count = max(args.integer(), 0)
        bounds = Range.parse(second, first) if cls.reverse else Range.parse(first, second)
        return cls(topic, bounds, count)

    async def apply(self, ctx: Context) -> Any:
        jobs = (job for job in all_jobs(await loaded(ctx, self.topic)) if self.range.admits(job.id))
        if self.reverse:
            picked = list(jobs)[::-1][: self.count]
        else:
            picked = list(itertools.islice(jobs, self.count))
        return [entry_of(job) for job in picked]


class XRevRange(XRange):
    name = "xrevrange"
    summary = "XRANGE newest first: XREVRANGE key end start [COUNT n]."
    reverse = True


@dataclass
class XDel(Command):
    name = "xdel"
    arity = -3
    summary = "Delete pending or dead jobs by id; reply: how many were deleted."
    group = "stream"
    flags = ("write",)
    first_key, last_key, key_step = 1, 1, 1

    topic: str
    ids: list[str]

    @classmethod
    def parse(cls, args: Args) -> Command:
        return cls(
            topic_name(args.next()), [word.decode("utf-8", "replace") for word in args.rest()]
        )

    async def apply(self, ctx: Context) -> Any:
        # Unknown ids, and claimed or completed jobs, are not deleted (not counted).
        return await count_done(ctx.topic(self.topic).delete, self.ids)


#: What XINFO STREAM answers after Redis's fields: the topic's job counts, as the Go
#: system did (README, "Differences from Redis": job counts).
JOB_COUNT_FIELDS = ("pending", "delayed", "claimed", "completed", "dead", "generation")
UNKNOWN_XINFO_STREAM = (
    "ERR unknown subcommand or wrong number of arguments for 'STREAM'. Try XINFO HELP."
)


@dataclass
class XInfoStream(Command):
    name = "xinfo|stream"
    arity = -3
    summary = (
        "Redis 7.0's fields (length, ids, groups, first and last entry), then the job "
        "counts: pending, delayed, claimed, completed, dead, generation."
    )
    group = "stream"
    flags = ("readonly",)
    first_key, last_key, key_step = 2, 2, 1

    topic: str

    @classmethod
    def parse(cls, args: Args) -> Command:
        topic = topic_name(args.next())
        if args and args.keyword() != "FULL":
            fail(UNKNOWN_XINFO_STREAM)
        return cls(topic)

    async def apply(self, ctx: Context) -> Any:
        topic = await loaded(ctx, self.topic)
        if topic.document() is None:
            fail("ERR no such key")
        stats = topic.stats()
        first = last = None
        for job in all_jobs(topic):
            first = first or job
            last = job
        last_id = last.id if last is not None else "0-0"
        return {
            "length": stats.total,
            "radix-tree-keys": 1,
            "radix-tree-nodes": 1,
            "last-generated-id": last_id,
            "max-deleted-entry-id": "0-0",
            "entries-added": stats.counters.enqueued,
            "recorded-first-entry-id": first.id if first is not None else "0-0",
            "groups": 1,
            "first-entry": entry_of(first) if first is not None else None,
            "last-entry": entry_of(last) if last is not None else None,
            # After Redis's fields, what the Go system answered: the topic's job counts.
            "pending": stats.pending,
            "delayed": stats.delayed,
            "claimed": stats.claimed,
            "completed": stats.completed,
            "dead": stats.dead,
            "generation": stats.generation,
        }


@dataclass
class XRead(Command):
    name = "xread"
    arity = -4
    summary = (
        "Entries after an id in each stream, without claiming them (`$`: only new ones); "
        "BLOCK waits for the next."
    )
    group = "stream"
    flags = ("readonly", "blocking", "movablekeys")
    blocking = True

    read: ReadOptions

    @classmethod
    def parse(cls, args: Args) -> Command:
        return cls(parse_read(args, cls.name, _read_count))

    def without_blocking(self) -> Command:
        return replace(self, read=replace(self.read, block_ms=None))

    async def apply(self, ctx: Context) -> Any:
        cursors: dict[str, str] = {}
        for name, cursor in self.read.streams:
            topic = await loaded(ctx, name)
            if cursor == "$":  # the newest entry now
                newest = deque(all_jobs(topic), maxlen=1)
                cursor = newest[0].id if newest else "0-0"
            cursors[name] = cursor
        seen: dict[str, int] = {}

        async def entries(topic: Topic) -> list[Job] | None:
            seen[topic.name] = topic.generation
            after = from_cursor(list(all_jobs(topic)), cursors[topic.name], inclusive=False)
            return after[: self.read.count] or None

        async def next_commit(topic: Topic, timeout: float) -> object:  # noqa: ASYNC109
            return await topic.wait_for_generation(seen[topic.name], timeout)

        topics = [ctx.topic(name) for name in cursors]
        found = await all_available(topics, self.read.timeout, entries, wait=next_commit)
        return streams_reply(ctx.session.protocol, [(t.name, jobs) for t, jobs in found])


def _read_count(args: Args) -> int | None:
    count = args.integer()
    return count if count > 0 else None  # as in Redis: 0 or less, no limit


COMMANDS: list[type[Command]] = [XAdd, XLen, XRange, XRevRange, XDel, XRead, XTrim]
