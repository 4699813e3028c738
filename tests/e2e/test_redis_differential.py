"""The same command scripts against a real redis-server and against simplequeued.

Every reply must be equal, type and all (RESP2 and RESP3), except at steps marked
`differs(kind, ours, ...)`: there simplequeued's reply must be `ours`, and `kind` must be one
of the ALLOWED differences, each with its reason. The README shows the same table (a test
checks that every reason is in it), so a user knows every place where simplequeued answers
otherwise than Redis, and why.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from broker.resp.commands.streams import JOB_COUNT_FIELDS
from tests.support.daemon import REPO_ROOT, Daemon
from tests.support.redis_server import Reply, RespConnection, running_redis_server

# kind -> (where it shows, why): the README's table of differences from Redis.
ALLOWED: dict[str, tuple[str, str]] = {
    "queue order": (
        "`RPUSH`+`RPOP`, `LPUSH`+`LPOP`, `LRANGE` after `LPUSH`",
        "a topic is a queue: every push appends at the back and every pop takes the oldest "
        "job, so both push/pop pairs are FIFO and `LRANGE` lists jobs in enqueue order",
    ),
    "retention": (
        "`EXISTS`, `DBSIZE`, `KEYS`, `SCAN` after a list was emptied",
        "popped jobs are completed, not removed: the topic keeps the newest "
        "`--completed-retention` of them for inspection, so the key still exists",
    ),
    "trim keeps work": (
        "`XTRIM`, and `XADD` with `MAXLEN`/`MINID`, over entries not yet acknowledged",
        "an entry is a job: trimming removes completed jobs only, never pending, claimed or "
        "dead ones (work not yet done, or failures an operator must see)",
    ),
    "one database": (
        "`SELECT n` for n > 0",
        "topics have one namespace: only database 0 exists",
    ),
    "implicit group": (
        "`XREADGROUP`, `XPENDING`, `XACK`, `XCLAIM`, `XAUTOCLAIM` on a key with no named group",
        "a topic without named groups is read through its own queue by any group name, as "
        "the Go system it replaces did (so workers may start before the stream exists); once "
        "`XGROUP CREATE` made a group, group names are checked and answer `NOGROUP` as in Redis",
    ),
    "any id": (
        "`XACK`, `XCLAIM`, `XAUTOCLAIM`, `XREADGROUP` with an id not of the form `<ms>-<seq>`",
        "entry ids are job ids, and a job enqueued over HTTP or `LPUSH` has an id of another "
        "form (a UUID): these commands take any id, and one that names no pending entry "
        "counts as such, not as an error",
    ),
    "deleted ids": (
        "`XINFO STREAM` `max-deleted-entry-id`",
        "a deleted entry leaves no trace in the topic, so the field is always `0-0`",
    ),
    "job counts": (
        "`XINFO STREAM key` (not `FULL`)",
        "after Redis's fields come the topic's job counts (`pending`, `delayed`, `claimed`, "
        "`completed`, `dead`, `generation`), as the Go system answered; the comparison leaves "
        "them out",
    ),
    "group start": (
        "`XGROUP CREATE`/`SETID` with `0` or an id, over entries every group has acked",
        "a group sees the entries still pending in the topic: one completed (acked by every "
        "group, or popped) is not delivered again",
    ),
    "reaped entries": (
        "`XPENDING`, `XREADGROUP ... >` after a claim's visibility timeout",
        "a claim not acked in time returns to the group's queue and is delivered again by `>` "
        "(Redis keeps it in the consumer's pending list until claimed)",
    ),
}


@dataclass(frozen=True)
class Step:
    args: tuple[str, ...]
    differs: str | None = None  # a key of ALLOWED
    ours: Reply | None = None  # simplequeued's reply where it differs


def same(*args: str) -> Step:
    return Step(args)


def differs(kind: str, ours: Reply, *args: str) -> Step:
    assert kind in ALLOWED, kind
    return Step(args, kind, ours)


def bulk(*items: bytes) -> Reply:
    return ("*", [("$", item) for item in items])


ENTRY_1_1 = ("*", [("$", b"1-1"), ("*", [("$", b"n"), ("$", b"0")])])
# XINFO STREAM after walrus' create(): Redis has `max-deleted-entry-id` 0-1 (its XDEL).
WALRUS_STREAM = ("*", [
    ("$", b"length"), (":", 1), ("$", b"radix-tree-keys"), ("internal", ":"),
    ("$", b"radix-tree-nodes"), ("internal", ":"), ("$", b"last-generated-id"), ("$", b"1-1"),
    ("$", b"max-deleted-entry-id"), ("$", b"0-0"), ("$", b"entries-added"), (":", 2),
    ("$", b"recorded-first-entry-id"), ("$", b"1-1"), ("$", b"groups"), (":", 1),
    ("$", b"first-entry"), ENTRY_1_1, ("$", b"last-entry"), ENTRY_1_1,
])  # fmt: skip

SCRIPTS: dict[str, list[Step]] = {
    "lists": [
        same("RPUSH", "{k}", "a", "b", "c"),
        same("LLEN", "{k}"),
        same("LRANGE", "{k}", "0", "-1"),
        same("LRANGE", "{k}", "1", "1"),
        same("LPOP", "{k}"),
        differs("queue order", ("$", b"b"), "RPOP", "{k}"),
        same("LPUSH", "{k}2", "x", "y"),
        differs("queue order", bulk(b"x", b"y"), "LRANGE", "{k}2", "0", "-1"),
        same("RPOP", "{k}2"),
        same("RPOP", "{k}2", "5"),
        same("RPUSH", "{k}3", "a", "b", "c"),
        same("LPOP", "{k}3", "2"),
        same("LPOP", "{k}3", "0"),
        same("LPOP", "{k}-none"),
        same("LPOP", "{k}-none", "3"),
        same("LLEN", "{k}-none"),
        same("LRANGE", "{k}-none", "0", "-1"),
        same("TYPE", "{k}3"),
        same("TYPE", "{k}-none"),
        same("EXISTS", "{k}-none"),
        differs("retention", (":", 1), "EXISTS", "{k}2"),
    ],
    "blocking": [
        same("BRPOP", "{k}", "0.01"),
        same("BLPOP", "{k}", "{k}-other", "0.01"),
        same("RPUSH", "{k}-other", "z"),
        same("BRPOP", "{k}", "{k}-other", "1"),
        same("RPUSH", "{k}", "y"),
        same("BLPOP", "{k}", "1"),
    ],
    "streams": [
        same("XGROUP", "CREATE", "{k}", "g1", "$", "MKSTREAM"),
        same("XADD", "{k}", "1-1", "a", "1"),
        same("XADD", "{k}", "1-2", "b", "2", "c", "3"),
        same("XLEN", "{k}"),
        same("XRANGE", "{k}", "-", "+"),
        same("XRANGE", "{k}", "(1-1", "+"),
        same("XREVRANGE", "{k}", "+", "-", "COUNT", "1"),
        same("XREADGROUP", "GROUP", "g1", "c1", "COUNT", "1", "STREAMS", "{k}", ">"),
        same("XREADGROUP", "GROUP", "g1", "c1", "STREAMS", "{k}", "0"),
        same("XPENDING", "{k}", "g1"),
        same("XPENDING", "{k}", "g1", "-", "+", "10"),
        same("XREADGROUP", "GROUP", "g1", "c1", "STREAMS", "{k}", "0"),
        same("XPENDING", "{k}", "g1", "-", "+", "10", "c1"),
        same("XACK", "{k}", "g1", "1-1"),
        same("XACK", "{k}", "g1", "1-1"),
        same("XREADGROUP", "GROUP", "g1", "c2", "COUNT", "10", "STREAMS", "{k}", ">"),
        same("XREADGROUP", "GROUP", "g1", "c2", "COUNT", "10", "STREAMS", "{k}", ">"),
        same("XCLAIM", "{k}", "g1", "c3", "0", "1-2", "JUSTID"),
        same("XAUTOCLAIM", "{k}", "g1", "c4", "0", "0-0", "COUNT", "10", "JUSTID"),
        same("XPENDING", "{k}", "g1"),
        same("XPENDING", "{k}", "g1", "-", "+", "10"),
        same("XCLAIM", "{k}", "g1", "c5", "0", "1-2"),
        same("XAUTOCLAIM", "{k}", "g1", "c6", "0", "0-0"),
        same("XPENDING", "{k}", "g1", "IDLE", "0", "-", "+", "10", "c6"),
        same("XACK", "{k}", "g1", "1-2"),
        same("XPENDING", "{k}", "g1"),
    ],
    "xread": [
        same("XREAD", "STREAMS", "{k}", "0"),
        same("XREAD", "BLOCK", "10", "STREAMS", "{k}", "$"),
        same("XADD", "{k}", "1-1", "a", "1"),
        same("XADD", "{k}", "1-2", "b", "2"),
        same("XADD", "{k}", "2-1", "c", "3"),
        same("XREAD", "COUNT", "10", "STREAMS", "{k}", "0"),
        same("XREAD", "COUNT", "1", "STREAMS", "{k}", "1-1"),
        same("XREAD", "STREAMS", "{k}", "{k}-none", "1-2", "0"),
        same("XREAD", "STREAMS", "{k}", "$"),
        same("XREAD", "COUNT", "0", "BLOCK", "10", "STREAMS", "{k}", "2-1"),
        same("XREAD", "COUNT", "-3", "STREAMS", "{k}", "1"),
        same("XREAD", "STREAMS", "{k}"),
        same("XREAD", "COUNT", "x", "STREAMS", "{k}", "0"),
        same("XREAD", "BLOCK", "-1", "STREAMS", "{k}", "0"),
        same("XREAD", "NOACK", "STREAMS", "{k}", "0"),
    ],
    "xtrim": [
        same("XGROUP", "CREATE", "{k}", "g1", "$", "MKSTREAM"),
        same("XADD", "{k}", "1-1", "a", "1"),
        same("XADD", "{k}", "1-2", "b", "2"),
        same("XADD", "{k}", "1-3", "c", "3"),
        same("XADD", "{k}", "2-1", "d", "4"),
        same("XREADGROUP", "GROUP", "g1", "c1", "COUNT", "3", "STREAMS", "{k}", ">"),
        same("XACK", "{k}", "g1", "1-1", "1-2", "1-3"),
        same("XTRIM", "{k}", "MAXLEN", "3"),
        same("XLEN", "{k}"),
        same("XTRIM", "{k}", "MINID", "1-3"),
        same("XRANGE", "{k}", "-", "+"),
        same("XTRIM", "{k}", "MINID", "=", "1-4"),
        differs("trim keeps work", (":", 0), "XTRIM", "{k}", "MAXLEN", "~", "0", "LIMIT", "0"),
        differs("trim keeps work", (":", 1), "XLEN", "{k}"),
        same("XTRIM", "{k}", "MAXLEN", "-1"),
        same("XTRIM", "{k}", "MAXLEN", "x"),
        same("XTRIM", "{k}", "MINID", "bad"),
        same("XTRIM", "{k}", "MAXLEN", "1", "LIMIT", "5"),
        same("XTRIM", "{k}", "SIZE", "1"),
        same("XGROUP", "CREATE", "{k}2", "g1", "$", "MKSTREAM"),
        same("XADD", "{k}2", "1-1", "a", "1"),
        same("XADD", "{k}2", "1-2", "b", "2"),
        same("XREADGROUP", "GROUP", "g1", "c1", "STREAMS", "{k}2", ">"),
        same("XACK", "{k}2", "g1", "1-1", "1-2"),
        same("XADD", "{k}2", "MAXLEN", "1", "1-3", "c", "3"),
        same("XRANGE", "{k}2", "-", "+"),
        same("XADD", "{k}2", "MINID", "1-4", "1-4", "d", "4"),
        differs("trim keeps work", (":", 2), "XLEN", "{k}2"),
        same("XTRIM", "{k}"),
    ],
    "groups_fanout": [
        same("XGROUP", "CREATE", "{k}", "g1", "$", "MKSTREAM"),
        same("XGROUP", "CREATE", "{k}", "g1", "0"),
        same("XADD", "{k}", "1-1", "a", "1"),
        same("XGROUP", "CREATE", "{k}", "g2", "0"),
        same("XGROUP", "CREATE", "{k}", "g3", "$"),
        same("XADD", "{k}", "1-2", "b", "2"),
        same("XREADGROUP", "GROUP", "g1", "c1", "COUNT", "10", "STREAMS", "{k}", ">"),
        same("XREADGROUP", "GROUP", "g2", "c1", "COUNT", "1", "STREAMS", "{k}", ">"),
        same("XREADGROUP", "GROUP", "g2", "c2", "COUNT", "10", "STREAMS", "{k}", ">"),
        same("XREADGROUP", "GROUP", "g3", "c1", "COUNT", "10", "STREAMS", "{k}", ">"),
        same("XREADGROUP", "GROUP", "g3", "c1", "COUNT", "10", "STREAMS", "{k}", ">"),
        same("XPENDING", "{k}", "g1"),
        same("XPENDING", "{k}", "g2"),
        same("XPENDING", "{k}", "g3"),
        same("XACK", "{k}", "g1", "1-1", "1-2"),
        same("XPENDING", "{k}", "g1"),
        same("XPENDING", "{k}", "g2", "-", "+", "10"),
        same("XACK", "{k}", "g2", "1-1"),
        same("XACK", "{k}", "g2", "1-1"),
        same("XPENDING", "{k}", "g2", "-", "+", "10"),
        same("XPENDING", "{k}", "g2", "-", "+", "10", "c2"),
        same("XPENDING", "{k}", "g3", "-", "+", "10", "c1"),
        same("XREADGROUP", "GROUP", "g2", "c2", "STREAMS", "{k}", "0"),
        same("XPENDING", "{k}", "g2", "-", "+", "10"),
        same("XREADGROUP", "GROUP", "g1", "c1", "STREAMS", "{k}", "0"),
        same("XREADGROUP", "GROUP", "g1", "c1", "BLOCK", "10", "STREAMS", "{k}", ">"),
        same("XADD", "{k}", "1-3", "c", "3"),
        same("XREADGROUP", "GROUP", "g1", "c1", "STREAMS", "{k}", ">"),
        same("XREADGROUP", "GROUP", "g3", "c3", "NOACK", "STREAMS", "{k}", ">"),
        same("XPENDING", "{k}", "g3"),
        same("XPENDING", "{k}", "g2"),
        same("XLEN", "{k}"),
        same("XINFO", "GROUPS", "{k}"),
        same("XINFO", "CONSUMERS", "{k}", "g2"),
        same("XINFO", "CONSUMERS", "{k}", "g3"),
        same("XINFO", "STREAM", "{k}"),
        same("XGROUP", "DESTROY", "{k}", "g3"),
        same("XGROUP", "DESTROY", "{k}", "g3"),
        same("XREADGROUP", "GROUP", "g3", "c1", "STREAMS", "{k}", ">"),
        same("XINFO", "GROUPS", "{k}"),
        same("TYPE", "{k}"),
    ],
    "groups_claim": [
        same("XGROUP", "CREATE", "{k}", "g1", "$", "MKSTREAM"),
        same("XGROUP", "CREATE", "{k}", "g2", "$"),
        same("XADD", "{k}", "1-1", "a", "1"),
        same("XADD", "{k}", "1-2", "b", "2"),
        same("XREADGROUP", "GROUP", "g1", "c1", "STREAMS", "{k}", ">"),
        same("XREADGROUP", "GROUP", "g2", "c1", "STREAMS", "{k}", ">"),
        same("XCLAIM", "{k}", "g1", "c2", "0", "1-1"),
        same("XPENDING", "{k}", "g1", "-", "+", "10"),
        same("XPENDING", "{k}", "g2", "-", "+", "10"),
        same("XCLAIM", "{k}", "g2", "c2", "3600000", "1-1"),
        same("XCLAIM", "{k}", "g2", "c2", "0", "9-9"),
        same("XAUTOCLAIM", "{k}", "g2", "c3", "0", "0-0", "COUNT", "1"),
        same("XAUTOCLAIM", "{k}", "g2", "c3", "0", "1-2", "COUNT", "1", "JUSTID"),
        same("XAUTOCLAIM", "{k}", "g2", "c4", "3600000", "0-0"),
        same("XPENDING", "{k}", "g1"),
        same("XPENDING", "{k}", "g2"),
        same("XPENDING", "{k}", "g2", "-", "+", "10"),
        same("XINFO", "CONSUMERS", "{k}", "g2"),
        same("XACK", "{k}", "g2", "1-1", "1-2"),
        same("XPENDING", "{k}", "g2"),
        same("XPENDING", "{k}", "g1", "-", "+", "10"),
        same("XAUTOCLAIM", "{k}", "g1", "c5", "0", "0-0", "JUSTID"),
        same("XPENDING", "{k}", "g1", "-", "+", "10", "c5"),
        same("XINFO", "GROUPS", "{k}"),
    ],
    "groups_setid": [
        same("XGROUP", "CREATE", "{k}", "g1", "0", "MKSTREAM"),
        same("XGROUP", "CREATE", "{k}", "g2", "0"),
        same("XADD", "{k}", "1-1", "a", "1"),
        same("XADD", "{k}", "1-2", "b", "2"),
        same("XADD", "{k}", "1-3", "c", "3"),
        same("XGROUP", "CREATECONSUMER", "{k}", "g1", "alice"),
        same("XGROUP", "CREATECONSUMER", "{k}", "g1", "alice"),
        same("XINFO", "CONSUMERS", "{k}", "g1"),
        same("XINFO", "CONSUMERS", "{k}", "g2"),
        same("XREADGROUP", "GROUP", "g1", "bob", "COUNT", "2", "STREAMS", "{k}", ">"),
        same("XGROUP", "SETID", "{k}", "g1", "$"),
        same("XREADGROUP", "GROUP", "g1", "alice", "STREAMS", "{k}", ">"),
        same("XGROUP", "SETID", "{k}", "g2", "1-2"),
        same("XREADGROUP", "GROUP", "g2", "alice", "STREAMS", "{k}", ">"),
        same("XGROUP", "SETID", "{k}", "g2", "1-3", "ENTRIESREAD", "3"),
        same("XINFO", "GROUPS", "{k}"),
        same("XGROUP", "SETID", "{k}", "g2", "0"),
        same("XREADGROUP", "GROUP", "g2", "bob", "COUNT", "1", "STREAMS", "{k}", ">"),
        same("XPENDING", "{k}", "g2", "-", "+", "10"),
        same("XINFO", "GROUPS", "{k}"),
        same("XGROUP", "DELCONSUMER", "{k}", "g1", "bob"),
        same("XGROUP", "DELCONSUMER", "{k}", "g1", "bob"),
        same("XPENDING", "{k}", "g1"),
        same("XINFO", "CONSUMERS", "{k}", "g1"),
        same("XPENDING", "{k}", "g2"),
        same("XGROUP", "DESTROY", "{k}", "g1"),
        same("XGROUP", "DESTROY", "{k}", "g2"),
        same("XINFO", "GROUPS", "{k}"),
        same("XLEN", "{k}"),
        same("TYPE", "{k}"),
    ],
    "groups_consumers": [
        same("XGROUP", "CREATE", "{k}", "g1", "$", "MKSTREAM"),
        same("XREADGROUP", "GROUP", "g1", "early", "STREAMS", "{k}", ">"),
        same("XINFO", "CONSUMERS", "{k}", "g1"),
        same("XADD", "{k}", "1-1", "a", "1"),
        same("XREADGROUP", "GROUP", "g1", "c1", "STREAMS", "{k}", ">"),
        same("XREADGROUP", "GROUP", "g1", "late", "STREAMS", "{k}", ">"),
        same("XREADGROUP", "GROUP", "g1", "history", "STREAMS", "{k}", "0"),
        same("XCLAIM", "{k}", "g1", "claimer", "0", "9-9"),
        same("XAUTOCLAIM", "{k}", "g1", "autoclaimer", "0", "0-0", "JUSTID"),
        same("XINFO", "CONSUMERS", "{k}", "g1"),
        same("XINFO", "GROUPS", "{k}"),
        same("XREADGROUP", "GROUP", "g1", "c1", "STREAMS", "{k}", "0"),
        same("XGROUP", "DELCONSUMER", "{k}", "g1", "autoclaimer"),
        same("XPENDING", "{k}", "g1"),
        same("XREADGROUP", "GROUP", "g1", "c1", "STREAMS", "{k}", ">"),
        same("XINFO", "GROUPS", "{k}"),
    ],
    # What walrus' ConsumerGroup.create() sends for a stream that does not exist yet.
    "groups_walrus_create": [
        same("EXISTS", "{k}"),
        same("XADD", "{k}", "0-1", "", ""),
        same("XDEL", "{k}", "0-1"),
        same("TYPE", "{k}"),
        same("XGROUP", "CREATE", "{k}", "g1", "0-0"),
        same("EXISTS", "{k}"),
        same("TYPE", "{k}"),
        same("XGROUP", "CREATE", "{k}", "g1", "0-0"),
        same("XLEN", "{k}"),
        same("XADD", "{k}", "1-1", "n", "0"),
        same("XREADGROUP", "GROUP", "g1", "w1", "COUNT", "5", "BLOCK", "10", "STREAMS", "{k}", ">"),
        differs("deleted ids", WALRUS_STREAM, "XINFO", "STREAM", "{k}"),
        same("XINFO", "GROUPS", "{k}"),
    ],
    "groups_missing_key": [
        differs(
            "implicit group", ("*", None), "XREADGROUP", "GROUP", "g1", "c1", "STREAMS", "{k}", ">"
        ),
        differs(
            "implicit group",
            ("*", [(":", 0), ("$", None), ("$", None), ("*", None)]),
            "XPENDING",
            "{k}",
            "g1",
        ),
        same("XGROUP", "CREATE", "{k}", "g1", "$"),
        same("XGROUP", "CREATECONSUMER", "{k}", "g1", "c1"),
        same("XINFO", "GROUPS", "{k}"),
        same("XINFO", "STREAM", "{k}"),
        same("XINFO", "CONSUMERS", "{k}", "g1"),
        same("EXISTS", "{k}"),
    ],
    # NOGROUP from every command that names a group the stream does not have.
    "groups_nogroup": [
        same("XGROUP", "CREATE", "{k}", "g2", "$", "MKSTREAM"),
        same("XADD", "{k}", "1-1", "a", "1"),
        same("XREADGROUP", "GROUP", "g1", "c1", "STREAMS", "{k}", ">"),
        same("XREADGROUP", "GROUP", "g1", "c1", "STREAMS", "{k}", "0"),
        same("XACK", "{k}", "g1", "1-1"),
        same("XPENDING", "{k}", "g1"),
        same("XPENDING", "{k}", "g1", "-", "+", "10"),
        same("XCLAIM", "{k}", "g1", "c1", "0", "1-1"),
        same("XAUTOCLAIM", "{k}", "g1", "c1", "0", "0-0"),
        same("XGROUP", "SETID", "{k}", "g1", "0"),
        same("XGROUP", "DESTROY", "{k}", "g1"),
        same("XGROUP", "CREATECONSUMER", "{k}", "g1", "c1"),
        same("XGROUP", "DELCONSUMER", "{k}", "g1", "c1"),
        same("XINFO", "CONSUMERS", "{k}", "g1"),
        same("XREADGROUP", "GROUP", "g2", "c1", "STREAMS", "{k}", ">"),
        same("XINFO", "GROUPS", "{k}"),
        same("XGROUP", "DESTROY", "{k}", "g2"),
        same("XINFO", "GROUPS", "{k}"),
    ],
    "groups_info": [
        same("XGROUP", "CREATE", "{k}", "g1", "$", "MKSTREAM"),
        same("TYPE", "{k}"),
        same("XLEN", "{k}"),
        same("XINFO", "STREAM", "{k}"),
        same("XINFO", "GROUPS", "{k}"),
        same("XINFO", "CONSUMERS", "{k}", "g1"),
        same("XADD", "{k}", "1-1", "a", "1"),
        same("XADD", "{k}", "1-2", "b", "2"),
        same("XADD", "{k}", "2-1", "c", "3"),
        same("XGROUP", "CREATE", "{k}", "g0", "0"),
        same("XREADGROUP", "GROUP", "g1", "c1", "COUNT", "1", "STREAMS", "{k}", ">"),
        same("XREADGROUP", "GROUP", "g1", "c2", "COUNT", "1", "STREAMS", "{k}", ">"),
        same("XACK", "{k}", "g1", "1-1"),
        same("XINFO", "STREAM", "{k}"),
        same("XINFO", "STREAM", "{k}", "FULL"),
        same("XINFO", "STREAM", "{k}", "FULL", "COUNT", "1"),
        same("XINFO", "GROUPS", "{k}"),
        same("XINFO", "CONSUMERS", "{k}", "g1"),
        same("XINFO", "CONSUMERS", "{k}", "g0"),
        same("RPUSH", "{k}-list", "x"),
        same("TYPE", "{k}-list"),
        same("TYPE", "{k}-none"),
    ],
    "groups_resp3": [
        same("HELLO", "3"),
        same("XGROUP", "CREATE", "{k}", "g1", "$", "MKSTREAM"),
        same("XGROUP", "CREATE", "{k}", "g2", "$"),
        same("XADD", "{k}", "1-1", "a", "1"),
        same("XREADGROUP", "GROUP", "g1", "c1", "STREAMS", "{k}", ">"),
        same("XREADGROUP", "GROUP", "g2", "c1", "STREAMS", "{k}", ">"),
        same("XREADGROUP", "GROUP", "g2", "c1", "STREAMS", "{k}", ">"),
        same("XPENDING", "{k}", "g1"),
        same("XPENDING", "{k}", "g2", "-", "+", "10"),
        same("XAUTOCLAIM", "{k}", "g2", "c2", "0", "0-0"),
        same("XACK", "{k}", "g1", "1-1"),
        same("XINFO", "GROUPS", "{k}"),
        same("XINFO", "CONSUMERS", "{k}", "g2"),
        same("XINFO", "STREAM", "{k}"),
        same("XINFO", "STREAM", "{k}", "FULL"),
        same("TYPE", "{k}"),
        same("HELLO", "2"),
    ],
    "groups_errors": [
        same("XGROUP"),
        same("XGROUP", "BOGUS", "{k}"),
        same("XGROUP", "CREATE", "{k}"),
        same("XGROUP", "CREATE", "{k}", "g1"),
        same("XGROUP", "CREATE", "{k}", "g1", "notanid", "MKSTREAM"),
        same("XGROUP", "CREATE", "{k}", "g1", "$", "BOGUS"),
        same("XGROUP", "CREATE", "{k}", "g1", "$", "MKSTREAM"),
        same("XGROUP", "SETID", "{k}", "g1"),
        same("XGROUP", "SETID", "{k}", "g1", "notanid"),
        same("XGROUP", "DESTROY", "{k}"),
        same("XGROUP", "CREATECONSUMER", "{k}", "g1"),
        same("XGROUP", "DELCONSUMER", "{k}", "g1"),
        same("XINFO"),
        same("XINFO", "BOGUS", "{k}"),
        same("XINFO", "GROUPS"),
        same("XINFO", "CONSUMERS", "{k}"),
        same("XINFO", "STREAM"),
        same("XINFO", "STREAM", "{k}", "BOGUS"),
        same("XINFO", "STREAM", "{k}", "FULL", "COUNT", "x"),
        same("XACK", "{k}", "g1"),
        differs("any id", (":", 0), "XACK", "{k}", "g1", "notanid"),
        same("XPENDING", "{k}"),
        same("XPENDING", "{k}", "g1", "-", "+"),
        same("XPENDING", "{k}", "g1", "-", "+", "x"),
        same("XPENDING", "{k}", "g1", "IDLE", "x", "-", "+", "10"),
        same("XPENDING", "{k}", "g1", "bad", "+", "10"),
        same("XCLAIM", "{k}", "g1", "c1"),
        same("XCLAIM", "{k}", "g1", "c1", "x", "1-1"),
        differs("any id", ("*", []), "XCLAIM", "{k}", "g1", "c1", "0", "notanid"),
        same("XAUTOCLAIM", "{k}", "g1", "c1", "0"),
        same("XAUTOCLAIM", "{k}", "g1", "c1", "x", "0-0"),
        differs(
            "any id",
            ("*", [("$", b"0-0"), ("*", []), ("*", [])]),
            "XAUTOCLAIM",
            "{k}",
            "g1",
            "c1",
            "0",
            "notanid",
        ),
        same("XAUTOCLAIM", "{k}", "g1", "c1", "0", "0-0", "COUNT", "0"),
        same("XREADGROUP", "GROUP", "g1"),
        same("XREADGROUP", "STREAMS", "{k}", ">"),
        same("XREADGROUP", "GROUP", "g1", "c1", "STREAMS", "{k}", "{k}2", ">"),
        differs(
            "any id",
            ("*", [("*", [("$", b"{k}"), ("*", [])])]),
            "XREADGROUP",
            "GROUP",
            "g1",
            "c1",
            "STREAMS",
            "{k}",
            "notanid",
        ),
        same("TYPE"),
        same("TYPE", "{k}", "extra"),
    ],
    "errors": [
        same("LPUSH"),
        same("LPUSH", "{k}"),
        same("RPOP", "{k}", "notanumber"),
        same("RPOP", "{k}", "-1"),
        same("LRANGE", "{k}", "a", "b"),
        same("BLPOP", "{k}", "-1"),
        same("BLPOP", "{k}", "soon"),
        same("XADD", "{k}"),
        same("XREADGROUP", "GROUP", "g1", "c1", "STREAMS", "{k}"),
        same("FOO", "bar"),
        same("CLIENT", "BOGUS"),
    ],
    "connection": [
        same("PING"),
        same("PING", "hello"),
        same("ECHO", "hi"),
        same("SELECT", "0"),
        differs("one database", ("-", b"ERR DB index is out of range"), "SELECT", "1"),
        same("CLIENT", "SETNAME", "tester"),
        same("CLIENT", "GETNAME"),
        same("HELLO", "2", "SETNAME", "tester2"),
    ],
}


@pytest.fixture(scope="module")
def connections(
    redis_server: Path, resp_daemon: Daemon
) -> Iterator[tuple[RespConnection, RespConnection]]:
    assert resp_daemon.redis_port is not None
    redis, ours = RespConnection.unix(redis_server), RespConnection.tcp(resp_daemon.redis_port)
    yield redis, ours
    redis.close()
    ours.close()


@pytest.fixture(scope="module")
def reference(redis_server: Path) -> Iterator[RespConnection]:
    connection = RespConnection.unix(redis_server)
    yield connection
    connection.close()


@pytest.fixture(scope="module", params=["simplequeued", "redis-server"])
def candidate(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, RespConnection]]:
    """The server whose replies must equal the reference redis-server's: simplequeued, or a
    second redis-server. The second shows that every script is reproducible (all that
    differs by nature is normalised), so a failure against simplequeued is simplequeued's."""
    if request.param == "simplequeued":
        daemon: Daemon = request.getfixturevalue("resp_daemon")
        assert daemon.redis_port is not None
        connection = RespConnection.tcp(daemon.redis_port)
        yield request.param, connection
        connection.close()
        return
    with running_redis_server(tmp_path_factory.mktemp("redis-candidate")) as path:
        connection = RespConnection.unix(path)
        yield request.param, connection
        connection.close()


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_replies_match_redis(
    script: str, reference: RespConnection, candidate: tuple[str, RespConnection]
) -> None:
    name, other = candidate
    key = f"{script}-{uuid.uuid4().hex[:8]}"
    try:
        for step in SCRIPTS[script]:
            args = [arg.replace("{k}", key) for arg in step.args]
            theirs = _comparable(args, reference.call(*args))
            mine = _comparable(args, other.call(*args))
            if step.differs is None or name == "redis-server":
                assert mine == theirs, f"{' '.join(args)}:\n redis: {theirs}\n {name}: {mine}"
            else:
                ours = _keyed(step.ours, key)
                assert mine == ours, f"{' '.join(args)} ({step.differs}): ours {mine}"
                assert mine != theirs, f"{' '.join(args)} no longer differs: unmark it"
    finally:  # a script that switched to RESP3 and failed leaves the next ones on RESP2
        reference.call("HELLO", "2")
        other.call("HELLO", "2")


