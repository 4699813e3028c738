"""Waiting for a condition instead of sleeping a fixed time: poll it, with a deadline
generous enough for a loaded 2-core machine (a test never asserts on speed)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

DEADLINE = 60.0


async def until(
    condition: Callable[[], Awaitable[object] | object],
    what: str,
    within: float = DEADLINE,
    every: float = 0.02,
) -> None:
    """Poll `condition` (sync or async) until it is truthy; fail after `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        value = condition()
        if isinstance(value, Awaitable):
            value = await value
        if value:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {within}s (last value {value!r})")
        await asyncio.sleep(every)


def long_polls(metrics_text: str) -> float:
    """The `sq_long_polls` gauge (requests parked until a topic's next commit)."""
    for line in metrics_text.splitlines():
        if line.startswith("sq_long_polls "):
            return float(line.split()[1])
    raise AssertionError("no sq_long_polls in the metrics")
