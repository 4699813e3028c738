"""Stream and consumer-group commands over a real socket (in-process engine)."""

from __future__ import annotations

import asyncio
import re

from tests.support.resp import RawClient, RespHarness, encode_command


async def add(client: RawClient, topic: str, *fields: str) -> bytes:
    reply: bytes = await client.call("XADD", topic, "*", *fields)
    return reply


async def test_xadd_generates_rising_redis_style_ids(resp: RespHarness) -> None:
    client = await resp.client()
    ids = [await add(client, "s", "n", str(n)) for n in range(5)]
    assert all(re.fullmatch(rb"\d+-\d+", i) for i in ids)
    keys = [tuple(int(part) for part in i.split(b"-")) for i in ids]
    assert keys == sorted(keys) and len(set(keys)) == 5


async def test_xadd_with_an_explicit_id_is_idempotent(resp: RespHarness) -> None:
    client = await resp.client()
    assert await client.call("XADD", "s", "order-17", "a", "1") == b"order-17"
    assert await client.call("XADD", "s", "order-17", "a", "2") == b"order-17"
    assert await client.call("XLEN", "s") == 1


async def test_xadd_nomkstream_does_not_create_a_topic(resp: RespHarness) -> None:
    client = await resp.client()
    assert await client.call("XADD", "s", "NOMKSTREAM", "*", "a", "1") is None
    assert await client.call("EXISTS", "s") == 0
    await client.send(
        encode_command("LPUSH", "s", "x") + encode_command("XADD", "s", "NOMKSTREAM", "*", "a", "1")
    )
    assert await client.reply() == 1
    assert re.fullmatch(rb"\d+-\d+", await client.reply())


async def test_xadd_accepts_trimming_options_and_rejects_odd_fields(resp: RespHarness) -> None:
    client = await resp.client()
    assert re.fullmatch(
        rb"\d+-\d+", await client.call("XADD", "s", "MAXLEN", "~", "10", "*", "a", "1")
    )
    assert await client.command("XADD", "s", "*", "a", "1", "b") == (
        b"-ERR wrong number of arguments for 'xadd' command\r\n"
    )


async def test_entries_show_object_members_as_fields(resp: RespHarness) -> None:
    client = await resp.client()
    await client.call("LPUSH", "s", '{"n":1,"tags":["a"]}', "plain")
    entries = await client.call("XRANGE", "s", "-", "+")
    assert [fields for _, fields in entries] == [
        [b"n", b"1", b"tags", b'["a"]'],
        [b"payload", b"plain"],
    ]


async def test_xrange_bounds_count_and_reverse(resp: RespHarness) -> None:
    client = await resp.client()
    ids = [await add(client, "s", "n", str(n)) for n in range(4)]
    assert [e[0] for e in await client.call("XRANGE", "s", ids[1], ids[2])] == ids[1:3]
    assert [e[0] for e in await client.call("XRANGE", "s", b"(" + ids[1], "+")] == ids[2:]
    assert [e[0] for e in await client.call("XRANGE", "s", "-", "+", "COUNT", "2")] == ids[:2]
    assert [e[0] for e in await client.call("XREVRANGE", "s", "+", "-", "COUNT", "3")] == ids[:0:-1]
    assert await client.call("XRANGE", "s", "+", "-") == []
    assert await client.command("XRANGE", "s", "x", "+") == (
        b"-ERR Invalid stream ID specified as stream command argument\r\n"
    )


async def test_xdel_deletes_pending_jobs_only(resp: RespHarness) -> None:
    client = await resp.client()
    first, second = await add(client, "s", "a", "1"), await add(client, "s", "a", "2")
    await client.call("XREADGROUP", "GROUP", "g", "c", "COUNT", "1", "STREAMS", "s", ">")
    assert await client.call("XDEL", "s", first, second, "nope") == 1  # first is claimed
    assert await client.call("XLEN", "s") == 1