@pytest.mark.parametrize("protocol", ["2", "3"])
def test_client_info_has_every_field_redis_sends(
    protocol: str, connections: tuple[RespConnection, RespConnection]
) -> None:
    """redis-py 5's client_info() reads fields by name: any one missing is a KeyError."""
    fields, kinds = [], []
    for connection in connections:
        connection.call("HELLO", protocol)
        kind, text = connection.call("CLIENT", "INFO")
        kinds.append(kind)
        fields.append([pair.split("=", 1)[0] for pair in text.decode().split()])
        connection.call("HELLO", "2")
    redis_fields, our_fields = fields
    assert kinds[0] == kinds[1]  # RESP3: a verbatim string, "txt:" and the line
    assert our_fields[: len(redis_fields)] == redis_fields


def test_readme_lists_every_allowed_difference() -> None:
    readme = " ".join((REPO_ROOT / "README.md").read_text().split())
    for kind, (where, why) in ALLOWED.items():
        assert f"| {kind} | {where} | {why} |" in readme, kind


# Fields whose values depend on when the script ran (milliseconds idle, or a Unix time in
# ms), and the sizes of Redis's internal radix tree: compared by type (integer, and >= 0 or
# -1 for "never"), not value.
TIME_FIELDS = frozenset({b"idle", b"inactive", b"seen-time", b"active-time"})
INTERNAL_FIELDS = frozenset({b"radix-tree-keys", b"radix-tree-nodes"})


