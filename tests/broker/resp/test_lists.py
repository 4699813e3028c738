"""List commands over a real socket (in-process engine on a memory store)."""

from __future__ import annotations

import asyncio

from broker.engine import EngineSettings
from tests.broker.engine_support import CountingStore
from tests.support.resp import RespHarness, encode_command


async def test_pipelined_pushes_reply_growing_lengths_and_share_one_commit(
    resp: RespHarness,
) -> None:
    client = await resp.client()
    await client.call("PING")
    before = resp.commits()
    await client.send(b"".join(encode_command("LPUSH", "q", f"v{n}") for n in range(50)))
    assert [await client.reply() for _ in range(50)] == list(range(1, 51))
    assert resp.commits() - before <= 2


async def test_pipelined_pops_come_in_order_and_share_one_commit(resp: RespHarness) -> None:
    client = await resp.client()
    await client.call("RPUSH", "q", *[f"v{n}" for n in range(20)])
    before = resp.commits()
    await client.send(b"".join(encode_command("RPOP", "q") for _ in range(21)))
    replies = [await client.reply() for _ in range(21)]
    assert replies == [f"v{n}".encode() for n in range(20)] + [None]
    assert resp.commits() - before <= 2


async def test_a_read_in_a_pipeline_sees_the_writes_before_it(resp: RespHarness) -> None:
    client = await resp.client()
    await client.send(
        encode_command("LPUSH", "q", "a")
        + encode_command("LLEN", "q")
        + encode_command("RPOP", "q")
        + encode_command("LLEN", "q")
    )
    assert [await client.reply() for _ in range(4)] == [1, 1, b"a", 0]


async def test_a_pop_before_a_push_in_one_pipeline_finds_nothing(resp: RespHarness) -> None:
    client = await resp.client()
    await client.send(encode_command("RPOP", "q") + encode_command("LPUSH", "q", "a"))
    assert [await client.reply_bytes() for _ in range(2)] == [b"$-1\r\n", b":1\r\n"]


async def test_lpop_with_count(resp: RespHarness) -> None:
    client = await resp.client()
    await client.call("LPUSH", "q", "a", "b", "c")
    assert await client.call("LPOP", "q", "2") == [b"a", b"b"]
    assert await client.call("LPOP", "q", "5") == [b"c"]
    assert await client.command("LPOP", "q", "5") == b"*-1\r\n"
    assert await client.command("LPOP", "missing", "0") == b"*-1\r\n"
    assert await client.command("LPOP", "q", "-1") == (
        b"-ERR value is out of range, must be positive\r\n"
    )


async def test_lrange_peeks_without_claiming(resp: RespHarness) -> None:
    client = await resp.client()
    await client.call("RPUSH", "q", "a", "b", "c", "d")
    assert await client.call("LRANGE", "q", "1", "-2") == [b"b", b"c"]
    assert await client.call("LRANGE", "q", "0", "-1") == [b"a", b"b", b"c", b"d"]
    assert await client.call("LLEN", "q") == 4


async def test_brpop_takes_from_the_first_topic_with_a_job(resp: RespHarness) -> None:
    client = await resp.client()
    await client.call("LPUSH", "second", "x")
    assert await client.call("BRPOP", "first", "second", "1") == [b"second", b"x"]


async def test_brpop_timeout_is_a_null_array(resp: RespHarness) -> None:
    client = await resp.client()
    assert await client.command("BRPOP", "q", "0.05") == b"*-1\r\n"
    await client.call("HELLO", "3")
    assert await client.command("BLPOP", "q", "0.05") == b"_\r\n"


async def test_brpop_wakes_when_another_connection_pushes(resp: RespHarness) -> None:
    waiter, pusher = await resp.client(), await resp.client()
    pending = asyncio.ensure_future(waiter.call("BRPOP", "q", "0"))
    await resp.parked(1)
    assert not pending.done()
    assert b"blocked_clients:1\r\n" in await pusher.call("INFO", "clients")
    await pusher.call("LPUSH", "q", "job")
    assert await asyncio.wait_for(pending, 20) == [b"q", b"job"]


async def test_brpop_of_a_client_that_hung_up_does_not_take_a_job(resp: RespHarness) -> None:
    gone, pusher = await resp.client(), await resp.client()
    await gone.send(encode_command("BRPOP", "q", "0"))
    await resp.parked(1)
    await gone.close()
    await resp.parked(0)  # the broker noticed the hang-up and dropped the read
    await pusher.call("LPUSH", "q", "job")
    assert await pusher.call("RPOP", "q") == b"job"


async def test_brpop_timeout_must_be_a_non_negative_number(resp: RespHarness) -> None:
    client = await resp.client()
    assert await client.command("BRPOP", "q", "x") == (
        b"-ERR timeout is not a float or out of range\r\n"
    )
    assert await client.command("BRPOP", "q", "-1") == b"-ERR timeout is negative\r\n"


async def test_invalid_topic_name_says_what_is_allowed(resp: RespHarness) -> None:
    client = await resp.client()
    reply = await client.command("LPUSH", "a/b", "x")
    assert reply.startswith(b"-ERR invalid topic name 'a/b': use 1-128 characters")


async def test_payload_over_the_limit_is_refused_and_the_connection_stays(resp_factory) -> None:  # type: ignore[no-untyped-def]
    harness = await resp_factory(max_payload_bytes=100)
    client = await harness.client()
    reply = await client.command("LPUSH", "q", "x" * 101)
    assert reply.startswith(b"-ERR payload is 101 bytes, over the limit of 100")
    assert await client.call("LPUSH", "q", "x" * 50) == 1


async def test_one_bad_push_in_a_pipeline_does_not_fail_its_neighbours(resp_factory) -> None:  # type: ignore[no-untyped-def]
    harness = await resp_factory(EngineSettings(max_payload_bytes=100))
    client = await harness.client()
    # The middle value is over the limit and refused; the pushes around it still land.
    await client.send(
        encode_command("LPUSH", "q", "a")
        + encode_command("LPUSH", "q", '"' * 101)
        + encode_command("LPUSH", "q", "b")
    )
    replies = [await client.reply_bytes() for _ in range(3)]
    assert replies[0] == b":1\r\n" and replies[2] == b":2\r\n"
    assert replies[1].startswith(b"-ERR payload is")


async def test_storage_failure_answers_tryagain_and_nothing_is_acknowledged(resp_factory) -> None:  # type: ignore[no-untyped-def]
    store = CountingStore()
    harness = await resp_factory(store=store)
    client = await harness.client()
    store.fail_puts = True
    reply = await client.command("LPUSH", "q", "a")
    assert reply.startswith(b"-TRYAGAIN could not write topics/q.json")
    store.fail_puts = False
    assert await client.call("LPUSH", "q", "b") == 1  # "a" was never acknowledged, nor kept
    assert await client.call("LRANGE", "q", "0", "-1") == [b"b"]
