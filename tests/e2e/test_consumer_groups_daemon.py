"""Named consumer groups in a real `simplequeued` (localfs) through redis-py: fan-out to two
groups, recovery of a stopped consumer in its group only, state that outlives the daemon
and is shared with a second broker, and the topic's own queue refused meanwhile."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis

from tests.support.daemon import Daemon
from tests.support.resp import wait_parked

WAIT = 60.0  # generous upper bound for anything that should happen "at once"


def client(daemon: Daemon) -> redis.Redis:
    return redis.Redis(port=daemon.redis_port or 0, socket_timeout=60, protocol=3)


def read(r: redis.Redis, group: str, consumer: str, count: int = 100) -> list[bytes]:
    """Ids of new entries claimed in `group` (XREADGROUP >)."""
    reply: Any = r.xreadgroup(group, consumer, {"events": ">"}, count=count)
    return [entry_id for entries in (reply or {}).values() for entry_id, _ in entries[0]]


def pending(r: redis.Redis, group: str) -> list[tuple[Any, Any, Any]]:
    rows: Any = r.xpending_range("events", group, "-", "+", 100)
    return [(row["message_id"], row["consumer"], row["times_delivered"]) for row in rows]


def flags(data: Path, *more: str) -> tuple[str, ...]:
    return ("--backend", "localfs", "--dir", str(data), *more)


def test_fan_out_and_recovery_in_one_group(
    daemon_factory: Callable[..., Daemon], tmp_path: Path
) -> None:
    daemon = daemon_factory(
        *flags(tmp_path, "--visibility-timeout", "1", "--reaper-period", "0.1"),
        "--max-attempts",
        "2",
        redis=True,
    )
    with client(daemon) as r:
        assert r.xgroup_create("events", "billing", "$", mkstream=True)
        assert r.xgroup_create("events", "audit", "$")
        assert r.type("events") == b"stream"
        ids = [r.xadd("events", {"n": str(n)}) for n in range(4)]
        # Each group receives every entry.
        assert read(r, "billing", "b1") == ids
        assert read(r, "audit", "a1", count=2) == ids[:2]
        assert read(r, "audit", "a2") == ids[2:]
        # billing acks all; audit's pending entries are untouched by that.
        assert r.xack("events", "billing", *ids) == 4
        assert [row[0] for row in pending(r, "audit")] == ids
        # a1 stops: XAUTOCLAIM in audit moves its entries to a2; billing has none.
        moved = r.xautoclaim("events", "audit", "a2", 0, "0-0", count=10, justid=True)
        assert sorted(moved) == sorted(ids)
        assert pending(r, "billing") == []
        assert {consumer for _, consumer, _ in pending(r, "audit")} == {b"a2"}
        assert r.xack("events", "audit", ids[0]) == 1
        # The rest are reaped in audit (lease of 1 s), delivered again there only.
        wait_until(lambda: not pending(r, "audit"), "audit's claims reaped")
        assert read(r, "audit", "a3") == ids[1:]
        assert read(r, "billing", "b1") == []
        # Reaped again after their second delivery: dead in audit (max attempts 2).
        wait_until(lambda: not pending(r, "audit"), "audit's claims reaped again")
        assert read(r, "audit", "a3") == []
        assert r.xinfo_stream("events")["completed"] == 1  # the others are dead in audit
        # The topic's own queue is refused while groups consume the stream.
        status, body = daemon.request("POST", "/topics/events/claim", {"worker_id": "w"})
        assert (status, body["code"]) == (409, "topic_has_groups")


def test_groups_are_stored_and_shared_by_brokers(
    daemon_factory: Callable[..., Daemon], tmp_path: Path
) -> None:
    daemon = daemon_factory(*flags(tmp_path), redis=True)
    with client(daemon) as r:
        r.xgroup_create("events", "billing", "$", mkstream=True)
        r.xgroup_create("events", "audit", "0")
        ids = [r.xadd("events", {"n": str(n)}) for n in range(4)]
        assert read(r, "billing", "b1") == ids
        assert r.xack("events", "billing", *ids) == 4
        assert read(r, "audit", "a1", count=3) == ids[:3]
        assert r.xack("events", "audit", ids[0]) == 1
    daemon.stop()

    # A new daemon on the same directory, and a second broker beside it.
    again = daemon_factory(*flags(tmp_path), redis=True)
    beside = daemon_factory(*flags(tmp_path), redis=True)
    for broker in (again, beside):
        with client(broker) as r:
            groups = {g["name"]: g for g in r.xinfo_groups("events")}
            assert set(groups) == {b"billing", b"audit"}
            assert groups[b"billing"]["last-delivered-id"] == ids[-1]
            assert (groups[b"audit"]["pending"], groups[b"audit"]["lag"]) == (2, 1)
            consumers = {c["name"]: c["pending"] for c in r.xinfo_consumers("events", "audit")}
            assert consumers == {b"a1": 2}
            assert r.type("events") == b"stream"
            assert r.xinfo_stream("events")["completed"] == 1
    with client(again) as r:
        assert read(r, "audit", "a2") == ids[3:]
        assert r.xack("events", "audit", *ids) == 3
    with client(beside) as r:
        wait_until(
            lambda: r.xinfo_stream("events")["completed"] == 4, "the acks seen by the other broker"
        )
        assert r.xgroup_destroy("events", "audit") == 1
        assert [g["name"] for g in r.xinfo_groups("events")] == [b"billing"]


def wait_until(condition: Callable[[], object], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {WAIT}s"
        time.sleep(0.05)


def test_a_blocked_group_read_wakes_on_xadd(
    daemon_factory: Callable[..., Daemon], tmp_path: Path
) -> None:
    daemon = daemon_factory(*flags(tmp_path), redis=True)
    got: list[Any] = []
    with client(daemon) as r, client(daemon) as reader:
        r.xgroup_create("events", "g", "$", mkstream=True)
        r.xgroup_create("events", "h", "$")
        thread = threading.Thread(
            target=lambda: got.append(reader.xreadgroup("g", "c", {"events": ">"}, block=30_000))
        )
        thread.start()
        wait_parked(daemon)
        entry = r.xadd("events", {"a": "1"})
        thread.join(WAIT)
        assert not thread.is_alive()
        assert got == [{b"events": [[(entry, {b"a": b"1"})]]}]