def _keyed(reply: Any, key: str) -> Any:
    """`reply` with the script's key in place of `{k}`."""
    if isinstance(reply, bytes):
        return reply.replace(b"{k}", key.encode())
    if isinstance(reply, tuple):
        return tuple(_keyed(item, key) for item in reply)
    if isinstance(reply, list):
        return [_keyed(item, key) for item in reply]
    return reply


def _comparable(args: list[str], reply: Reply) -> Reply:
    """What differs by nature is normalised: HELLO's values (server version, connection
    id) to their names, and the time-dependent fields of XPENDING's extended form and of
    XINFO (idle times, seen times, delivery times of pending entries) to their type."""
    command = args[0].upper()
    if command == "HELLO" and reply[0] in ("*", "%"):
        items = reply[1]
        names = items[0::2] if reply[0] == "*" else [name for name, _ in items]
        return ("hello fields", names)
    if command == "XPENDING" and len(args) > 3 and reply[0] == "*" and reply[1]:
        return _pel(reply)
    if command == "XINFO":
        return _info(_without_job_counts(args, reply))
    return reply


def _without_job_counts(args: list[str], reply: Reply) -> Reply:
    """XINFO STREAM without FULL less the job counts simplequeued adds at its end (the
    "job counts" difference): Redis has no such fields, so only simplequeued's changes."""
    if len(args) != 3 or args[1].upper() != "STREAM" or reply[0] not in ("*", "%"):
        return reply
    counts = {("$", name.encode()) for name in JOB_COUNT_FIELDS}
    if reply[0] == "%":
        return ("%", [pair for pair in reply[1] if pair[0] not in counts])
    items = reply[1]
    kept = [item for n in range(0, len(items), 2) if items[n] not in counts
            for item in items[n : n + 2]]  # fmt: skip
    return ("*", kept)


