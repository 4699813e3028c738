"""MULTI / EXEC / DISCARD: queued commands run in order on EXEC."""

from __future__ import annotations

import asyncio

from tests.support.resp import RespHarness, encode_command


async def test_exec_runs_queued_commands_in_order(resp: RespHarness) -> None:
    client = await resp.client()
    assert await client.command("MULTI") == b"+OK\r\n"
    assert await client.command("LPUSH", "q", "a") == b"+QUEUED\r\n"
    assert await client.command("RPOP", "q") == b"+QUEUED\r\n"
    assert await client.command("LLEN", "q") == b"+QUEUED\r\n"
    assert await client.call("EXEC") == [1, b"a", 0]


async def test_pushes_in_a_transaction_share_one_commit(resp: RespHarness) -> None:
    client = await resp.client()
    await client.call("PING")
    before = resp.commits()
    pushes = b"".join(encode_command("LPUSH", "q", f"v{n}") for n in range(100))
    await client.send(encode_command("MULTI") + pushes + encode_command("EXEC"))
    replies = [await client.reply() for _ in range(102)]
    assert replies[-1] == list(range(1, 101))
    assert resp.commits() - before <= 2


async def test_a_refused_command_aborts_exec(resp: RespHarness) -> None:
    client = await resp.client()
    await client.call("MULTI")
    await client.call("LPUSH", "q", "a")
    assert (await client.command("NOPE")).startswith(b"-ERR unknown command 'NOPE'")
    assert await client.command("EXEC") == (
        b"-EXECABORT Transaction discarded because of previous errors.\r\n"
    )
    assert await client.call("LLEN", "q") == 0


async def test_errors_while_running_are_replies_in_the_array(resp: RespHarness) -> None:
    client = await resp.client()
    await client.call("MULTI")
    await client.call("XINFO", "STREAM", "missing")
    await client.call("PING")
    assert await client.command("EXEC") == b"*2\r\n-ERR no such key\r\n+PONG\r\n"


async def test_discard_and_misplaced_transaction_commands(resp: RespHarness) -> None:
    client = await resp.client()
    assert await client.command("EXEC") == b"-ERR EXEC without MULTI\r\n"
    assert await client.command("DISCARD") == b"-ERR DISCARD without MULTI\r\n"
    await client.call("MULTI")
    assert await client.command("MULTI") == b"-ERR MULTI calls can not be nested\r\n"
    await client.call("LPUSH", "q", "a")
    assert await client.command("DISCARD") == b"+OK\r\n"
    assert await client.call("LLEN", "q") == 0


EXECABORT = b"-EXECABORT Transaction discarded because of previous errors.\r\n"


async def test_a_transaction_queuing_too_many_commands_is_discarded(resp_factory) -> None:  # type: ignore[no-untyped-def]
    harness = await resp_factory(max_queued_commands=3)
    client = await harness.client()
    await client.call("MULTI")
    for n in range(3):
        assert await client.command("LPUSH", "q", f"v{n}") == b"+QUEUED\r\n"
    refused = await client.command("LPUSH", "q", "v3")
    assert refused.startswith(b"-ERR MULTI queue is full (at most 3 commands")
    assert await client.command("LPUSH", "q", "v4") == b"+QUEUED\r\n"  # kept for nothing
    assert await client.command("EXEC") == EXECABORT
    assert await client.call("LLEN", "q") == 0
    # The next transaction starts afresh.
    await client.call("MULTI")
    await client.call("LPUSH", "q", "a")
    assert await client.call("EXEC") == [1]


async def test_a_transaction_queuing_too_many_bytes_is_discarded(resp: RespHarness) -> None:
    """600 one-megabyte pushes used to be held in memory until EXEC (655 MB); now the
    transaction is dropped once its queue passes the batch size (16 MiB by default)."""
    client = await resp.client()
    await client.call("MULTI")
    payload = "x" * (1024 * 1024 - 64)
    replies = []
    for _ in range(20):
        replies.append(await client.command("LPUSH", "q", payload))
    assert replies[:16] == [b"+QUEUED\r\n"] * 16
    assert replies[16].startswith(b"-ERR MULTI queue is full")
    assert b"16777216 bytes" in replies[16]
    assert replies[17:] == [b"+QUEUED\r\n"] * 3
    session = next(iter(resp.server.state.sessions.values()))
    assert session.transaction == []  # the queued payloads are freed at once
    assert await client.command("EXEC") == EXECABORT
    assert await client.call("LLEN", "q") == 0


async def test_blocking_commands_do_not_block_inside_exec(resp: RespHarness) -> None:
    """As in Redis, BRPOP 0 / XREADGROUP BLOCK 0 inside MULTI answer at once as if timed out:
    EXEC used to wait forever, and a later push went to the (possibly gone) client."""
    client, other = await resp.client(), await resp.client()
    await client.call("MULTI")
    await client.call("BRPOP", "ghostq", "0")
    await client.call("BLPOP", "ghostq", "other", "0")
    await client.call("XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", "ghostq", ">")
    assert await asyncio.wait_for(client.command("EXEC"), 20) == b"*3\r\n*-1\r\n*-1\r\n*-1\r\n"
    await client.close()
    await other.call("LPUSH", "ghostq", "job")
    assert await other.call("LLEN", "ghostq") == 1
    assert await other.call("RPOP", "ghostq") == b"job"


async def test_blocking_commands_inside_exec_take_what_is_there(resp: RespHarness) -> None:
    client = await resp.client()
    await client.call("LPUSH", "q", "a", "b")
    await client.call("MULTI")
    await client.call("BRPOP", "q", "0")
    await client.call("XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", "q", ">")
    popped, read = await asyncio.wait_for(client.call("EXEC"), 20)
    assert popped == [b"q", b"a"]
    assert read[0][0] == b"q" and len(read[0][1]) == 1
