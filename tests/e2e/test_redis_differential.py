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

import pytest

from tests.support.daemon import REPO_ROOT, Daemon
from tests.support.redis_server import Reply, RespConnection

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


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_replies_match_redis(
    script: str, connections: tuple[RespConnection, RespConnection]
) -> None:
    redis, ours = connections
    key = f"{script}-{uuid.uuid4().hex[:8]}"
    for step in SCRIPTS[script]:
        args = [arg.replace("{k}", key) for arg in step.args]
        theirs = _comparable(args, redis.call(*args))
        mine = _comparable(args, ours.call(*args))
        if step.differs is None:
            assert mine == theirs, f"{' '.join(args)}:\n redis: {theirs}\n ours:  {mine}"
        else:
            assert mine == step.ours, f"{' '.join(args)} ({step.differs}): ours {mine}"
            assert mine != theirs, f"{' '.join(args)} no longer differs: unmark it"


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


def _comparable(args: list[str], reply: Reply) -> Reply:
    """What differs by nature is left out: HELLO's values (server version, connection id)
    and the idle milliseconds of XPENDING's extended form."""
    command = args[0].upper()
    if command == "HELLO" and reply[0] in ("*", "%"):
        items = reply[1]
        names = items[0::2] if reply[0] == "*" else [name for name, _ in items]
        return ("hello fields", names)
    if command == "XPENDING" and len(args) > 3 and reply[0] == "*" and reply[1]:
        return ("*", [("*", [*entry[1][:2], ("idle", None), *entry[1][3:]]) for entry in reply[1]])
    return reply
