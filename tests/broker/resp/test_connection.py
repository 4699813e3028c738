"""The listener over a real socket, spoken to in raw bytes (in-process engine on memory)."""

from __future__ import annotations

import asyncio

from tests.support.resp import RespHarness, encode_command


async def test_ping_multibulk(resp: RespHarness) -> None:
    client = await resp.client()
    assert await client.command("PING") == b"+PONG\r\n"


async def test_ping_inline(resp: RespHarness) -> None:
    client = await resp.client()
    await client.send(b"PING\r\n")
    assert await client.reply_bytes() == b"+PONG\r\n"


async def test_request_sent_one_byte_at_a_time_is_answered_once_complete(
    resp: RespHarness,
) -> None:
    client = await resp.client()
    for byte in encode_command("ECHO", "hello"):
        await client.send(bytes([byte]))
    assert await client.reply_bytes() == b"$5\r\nhello\r\n"


async def test_pipeline_replies_come_in_order(resp: RespHarness) -> None:
    client = await resp.client()
    await client.send(encode_command("ECHO", "a") + b"PING\r\n" + encode_command("ECHO", "b"))
    replies = [await client.reply_bytes() for _ in range(3)]
    assert replies == [b"$1\r\na\r\n", b"+PONG\r\n", b"$1\r\nb\r\n"]


async def test_unknown_command_uses_redis_wording(resp: RespHarness) -> None:
    client = await resp.client()
    assert await client.command("FOO", "a", "b") == (
        b"-ERR unknown command 'FOO', with args beginning with: 'a' 'b' \r\n"
    )


async def test_wrong_arity_uses_redis_wording(resp: RespHarness) -> None:
    client = await resp.client()
    assert await client.command("LPUSH", "q") == (
        b"-ERR wrong number of arguments for 'lpush' command\r\n"
    )


async def test_unknown_subcommand_uses_redis_wording(resp: RespHarness) -> None:
    client = await resp.client()
    assert await client.command("CLIENT", "NOPE") == (
        b"-ERR unknown subcommand 'NOPE'. Try CLIENT HELP.\r\n"
    )


async def test_protocol_error_answers_earlier_requests_then_closes(resp: RespHarness) -> None:
    client = await resp.client()
    await client.send(encode_command("PING") + b"*1\r\n$x\r\n" + encode_command("PING"))
    assert await client.read_until_closed() == (
        b"+PONG\r\n-ERR Protocol error: invalid bulk length\r\n"
    )


async def test_protocol_error_closes_only_that_connection(resp: RespHarness) -> None:
    bad, good = await resp.client(), await resp.client()
    await bad.send(b"*1\r\n:1\r\n")
    assert await bad.read_until_closed() == b"-ERR Protocol error: expected '$', got ':'\r\n"
    assert await good.command("PING") == b"+PONG\r\n"


async def test_quit_replies_ok_and_closes(resp: RespHarness) -> None:
    client = await resp.client()
    await client.send(encode_command("QUIT") + encode_command("PING"))
    assert await client.read_until_closed() == b"+OK\r\n"


async def test_hello_3_switches_to_resp3_replies(resp: RespHarness) -> None:
    client = await resp.client()
    hello = await client.call("HELLO", "3")
    assert hello[b"proto"] == 3 and hello[b"server"] == b"redis"
    assert await client.command("CLIENT", "GETNAME") == b"_\r\n"
    assert await client.command("HELLO", "2") != b""
    assert await client.command("CLIENT", "GETNAME") == b"$-1\r\n"


async def test_hello_with_unsupported_version_is_refused(resp: RespHarness) -> None:
    client = await resp.client()
    assert await client.command("HELLO", "4") == b"-NOPROTO unsupported protocol version\r\n"


async def test_hello_setname_names_the_connection(resp: RespHarness) -> None:
    client = await resp.client()
    await client.command("HELLO", "3", "SETNAME", "w1")
    assert await client.command("CLIENT", "GETNAME") == b"$2\r\nw1\r\n"


async def test_select_0_only(resp: RespHarness) -> None:
    client = await resp.client()
    assert await client.command("SELECT", "0") == b"+OK\r\n"
    assert await client.command("SELECT", "1") == b"-ERR DB index is out of range\r\n"


async def test_auth_is_required_when_a_token_is_set(resp_factory) -> None:  # type: ignore[no-untyped-def]
    harness = await resp_factory(auth_token="s3cret")
    client = await harness.client()
    assert await client.command("LLEN", "q") == b"-NOAUTH Authentication required.\r\n"
    assert await client.command("AUTH", "nope") == (
        b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"
    )
    assert await client.command("AUTH", "s3cret") == b"+OK\r\n"
    assert await client.command("LLEN", "q") == b":0\r\n"


async def test_hello_auth_authenticates_and_plain_hello_is_refused(resp_factory) -> None:  # type: ignore[no-untyped-def]
    harness = await resp_factory(auth_token="s3cret")
    client = await harness.client()
    refused = await client.command("HELLO", "3")
    assert refused.startswith(b"-NOAUTH HELLO must be called with the client already authenticated")
    assert (await client.call("HELLO", "3", "AUTH", "default", "s3cret"))[b"proto"] == 3
    assert await client.command("LLEN", "q") == b":0\r\n"


async def test_auth_without_a_configured_token_is_an_error(resp: RespHarness) -> None:
    client = await resp.client()
    assert (await client.command("AUTH", "x")).startswith(
        b"-ERR AUTH <password> called without any password configured"
    )


async def test_unauthenticated_clients_cannot_send_big_requests(resp_factory) -> None:  # type: ignore[no-untyped-def]
    harness = await resp_factory(auth_token="s3cret")
    client = await harness.client()
    await client.send(b"*1\r\n$100000\r\n")
    assert await client.read_until_closed() == b"-ERR Protocol error: invalid bulk length\r\n"


async def test_connections_over_the_limit_are_refused(resp_factory) -> None:  # type: ignore[no-untyped-def]
    harness = await resp_factory(max_connections=1)
    first = await harness.client()
    assert await first.command("PING") == b"+PONG\r\n"
    second = await harness.client()
    assert await second.read_until_closed() == b"-ERR max number of clients reached\r\n"
    assert await first.command("PING") == b"+PONG\r\n"


async def test_close_ends_idle_connections(resp_factory) -> None:  # type: ignore[no-untyped-def]
    harness = await resp_factory()
    client = await harness.client()
    assert await client.command("PING") == b"+PONG\r\n"
    harness.server.close()
    await asyncio.wait_for(harness.server.wait_closed(), 20)
    assert await client.read_until_closed() == b""
