"""How jobs look through Redis eyes: list values, stream entries and stream ids.

- A list value is the job's payload bytes, exactly as pushed (common.payload's rule).
- A stream entry is `[id, [field, value, ...]]`: a job whose payload is a JSON object
  shows its members as fields (string members as they are, others as compact JSON); any
  other payload shows as the single field `payload`.
- `XADD key *` ids are Redis-style `<ms>-<seq>`, rising within this process. Ranges
  (XRANGE, XPENDING, XAUTOCLAIM) order such ids numerically; a job with any other id
  (a UUID from HTTP, say) is only in ranges that are open on both ends (`- +`).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson

from broker.engine import NewJob
from broker.errors import JobNotFound, JobStateConflict
from common.models import Job
from common.payload import payload_from_bytes, payload_to_bytes

from .base import fail

PAYLOAD_FIELD = b"payload"
MAX_SEQ = 2**64 - 1
_STREAM_ID = re.compile(r"(\d{1,20})(?:-(\d{1,20}))?")


def new_job(value: bytes, limit: int, *, id: str | None = None) -> NewJob:
    """A pushed value as a job, refusing values over the payload limit."""
    check_size(len(value), limit)
    payload, encoding = payload_from_bytes(value)
    return NewJob(payload, id, 0.0, encoding)


def check_size(size: int, limit: int) -> None:
    if size > limit:
        fail(
            f"ERR payload is {size} bytes, over the limit of {limit}: store large data "
            "elsewhere and enqueue a reference"
        )


async def count_done(operation: Callable[[str], Awaitable[object]], ids: list[str]) -> int:
    """Run `operation` on each distinct id; how many succeeded. Started together, the
    operations share one group commit; unknown ids and wrong states just do not count."""

    async def one(job_id: str) -> int:
        try:
            await operation(job_id)
        except (JobNotFound, JobStateConflict):
            return 0
        return 1

    return sum(await asyncio.gather(*(one(job_id) for job_id in dict.fromkeys(ids))))


def value_of(job: Job) -> bytes:
    return payload_to_bytes(job.payload, job.payload_encoding)


def fields_of(job: Job) -> list[bytes]:
    payload = job.payload
    if not isinstance(payload, dict) or job.payload_encoding is not None:
        return [PAYLOAD_FIELD, value_of(job)]
    out: list[bytes] = []
    for field, value in payload.items():
        out.append(field.encode())
        out.append(value.encode() if isinstance(value, str) else orjson.dumps(value))
    return out


def entry_of(job: Job) -> list[Any]:
    return [job.id, fields_of(job)]


def fields_payload(pairs: list[bytes]) -> dict[str, str]:
    """XADD's field-value pairs as the JSON object stored as the payload (last wins)."""
    payload: dict[str, str] = {}
    try:
        for field, value in zip(pairs[::2], pairs[1::2], strict=True):
            payload[field.decode("utf-8")] = value.decode("utf-8")
    except UnicodeDecodeError:
        fail("ERR stream fields and values must be UTF-8 text; use LPUSH for binary payloads")
    return payload


# --- ids ----------------------------------------------------------------------------------


class IdGenerator:
    """`<ms>-<seq>` ids that never repeat or go backwards, even if the clock does."""

    def __init__(self) -> None:
        self.last = (0, 0)

    def next(self) -> str:
        ms = time.time_ns() // 1_000_000
        last_ms, last_seq = self.last
        self.last = (ms, 0) if ms > last_ms else (last_ms, last_seq + 1)
        return f"{self.last[0]}-{self.last[1]}"


IDS = IdGenerator()


def stream_id(text: str) -> tuple[int, int] | None:
    """(ms, seq) of a Redis-style id, or None for other job ids."""
    match = _STREAM_ID.fullmatch(text)
    if match is None:
        return None
    return int(match[1]), int(match[2] or 0)


@dataclass(frozen=True)
class Bound:
    """One end of an XRANGE-style range: `-`, `+`, `id`, `ms` or exclusive `(id`."""

    key: tuple[int, int] | None  # None: open
    exclusive: bool = False

    @classmethod
    def parse(cls, word: bytes, *, low: bool) -> Bound:
        text = word.decode("latin-1")
        if text in ("-", "+"):
            return cls(None) if text == ("-" if low else "+") else cls._empty(low)
        exclusive = text.startswith("(")
        body = text[1:] if exclusive else text
        match = _STREAM_ID.fullmatch(body)
        if match is None:
            fail("ERR Invalid stream ID specified as stream command argument")
        seq = int(match[2]) if match[2] is not None else (0 if low else MAX_SEQ)
        return cls((int(match[1]), seq), exclusive)

    @classmethod
    def _empty(cls, low: bool) -> Bound:
        # `XRANGE k + -`: a low bound above everything (or a high bound below it).
        return cls((2**64, 0) if low else (-1, 0), exclusive=True)

    def admits(self, key: tuple[int, int] | None, *, low: bool) -> bool:
        if self.key is None:
            return True
        if key is None:
            return False
        if low:
            return key > self.key if self.exclusive else key >= self.key
        return key < self.key if self.exclusive else key <= self.key


@dataclass(frozen=True)
class Range:
    low: Bound
    high: Bound

    @classmethod
    def parse(cls, start: bytes, end: bytes) -> Range:
        return cls(Bound.parse(start, low=True), Bound.parse(end, low=False))

    def admits(self, job_id: str) -> bool:
        key = stream_id(job_id)
        return self.low.admits(key, low=True) and self.high.admits(key, low=False)


ALL = Range(Bound(None), Bound(None))


def from_cursor(jobs: list[Job], cursor: str, *, inclusive: bool) -> list[Job]:
    """The jobs at or after `cursor`: `0`/`0-0`/`-` is the start, a job id of the list is
    a position, any other Redis-style id compares numerically."""
    if cursor in ("0", "0-0", "-"):
        return jobs
    for index, job in enumerate(jobs):
        if job.id == cursor:
            return jobs[index if inclusive else index + 1 :]
    bound = stream_id(cursor)
    if bound is None:
        return []
    keys = [(job, stream_id(job.id)) for job in jobs]
    return [
        job for job, key in keys if key is not None and (key >= bound if inclusive else key > bound)
    ]
