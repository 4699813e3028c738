"""Workers seen on a topic: who is working, on what, since when, and what they finished.

Two sources, so the figures say what they rest on:
- claims in flight, the oldest claim and the last heartbeat come from the topic's stored
  state (its claimed jobs), so every broker sees every worker's claims;
- claims, acks and nacks made through this broker are counted in memory by `WorkerLog`,
  from when the broker first saw the worker. They are this broker's view (another broker's
  traffic, or a restart, is not in them).

A worker is remembered while it holds a claim, and for REMEMBER_SECONDS after it was last
seen (a claim, heartbeat, ack or nack through this broker); at most MAX_WORKERS per topic,
the least recently seen forgotten first, so random worker names cannot grow memory.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from common.models import Job

from .records import format_ms

REMEMBER_SECONDS = 900.0
MAX_WORKERS = 10_000


@dataclass
class Activity:
    first_seen: float  # Unix time, seconds
    last_seen: float
    claimed: int = 0
    acked: int = 0
    nacked: int = 0


class WorkerLog:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._seen: OrderedDict[str, Activity] = OrderedDict()  # least recently seen first

    def saw(self, worker: str | None, *, claimed: int = 0, acked: int = 0, nacked: int = 0) -> None:
        if not worker:
            return
        now = self._clock()
        activity = self._seen.pop(worker, None) or Activity(now, now)
        activity.last_seen = now
        activity.claimed += claimed
        activity.acked += acked
        activity.nacked += nacked
        self._seen[worker] = activity
        while len(self._seen) > MAX_WORKERS:
            self._seen.popitem(last=False)

    def report(self, claims: Iterable[Job]) -> list[dict[str, Any]]:
        """One entry per worker holding a claim or seen within REMEMBER_SECONDS, most
        recently active first."""
        held: dict[str, list[Job]] = {}
        for job in claims:
            if job.claimed_by:
                held.setdefault(job.claimed_by, []).append(job)
        now = self._clock()
        for worker in [w for w, a in self._seen.items() if now - a.last_seen > REMEMBER_SECONDS]:
            if worker not in held:
                del self._seen[worker]
        rows = [_row(worker, held.get(worker, []), self._seen.get(worker)) for worker in held]
        rows += [_row(w, [], a) for w, a in self._seen.items() if w not in held]
        rows.sort(key=lambda row: row["_active"], reverse=True)
        for row in rows:
            del row["_active"]
        return rows


def _row(worker: str, jobs: list[Job], activity: Activity | None) -> dict[str, Any]:
    claimed_at = [job.claimed_at for job in jobs if job.claimed_at]
    beats = [job.last_heartbeat for job in jobs if job.last_heartbeat]
    last_beat = max(beats) if beats else None
    seen = activity.last_seen if activity else 0.0
    return {
        "worker": worker,
        "claims": len(jobs),
        "jobs": [job.id for job in jobs[:10]],
        "oldest_claim": _text(min(claimed_at).timestamp()) if claimed_at else None,
        "last_heartbeat": _text(last_beat.timestamp()) if last_beat else None,
        "first_seen": _text(activity.first_seen) if activity else None,
        "last_seen": _text(activity.last_seen) if activity else None,
        "claimed": activity.claimed if activity else 0,
        "acked": activity.acked if activity else 0,
        "nacked": activity.nacked if activity else 0,
        "_active": max(seen, last_beat.timestamp() if last_beat else 0.0),
    }


def _text(seconds: float) -> str:
    return format_ms(round(seconds * 1000))
