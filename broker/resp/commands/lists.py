"""Lists: a topic as a FIFO queue, consumed at most once.

LPUSH and RPUSH both append to the back of the queue, and every pop takes from the front,
so `LPUSH`+`RPOP` and `RPUSH`+`LPOP` both behave as a Redis FIFO. A pop claims and
completes its jobs in one commit, as a Redis pop removes the item: a consumer that dies
after the reply loses the job (use a stream consumer group for at-least-once).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from typing import Any

from common.limits import BLOCK_SECONDS, CLAIM_COUNT, Limit

from ..batching import PushResult
from ..reply import NULL_ARRAY
from ..session import Context
from .base import (
    ENQUEUE,
    POP,
    Args,
    Command,
    TopicCommand,
    fail,
    out_of_range,
    parse_float,
    topic_name,
)
from .jobs import new_job, value_of
from .waiting import first_available

COUNT_RANGE = "ERR value is out of range, must be positive"
# As many as one claim may take; 0 is accepted too (an empty reply, as in Redis).
POP_COUNT = Limit(0, CLAIM_COUNT.high, integer=True)


@dataclass
class LPush(Command):
    name = "lpush"
    arity = -3
    summary = "Enqueue values at the back of the queue; reply: pending length."
    group = "list"
    flags = ("write",)
    first_key, last_key, key_step = 1, 1, 1
    run = ENQUEUE

    topic: str
    values: list[bytes]

    @classmethod
    def parse(cls, args: Args) -> Command:
        return cls(topic_name(args.next()), args.rest())

    async def apply(self, ctx: Context) -> Any:
        return await self._started(ctx)

    def begin(self, ctx: Context) -> asyncio.Future[Any]:
        return self._started(ctx)

    def _started(self, ctx: Context) -> asyncio.Future[Any]:
        limit = ctx.server.options.max_payload_bytes
        jobs = [new_job(value, limit) for value in self.values]
        return ctx.batcher.start_enqueue(ctx.topic(self.topic), jobs, _pending_length)


def _pending_length(result: PushResult) -> int:
    return result[1]


class RPush(LPush):
    name = "rpush"
    summary = "Same as LPUSH: enqueue values at the back of the queue."


@dataclass
class LPop(Command):
    name = "lpop"
    arity = -2
    summary = "Take the oldest pending jobs (claim and complete at once); reply: payloads."
    group = "list"
    flags = ("write",)
    first_key, last_key, key_step = 1, 1, 1

    run = POP

    topic: str
    count: int | None

    @classmethod
    def parse(cls, args: Args) -> Command:
        topic = topic_name(args.next())
        count = args.integer(COUNT_RANGE) if args else None
        if count is not None and count < 0:
            fail(COUNT_RANGE)
        if count is not None and count > POP_COUNT.high:
            raise out_of_range("count", POP_COUNT)
        args.end()
        return cls(topic, count)

    async def apply(self, ctx: Context) -> Any:
        started = self.begin(ctx)
        if started is not None:
            return await started
        topic = ctx.topic(self.topic)
        await topic.load()
        return [] if topic.document() is not None else NULL_ARRAY

    def begin(self, ctx: Context) -> asyncio.Future[Any] | None:
        if self.count == 0:
            return None  # looks at the topic: run as a task
        finish = _one_value if self.count is None else _values
        return ctx.batcher.start_pop(ctx.topic(self.topic), self.count or 1, finish)


def _one_value(values: list[bytes]) -> bytes | None:
    return values[0] if values else None


def _values(values: list[bytes]) -> Any:
    return values or NULL_ARRAY


class RPop(LPop):
    name = "rpop"
    summary = "Same as LPOP: take the oldest pending jobs."


@dataclass
class BLPop(Command):
    name = "blpop"
    arity = -3
    summary = "Take the oldest job of the first topic that has one, waiting up to timeout."
    group = "list"
    flags = ("write", "blocking")
    first_key, last_key, key_step = 1, -2, 1
    blocking = True

    topics: list[str]
    timeout: float | None

    @classmethod
    def parse(cls, args: Args) -> Command:
        words = args.rest()
        timeout = parse_timeout(words[-1])
        return cls([topic_name(word) for word in words[:-1]], timeout)

    def without_blocking(self) -> Command:
        return replace(self, timeout=0.0)  # try each topic once (None would wait forever)

    async def apply(self, ctx: Context) -> Any:
        async def pop_one(topic: Any) -> bytes | None:
            jobs = await topic.pop(count=1)
            return value_of(jobs[0]) if jobs else None

        topics = [ctx.topic(name) for name in self.topics]
        found = await first_available(topics, self.timeout, pop_one)
        if found is None:
            return NULL_ARRAY
        topic, value = found
        return [topic.name, value]


class BRPop(BLPop):
    name = "brpop"
    summary = "Same as BLPOP."


def parse_timeout(word: bytes) -> float | None:
    """A BLPOP timeout in seconds (0: forever → None)."""
    seconds = parse_float(word, "ERR timeout is not a float or out of range")
    if seconds < 0:
        fail("ERR timeout is negative")
    if seconds > BLOCK_SECONDS.high:
        raise out_of_range("timeout", BLOCK_SECONDS, " seconds")
    return None if seconds == 0 else seconds


class LLen(TopicCommand):
    name = "llen"
    arity = 2
    summary = "The number of pending jobs."
    group = "list"
    flags = ("readonly",)

    async def apply(self, ctx: Context) -> Any:
        topic = ctx.topic(self.topic)
        await topic.load()
        return topic.pending_count()


@dataclass
class LRange(Command):
    name = "lrange"
    arity = 4
    summary = "Peek at pending payloads by position (0 = next to be popped), without claiming."
    group = "list"
    flags = ("readonly",)
    first_key, last_key, key_step = 1, 1, 1

    topic: str
    start: int
    stop: int

    @classmethod
    def parse(cls, args: Args) -> Command:
        return cls(topic_name(args.next()), args.integer(), args.integer())

    async def apply(self, ctx: Context) -> Any:
        topic = ctx.topic(self.topic)
        await topic.load()
        return [value_of(job) for job in topic.pending(self.start, self.stop)]


COMMANDS: list[type[Command]] = [LPush, RPush, LPop, RPop, BLPop, BRPop, LLen, LRange]