async def test_xreadgroup_new_then_own_history(resp: RespHarness) -> None:
    client = await resp.client()
    ids = [await add(client, "s", "n", str(n)) for n in range(3)]
    new = await client.call("XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">")
    assert [e[0] for e in new[0][1]] == ids
    assert await client.command("XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">") == b"*-1\r\n"
    own = await client.call("XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", "0")
    assert [e[0] for e in own[0][1]] == ids
    after = await client.call("XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ids[0])
    assert [e[0] for e in after[0][1]] == ids[1:]
    other = await client.call("XREADGROUP", "GROUP", "g", "other", "STREAMS", "s", "0")
    assert other == [[b"s", []]]


async def test_xreadgroup_several_streams_resp3_map(resp: RespHarness) -> None:
    client = await resp.client()
    await client.call("HELLO", "3")
    one, two = await add(client, "s1", "a", "1"), await add(client, "s2", "b", "2")
    reply = await client.call("XREADGROUP", "GROUP", "g", "c", "STREAMS", "s1", "s2", ">", ">")
    assert reply == {b"s1": [[one, [b"a", b"1"]]], b"s2": [[two, [b"b", b"2"]]]}


async def test_xreadgroup_noack_completes_at_once(resp: RespHarness) -> None:
    client = await resp.client()
    await add(client, "s", "a", "1")
    await client.call("XREADGROUP", "GROUP", "g", "c", "NOACK", "STREAMS", "s", ">")
    assert (await client.call("XPENDING", "s", "g"))[0] == 0
    info = await client.call("XINFO", "STREAM", "s")
    assert info[info.index(b"completed") + 1] == 1


async def test_xreadgroup_block_times_out_with_null(resp: RespHarness) -> None:
    client = await resp.client()
    reply = await client.command(
        "XREADGROUP", "GROUP", "g", "c", "BLOCK", "50", "STREAMS", "s", ">"
    )
    assert reply == b"*-1\r\n"


async def test_xreadgroup_block_wakes_on_xadd(resp: RespHarness) -> None:
    reader, writer = await resp.client(), await resp.client()
    pending = asyncio.ensure_future(
        reader.call("XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", "a", "b", ">", ">")
    )
    await resp.parked(2)  # one wait per stream
    job = await add(writer, "b", "k", "v")
    assert await asyncio.wait_for(pending, 20) == [[b"b", [[job, [b"k", b"v"]]]]]


async def test_xreadgroup_syntax_errors(resp: RespHarness) -> None:
    client = await resp.client()
    assert await client.command("XREADGROUP", "GROUP", "g", "c", "STREAMS", "a", "b", ">") == (
        b"-ERR Unbalanced XREAD list of streams: for each stream key an ID or '$' must "
        b"be specified.\r\n"  # Redis 7.0's words for XREADGROUP too
    )
    assert await client.command("XREADGROUP", "GROUP", "g", "c", "WAT", "STREAMS", "a", ">") == (
        b"-ERR syntax error\r\n"
    )


async def test_xack_counts_only_claimed_jobs(resp: RespHarness) -> None:
    client = await resp.client()
    job = await add(client, "s", "a", "1")
    assert await client.call("XACK", "s", "g", job) == 0  # pending, not claimed
    await client.call("XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">")
    assert await client.call("XACK", "s", "g", job, job, "unknown") == 1


async def test_xpending_summary_and_detail(resp: RespHarness) -> None:
    client = await resp.client()
    assert await client.command("XPENDING", "s", "g") == b"*4\r\n:0\r\n$-1\r\n$-1\r\n*-1\r\n"
    ids = [await add(client, "s", "n", str(n)) for n in range(3)]
    await client.call("XREADGROUP", "GROUP", "g", "c1", "COUNT", "2", "STREAMS", "s", ">")
    await client.call("XREADGROUP", "GROUP", "g", "c2", "STREAMS", "s", ">")
    assert await client.call("XPENDING", "s", "g") == [
        3,
        ids[0],
        ids[2],
        [[b"c1", b"2"], [b"c2", b"1"]],
    ]
    detail = await client.call("XPENDING", "s", "g", "-", "+", "10", "c1")
    assert [row[0] for row in detail] == ids[:2]
    assert all(row[1] == b"c1" and row[2] >= 0 and row[3] == 1 for row in detail)
    assert await client.call("XPENDING", "s", "g", "IDLE", "600000", "-", "+", "10") == []


async def test_xclaim_moves_idle_jobs(resp: RespHarness) -> None:
    client = await resp.client()
    job = await add(client, "s", "a", "1")
    await client.call("XREADGROUP", "GROUP", "g", "c1", "STREAMS", "s", ">")
    assert await client.call("XCLAIM", "s", "g", "c2", "600000", job) == []
    assert await client.call("XCLAIM", "s", "g", "c2", "0", job, "JUSTID") == [job]
    # As in Redis, JUSTID does not count a delivery.
    assert (await client.call("XPENDING", "s", "g", "-", "+", "1"))[0][1:4:2] == [b"c2", 1]
    assert await client.call("XCLAIM", "s", "g", "c3", "0", job) == [[job, [b"a", b"1"]]]
    assert (await client.call("XPENDING", "s", "g", "-", "+", "1"))[0][1:4:2] == [b"c3", 2]


async def test_xclaim_options_are_checked_as_integers_and_ignored(resp: RespHarness) -> None:
    client = await resp.client()
    job = await add(client, "s", "a", "1")
    await client.call("XREADGROUP", "GROUP", "g", "c1", "STREAMS", "s", ">")
    for option, value in [("RETRYCOUNT", "18446744073709551616"), ("IDLE", "x"), ("TIME", "1.5")]:
        assert await client.command("XCLAIM", "s", "g", "c2", "0", job, option, value) == (
            f"-ERR Invalid {option} option argument for XCLAIM\r\n".encode()
        )
    assert (await client.call("XPENDING", "s", "g", "-", "+", "1"))[0][1] == b"c1"
    claimed = await client.call(
        "XCLAIM", "s", "g", "c2", "0", job, "IDLE", "-5", "TIME", "0", "RETRYCOUNT", "7", "JUSTID"
    )
    assert claimed == [job]
    assert (await client.call("XPENDING", "s", "g", "-", "+", "1"))[0][1:4:2] == [b"c2", 1]


async def test_xautoclaim_pages_with_a_cursor(resp: RespHarness) -> None:
    client = await resp.client()
    ids = [await add(client, "s", "n", str(n)) for n in range(3)]
    await client.call("XREADGROUP", "GROUP", "g", "dead", "STREAMS", "s", ">")
    cursor, claimed, deleted = await client.call(
        "XAUTOCLAIM", "s", "g", "new", "0", "0-0", "COUNT", "2"
    )
    assert [e[0] for e in claimed] == ids[:2] and cursor == ids[2] and deleted == []
    cursor, claimed, _ = await client.call("XAUTOCLAIM", "s", "g", "new", "0", cursor, "JUSTID")
    assert claimed == [ids[2]] and cursor == b"0-0"
    deliveries = [row[3] for row in await client.call("XPENDING", "s", "g", "-", "+", "3")]
    assert deliveries == [2, 2, 1]  # JUSTID did not count a delivery, as in Redis


async def test_xgroup_subcommands_are_accepted(resp: RespHarness) -> None:
    client = await resp.client()
    assert await client.command("XGROUP", "CREATE", "s", "g", "$", "MKSTREAM") == b"+OK\r\n"
    assert await client.call("XGROUP", "CREATECONSUMER", "s", "g", "c") == 1
    assert await client.command("XGROUP", "NOPE", "s") == (
        b"-ERR unknown subcommand 'NOPE'. Try XGROUP HELP.\r\n"
    )


async def test_xinfo_stream_of_a_missing_topic(resp: RespHarness) -> None:
    client = await resp.client()
    assert await client.command("XINFO", "STREAM", "nope") == b"-ERR no such key\r\n"


async def test_blocked_xreadgroup_of_a_client_that_hung_up_claims_nothing(
    resp: RespHarness,
) -> None:
    gone, other = await resp.client(), await resp.client()
    await gone.send(
        encode_command("XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", "s", ">")
    )
    await resp.parked(1)
    await gone.close()
    await resp.parked(0)  # the broker noticed the hang-up and dropped the read
    job = await add(other, "s", "a", "1")
    assert (await other.call("XPENDING", "s", "g"))[0] == 0
    claimed = await other.call("XREADGROUP", "GROUP", "g", "alive", "STREAMS", "s", ">")
    assert claimed == [[b"s", [[job, [b"a", b"1"]]]]]
