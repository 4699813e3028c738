"""MULTI / EXEC / DISCARD: queued commands run in order on EXEC."""

from __future__ import annotations

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
