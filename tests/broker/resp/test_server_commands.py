"""Housekeeping commands real clients send: INFO, COMMAND, CONFIG, CLIENT, keyspace."""

from __future__ import annotations

from broker.resp.commands import TABLE
from tests.support.resp import RespHarness


async def test_info_has_redis_version_and_is_never_loading(resp: RespHarness) -> None:
    client = await resp.client()
    info = (await client.call("INFO")).decode()
    assert "redis_version:" in info and "loading:0" in info and "loading:1" not in info
    assert "# Keyspace" in info
    server_only = (await client.call("INFO", "server")).decode()
    assert server_only.startswith("# Server\r\n") and "# Clients" not in server_only


async def test_info_is_verbatim_text_in_resp3(resp: RespHarness) -> None:
    client = await resp.client()
    await client.call("HELLO", "3")
    assert (await client.command("INFO", "clients")).startswith(b"=")


async def test_command_count_info_and_docs(resp: RespHarness) -> None:
    client = await resp.client()
    assert await client.call("COMMAND", "COUNT") == len(TABLE)
    [lpush] = await client.call("COMMAND", "INFO", "lpush")
    assert lpush[:2] == [b"lpush", -3]
    assert await client.call("COMMAND", "INFO", "nope") == [None]
    docs = await client.call("COMMAND", "DOCS", "xadd")
    assert docs[0] == b"xadd" and b"summary" in docs[1]
    everything = await client.call("COMMAND")
    assert sorted(entry[0] for entry in everything) == sorted(name.encode() for name in TABLE)


async def test_config_get_is_empty(resp: RespHarness) -> None:
    client = await resp.client()
    assert await client.command("CONFIG", "GET", "maxmemory") == b"*0\r\n"
    await client.call("HELLO", "3")
    assert await client.command("CONFIG", "GET", "*") == b"%0\r\n"


async def test_client_naming_and_info(resp: RespHarness) -> None:
    client = await resp.client()
    assert await client.command("CLIENT", "SETNAME", "worker 1") == (
        b"-ERR Client names cannot contain spaces, newlines or special characters.\r\n"
    )
    assert await client.command("CLIENT", "SETNAME", "worker-1") == b"+OK\r\n"
    assert await client.call("CLIENT", "GETNAME") == b"worker-1"
    assert await client.command("CLIENT", "SETINFO", "LIB-NAME", "tests") == b"+OK\r\n"
    assert isinstance(await client.call("CLIENT", "ID"), int)
    line = (await client.call("CLIENT", "INFO")).decode()
    assert "name=worker-1" in line and "lib-name=tests" in line
    assert "name=worker-1" in (await client.call("CLIENT", "LIST")).decode()
    assert await client.command("CLIENT", "SETNAME") == (
        b"-ERR wrong number of arguments for 'client|setname' command\r\n"
    )


async def test_ping_and_echo(resp: RespHarness) -> None:
    client = await resp.client()
    assert await client.command("PING", "hi") == b"$2\r\nhi\r\n"
    assert await client.command("ECHO", "") == b"$0\r\n\r\n"
    assert await client.command("PING", "a", "b") == (
        b"-ERR wrong number of arguments for 'ping' command\r\n"
    )


async def test_keyspace_is_the_set_of_topics(resp: RespHarness) -> None:
    client = await resp.client()
    for name in ("alpha", "beta", "gamma"):
        await client.call("LPUSH", name, "x")
    assert await client.call("DBSIZE") == 3
    assert await client.call("KEYS", "*a") == [b"alpha", b"beta", b"gamma"]
    assert await client.call("KEYS", "[ab]*") == [b"alpha", b"beta"]
    assert await client.call("KEYS", "?eta") == [b"beta"]
    assert await client.call("EXISTS", "alpha", "alpha", "nope", "bad/name") == 2
    assert await client.command("TYPE", "alpha") == b"+list\r\n"
    assert await client.command("TYPE", "nope") == b"+none\r\n"


async def test_scan_pages_through_topics(resp: RespHarness) -> None:
    client = await resp.client()
    for name in ("a1", "a2", "b1"):
        await client.call("LPUSH", name, "x")
    seen: list[bytes] = []
    cursor = b"0"
    for _ in range(10):
        cursor, page = await client.call("SCAN", cursor, "COUNT", "1")
        seen += page
        if cursor == b"0":
            break
    assert seen == [b"a1", b"a2", b"b1"]
    assert await client.call("SCAN", "0", "MATCH", "a*", "COUNT", "10") == [b"0", [b"a1", b"a2"]]
    assert await client.call("SCAN", "0", "TYPE", "hash") == [b"0", []]
