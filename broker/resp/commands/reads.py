"""The options XREAD and XREADGROUP share: `[COUNT n] [BLOCK ms] [NOACK] STREAMS key ... id ...`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from common.limits import BLOCK_SECONDS, Limit
from common.models import Job

from ..reply import NULL_ARRAY
from .base import Args, fail, out_of_range, topic_name
from .jobs import entry_of

BLOCK_MS = Limit(0, BLOCK_SECONDS.high * 1000, integer=True)


@dataclass(frozen=True)
class ReadOptions:
    count: int | None
    block_ms: int | None  # None: do not block; 0: block forever
    noack: bool
    streams: list[tuple[str, str]]  # (topic, id) pairs

    @property
    def timeout(self) -> float | None:
        return block_timeout(self.block_ms)


def block_timeout(block_ms: int | None) -> float | None:
    """Seconds to wait for entries: 0 without BLOCK, None (forever) for BLOCK 0."""
    if block_ms is None:
        return 0.0
    return block_ms / 1000 if block_ms else None


def parse_read(
    args: Args,
    command: str,
    count: Callable[[Args], int | None],
    *,
    noack: bool = False,
) -> ReadOptions:
    """Parse from the first option on; `count` reads COUNT's value, `noack` admits NOACK."""
    count_value: int | None = None
    block_ms: int | None = None
    no_ack = False
    while True:
        option = args.keyword()
        if option == "COUNT":
            count_value = count(args)
        elif option == "BLOCK":
            block_ms = args.integer("ERR timeout is not an integer or out of range")
            if block_ms < 0:
                fail("ERR timeout is negative")
            if block_ms > BLOCK_MS.high:
                raise out_of_range("timeout", BLOCK_MS, " milliseconds")
        elif option == "NOACK":
            if not noack:
                fail(
                    "ERR The NOACK option is only supported by XREADGROUP. "
                    "You called XREAD instead."
                )
            no_ack = True
        elif option == "STREAMS":
            break
        else:
            fail("ERR syntax error")
    words = args.rest()
    if not words or len(words) % 2:
        fail(  # Redis 7.0's words, for XREADGROUP too
            "ERR Unbalanced XREAD list of streams: for each stream key an ID or '$' must be "
            "specified."
        )
    half = len(words) // 2
    keys = [topic_name(word) for word in words[:half]]
    ids = [word.decode("utf-8", "replace") for word in words[half:]]
    return ReadOptions(count_value, block_ms, no_ack, list(zip(keys, ids, strict=True)))


def streams_reply(protocol: int, found: list[tuple[str, list[Job]]]) -> Any:
    """Entries per stream, as XREAD and XREADGROUP answer: a map in RESP3, pairs in
    RESP2, a null array when there are none."""
    if not found:
        return NULL_ARRAY
    if protocol == 3:
        return {name: [entry_of(job) for job in jobs] for name, jobs in found}
    return [[name, [entry_of(job) for job in jobs]] for name, jobs in found]
