"""Numbers outside their ranges (common/limits.py) sent by redis-py to a real daemon: a
Redis-style `ERR ... out of range` reply, nothing changed, the connection still usable;
and payload integers beyond 64 bits come back byte for byte."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis

from tests.support.daemon import Daemon


@pytest.fixture
def client(resp_daemon: Daemon) -> Iterator[redis.Redis]:
    with redis.Redis(port=resp_daemon.redis_port or 0, socket_timeout=60) as connection:
        yield connection


def topic() -> str:
    return f"inputs-{uuid.uuid4().hex[:8]}"


@pytest.mark.parametrize(
    ("command", "reply"),
    [
        (
            ["BRPOP", "{t}", "1e15"],
            "ERR timeout is out of range, must be from 0 to 31536000 seconds",
        ),
        (
            ["BLPOP", "{t}", "inf"],
            "ERR timeout is out of range, must be from 0 to 31536000 seconds",
        ),
        (["BRPOP", "{t}", "-1"], "ERR timeout is negative"),
        (["BRPOP", "{t}", "nan"], "ERR timeout is not a float or out of range"),
        (["LPOP", "{t}", "1001"], "ERR count is out of range, must be from 0 to 1000"),
        (["RPOP", "{t}", "-1"], "ERR value is out of range, must be positive"),
        (
            ["XREADGROUP", "GROUP", "g", "c", "COUNT", "1001", "STREAMS", "{t}", ">"],
            "ERR COUNT is out of range, must be from 1 to 1000",
        ),
        (
            ["XREADGROUP", "GROUP", "g", "c", "COUNT", "-5", "STREAMS", "{t}", ">"],
            "ERR COUNT is out of range, must be from 1 to 1000",
        ),
        (
            ["XREADGROUP", "GROUP", "g", "c", "BLOCK", "31536000001", "STREAMS", "{t}", ">"],
            "ERR timeout is out of range, must be from 0 to 31536000000 milliseconds",
        ),
        (
            ["XAUTOCLAIM", "{t}", "g", "c", "0", "0", "COUNT", "1001"],
            "ERR COUNT is out of range, must be from 1 to 1000",
        ),
        (["XADD", "{t}", "x" * 257, "f", "v"], "ERR Invalid stream ID"),
        (
            ["XCLAIM", "{t}", "g", "c", "0", "1-1", "RETRYCOUNT", "18446744073709551616"],
            "ERR Invalid RETRYCOUNT option argument for XCLAIM",
        ),
        (["XCLAIM", "{t}", "g", "c", "0", "1-1", "IDLE", "1e3"], "ERR Invalid IDLE option"),
        (["XCLAIM", "{t}", "g", "c", "0", "1-1", "TIME", "soon"], "ERR Invalid TIME option"),
    ],
)
def test_out_of_range_numbers_get_an_error_and_change_nothing(
    client: redis.Redis, command: list[str], reply: str
) -> None:
    name = topic()
    client.rpush(name, b"kept")
    args = [name if word == "{t}" else word for word in command]
    with pytest.raises(redis.ResponseError) as refused:
        client.execute_command(*args)  # type: ignore[no-untyped-call]
    assert str(refused.value).startswith(reply.removeprefix("ERR "))
    assert client.llen(name) == 1  # nothing popped, claimed or added
    assert client.ping()


def test_in_range_numbers_still_work(client: redis.Redis) -> None:
    name = topic()
    client.rpush(name, *[b"%d" % n for n in range(5)])
    assert client.lpop(name, 0) == []
    assert client.lpop(name, 1000) == [b"0", b"1", b"2", b"3", b"4"]
    client.xadd(name, {"n": "1"})
    found = client.xreadgroup("g", "c", {name: ">"}, count=1000, block=1)
    entries = found[name.encode()][0] if isinstance(found, dict) else found[0][1]
    assert len(entries) == 1
    assert client.brpop([name], timeout=0.01) is None


def test_integers_beyond_64_bits_come_back_byte_for_byte(client: redis.Redis) -> None:
    name = topic()
    values = [b'{"n":123456789012345678901234}', b"[-9223372036854775809]", b"18446744073709551616"]
    client.rpush(name, *values)
    assert [client.lpop(name) for _ in values] == values