def _time(value: Reply) -> Reply:
    kind, number = value
    return ("time", (kind, number >= 0 if kind == ":" else number))


def _pel(entries: Reply) -> Reply:
    """Pending entries (XPENDING's detail; the `pending` of XINFO STREAM FULL): each ends
    with its idle time or delivery time, then its delivery count."""
    kind, items = entries
    if kind != "*" or not items:
        return entries
    return ("*", [("*", [*e[1][:-2], _time(e[1][-2]), e[1][-1]]) for e in items])


def _field(name: Reply, value: Reply) -> Reply:
    if name[1] in TIME_FIELDS:
        return _time(value)
    if name[1] in INTERNAL_FIELDS:
        return ("internal", value[0])
    if name[1] == b"pending" and value[0] == "*":
        return _pel(value)
    return _info(value)


def _info(reply: Reply) -> Reply:
    """XINFO's replies: maps (RESP3) or flat name-value arrays (RESP2) of fields, nested."""
    kind, items = reply
    if kind == "%":
        return kind, [(name, _field(name, value)) for name, value in items]
    if kind != "*" or not items:
        return reply
    names, values = items[0::2], items[1::2]
    if len(names) == len(values) and all(_is_name(name) for name in names):
        return kind, [
            part for n, v in zip(names, values, strict=True) for part in (n, _field(n, v))
        ]
    return kind, [_info(item) for item in items]


def _is_name(item: Reply) -> bool:
    """A field name, not an entry id (a flat array of an entry's fields passes too: they
    hold no time field, so normalising them changes nothing)."""
    return item[0] == "$" and isinstance(item[1], bytes) and item[1][:1].isalpha()
