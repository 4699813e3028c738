"""Blocking reads (BRPOP, XREADGROUP BLOCK, XREAD BLOCK).

Try each topic once; if none had anything, sleep on the topics' own "a job is available"
signal (`Topic.wait_for_available`, woken by commits and by the committer's once-a-second
look at storage while someone waits), or on another `wait` (XREAD waits for the next
commit), and try again, until the deadline.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from broker.engine import Topic

T = TypeVar("T")
Wait = Callable[["Topic", float], Awaitable[object]]


async def _job_available(topic: Topic, timeout: float) -> object:  # noqa: ASYNC109
    return await topic.wait_for_available(timeout)


FOREVER_SLICE = 3600.0  # a zero timeout blocks forever, in slices of this many seconds


async def first_available(
    topics: Sequence[Topic],
    timeout: float | None,  # noqa: ASYNC109 - a Redis BLOCK/timeout argument, not ours
    attempt: Callable[[Topic], Awaitable[T | None]],
) -> tuple[Topic, T] | None:
    """The first topic (in order) for which `attempt` returns a result, waiting up to
    `timeout` seconds (None: forever) for jobs to arrive. (BLPOP)"""
    found = await all_available(topics, timeout, attempt, first_only=True)
    return found[0] if found else None


async def all_available(
    topics: Sequence[Topic],
    timeout: float | None,  # noqa: ASYNC109
    attempt: Callable[[Topic], Awaitable[T | None]],
    *,
    first_only: bool = False,
    wait: Wait = _job_available,
) -> list[tuple[Topic, T]]:
    """Every topic's result from the first round in which any `attempt` succeeded,
    waiting up to `timeout` seconds (None: forever); [] on timeout. (XREADGROUP BLOCK)"""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        found: list[tuple[Topic, T]] = []
        for topic in topics:
            result = await attempt(topic)
            if result is not None:
                found.append((topic, result))
                if first_only:
                    break
        if found:
            return found
        remaining = FOREVER_SLICE if deadline is None else deadline - time.monotonic()
        if remaining <= 0:
            return []
        await _any(topics, remaining, wait)


async def _any(topics: Sequence[Topic], timeout: float, wait: Wait) -> None:  # noqa: ASYNC109
    if len(topics) == 1:
        await wait(topics[0], timeout)
        return
    waits = [asyncio.ensure_future(wait(t, timeout)) for t in topics]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waits:
            waiter.cancel()
        await asyncio.gather(*waits, return_exceptions=True)
