"""Streams: a topic as an append-only log of entries, read without claiming.

XADD enqueues a job whose payload is the JSON object of its fields; XRANGE/XREVRANGE show
every job still in the document (pending, claimed, completed until retention trims it,
dead); XDEL deletes pending or dead jobs. MAXLEN/MINID trimming options are accepted and
ignored: completed jobs are trimmed by the broker's retention setting.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import orjson

from broker.engine import NewJob, Topic
from common.limits import MAX_ID_CHARS
from common.models import Job

from ..session import Context
from .base import ENQUEUE, Args, Command, Container, TopicCommand, fail, topic_name, wrong_arity
from .jobs import IDS, Range, check_size, count_done, entry_of, fields_payload
from .keyspace import existing

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

    @classmethod
    def parse(cls, args: Args) -> Command:
        topic = topic_name(args.next())
        make_stream = True
        while (option := args.peek_keyword()) in ("NOMKSTREAM", "MAXLEN", "MINID"):
            args.next()
            if option == "NOMKSTREAM":
                make_stream = False
                continue
            if args.peek_keyword() in ("=", "~"):
                args.next()
            args.next()  # threshold
            if args.peek_keyword() == "LIMIT":
                args.next()
                args.integer()
        word = args.text()
        pairs = args.rest()
        if not pairs or len(pairs) % 2:
            raise wrong_arity(cls.name)
        if word != "*" and not 0 < len(word) <= MAX_ID_CHARS:
            fail(BAD_ID)
        kind = cls if make_stream else XAddNoMkStream
        return kind(topic, None if word == "*" else word, fields_payload(pairs))

    async def apply(self, ctx: Context) -> Any:
        check_size(len(orjson.dumps(self.payload)), ctx.server.options.max_payload_bytes)
        job = NewJob(self.payload, self.id or IDS.next())
        results, _ = await ctx.batcher.enqueue(ctx.topic(self.topic), [job])
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


@dataclass
class XInfoStream(Command):
    name = "xinfo|stream"
    arity = -3
    summary = "Topic stats: length, pending, claimed, completed, dead, first and last entry."
    group = "stream"
    flags = ("readonly",)
    first_key, last_key, key_step = 2, 2, 1

    topic: str

    @classmethod
    def parse(cls, args: Args) -> Command:
        topic = topic_name(args.next())
        if args and args.keyword() != "FULL":
            fail("ERR syntax error")
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
            "pending": stats.pending,
            "delayed": stats.delayed,
            "claimed": stats.claimed,
            "completed": stats.completed,
            "dead": stats.dead,
            "generation": stats.generation,
        }


class XInfo(Container):
    name = "xinfo"
    summary = "XINFO STREAM key: the topic's stats."
    group = "stream"
    subcommands: ClassVar[dict[str, type[Command]]] = {"STREAM": XInfoStream}


COMMANDS: list[type[Command]] = [XAdd, XLen, XRange, XRevRange, XDel, XInfo]
