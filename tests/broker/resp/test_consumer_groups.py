"""Named consumer groups (broker/groups.py) over a real socket, in-process engine: each
group sees every entry with its own cursor, deliveries, acks and consumers; replies and
errors as redis-server gives them (checked against redis-server 7)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from broker.engine import EngineSettings
from common.models import TopicSettings
from common.store import MemoryStore
from tests.support.polling import until
from tests.support.resp import RawClient, RespHarness

Factory = Callable[..., Awaitable[RespHarness]]


def ids_of(reply: Any) -> list[bytes]:
    """The entry ids of an XREADGROUP reply (RESP2: [[key, entries]])."""
    return [entry[0] for _, entries in reply or [] for entry in entries]


def info(rows: list[Any]) -> list[dict[str, Any]]:
    """XINFO GROUPS/CONSUMERS rows (RESP2: flat lists) as dicts keyed by text."""
    return [{k.decode(): v for k, v in zip(row[::2], row[1::2], strict=True)} for row in rows]


async def read(client: RawClient, group: str, consumer: str, *more: str) -> list[bytes]:
    return ids_of(
        await client.call("XREADGROUP", "GROUP", group, consumer, *more, "STREAMS", "s", ">")
    )


async def stream(client: RawClient, n: int) -> list[bytes]:
    return [await client.call("XADD", "s", f"{i + 1}-0", "n", str(i)) for i in range(n)]


async def test_two_groups_each_receive_every_entry_and_ack_apart(resp: RespHarness) -> None:
    client = await resp.client()
    assert await client.call("XGROUP", "CREATE", "s", "a", "$", "MKSTREAM") == "OK"
    assert await client.call("XGROUP", "CREATE", "s", "b", "$") == "OK"
    ids = await stream(client, 3)
    assert await read(client, "a", "c1") == ids
    assert await read(client, "b", "c2", "COUNT", "2") == ids[:2]
    assert await read(client, "a", "c1") == []  # nothing new for a
    assert await client.call("XACK", "s", "a", *ids) == 3
    assert await client.call("XACK", "s", "a", *ids) == 0  # acked already: not counted
    # Acking in a leaves b's pending entries as they were.
    assert await client.call("XPENDING", "s", "b") == [2, ids[0], ids[1], [[b"c2", b"2"]]]
    assert await client.call("XPENDING", "s", "a") == [0, None, None, None]
    groups = info(await client.call("XINFO", "GROUPS", "s"))
    assert [(g["name"], g["pending"], g["last-delivered-id"], g["lag"]) for g in groups] == [
        (b"a", 0, ids[2], 0),
        (b"b", 2, ids[1], 1),
    ]
    assert groups[0]["entries-read"] == 3 and groups[1]["entries-read"] == 2
    # The topic's own status: pending until both groups are done with an entry.
    await client.call("XACK", "s", "b", ids[0])
    info_stream = await client.call("XINFO", "STREAM", "s")
    assert dict(zip(info_stream[::2], info_stream[1::2], strict=True))[b"groups"] == 2
    stats = resp.engine.topic("s").stats()
    assert (stats.completed, stats.pending) == (1, 2)


async def test_group_start_dollar_or_zero(resp: RespHarness) -> None:
    client = await resp.client()
    ids = await stream(client, 2)
    await client.call("XGROUP", "CREATE", "s", "new", "$")
    await client.call("XGROUP", "CREATE", "s", "all", "0")
    await client.call("XGROUP", "CREATE", "s", "after1", ids[0])
    later = await client.call("XADD", "s", "3-0", "n", "2")
    assert await read(client, "new", "c") == [later]
    assert await read(client, "all", "c") == [*ids, later]
    assert await read(client, "after1", "c") == [ids[1], later]


async def test_group_errors_as_redis(resp: RespHarness) -> None:
    client = await resp.client()
    assert await client.command("XGROUP", "CREATE", "s", "g", "$") == (
        b"-ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may"
        b" want to use the MKSTREAM option to create an empty stream automatically.\r\n"
    )
    assert await client.call("TYPE", "s") == "none"
    await client.call("XGROUP", "CREATE", "s", "g", "$", "MKSTREAM")
    assert await client.call("TYPE", "s") == "stream"
    assert await client.command("XGROUP", "CREATE", "s", "g", "0") == (
        b"-BUSYGROUP Consumer Group name already exists\r\n"
    )
    assert await client.command("XGROUP", "CREATE", "s", "h", "x") == (
        b"-ERR Invalid stream ID specified as stream command argument\r\n"
    )
    assert await client.command("XREADGROUP", "GROUP", "nog", "c", "STREAMS", "s", ">") == (
        b"-NOGROUP No such key 's' or consumer group 'nog' in XREADGROUP with GROUP option\r\n"
    )
    for command in [["XPENDING", "s", "nog"], ["XAUTOCLAIM", "s", "nog", "c", "0", "0"]]:
        assert await client.command(*command) == (
            b"-NOGROUP No such key 's' or consumer group 'nog'\r\n"
        )
    assert await client.command("XCLAIM", "s", "nog", "c", "0", "1-0") == (
        b"-NOGROUP No such key 's' or consumer group 'nog'\r\n"
    )
    assert await client.call("XACK", "s", "nog", "1-0") == 0
    for command in [["XINFO", "CONSUMERS", "s", "nog"], ["XGROUP", "SETID", "s", "nog", "0"]]:
        assert await client.command(*command) == (
            b"-NOGROUP No such consumer group 'nog' for key name 's'\r\n"
        )
    assert await client.command("XINFO", "GROUPS", "nokey") == b"-ERR no such key\r\n"
    # The topic's own queue is not consumed while it has groups.
    await client.call("XADD", "s", "*", "a", "1")
    assert (await client.command("RPOP", "s")).startswith(b"-WRONGTYPE topic 's' has consumer")


async def test_destroy_setid_and_consumers(resp: RespHarness) -> None:
    client = await resp.client()
    ids = await stream(client, 3)
    await client.call("XGROUP", "CREATE", "s", "g", "0")
    assert await client.call("XGROUP", "CREATECONSUMER", "s", "g", "idle") == 1
    assert await client.call("XGROUP", "CREATECONSUMER", "s", "g", "idle") == 0
    assert await read(client, "g", "c", "COUNT", "2") == ids[:2]
    consumers = info(await client.call("XINFO", "CONSUMERS", "s", "g"))
    assert [(c["name"], c["pending"]) for c in consumers] == [(b"c", 2), (b"idle", 0)]
    assert all(c["idle"] >= 0 for c in consumers)
    # DELCONSUMER: its pending count, and its entries leave the group (as in Redis).
    assert await client.call("XGROUP", "DELCONSUMER", "s", "g", "c") == 2
    assert await client.call("XGROUP", "DELCONSUMER", "s", "g", "c") == 0
    assert await client.call("XPENDING", "s", "g") == [0, None, None, None]
    assert await client.call("XGROUP", "SETID", "s", "g", "0") == "OK"
    assert await read(client, "g", "c") == [ids[2]]  # the others are done in the only group
    assert await client.call("XGROUP", "SETID", "s", "g", "$", "ENTRIESREAD", "5") == "OK"
    assert info(await client.call("XINFO", "GROUPS", "s"))[0]["lag"] == -2  # 3 added - 5
    assert await client.call("XGROUP", "DESTROY", "s", "g") == 1
    assert await client.call("XGROUP", "DESTROY", "s", "g") == 0
    assert await client.call("XINFO", "GROUPS", "s") == []
    # Back to the topic's own queue: the entry g had not acked is there to pop.
    assert await client.call("RPOP", "s") == b'{"n":"2"}'


async def test_reread_and_noack(resp: RespHarness) -> None:
    client = await resp.client()
    ids = await stream(client, 2)
    await client.call("XGROUP", "CREATE", "s", "g", "0")
    await client.call("XGROUP", "CREATE", "s", "quick", "0")
    assert await read(client, "g", "c") == ids
    again = await client.call("XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", "0")
    assert ids_of(again) == ids
    rows = await client.call("XPENDING", "s", "g", "-", "+", "10")
    assert [row[3] for row in rows] == [2, 2]  # a re-read is a delivery
    assert await read(client, "quick", "c", "NOACK") == ids
    assert await client.call("XPENDING", "s", "quick") == [0, None, None, None]


async def test_a_stopped_consumer_is_recovered_in_its_group_only(
    resp_factory: Factory,
) -> None:
    settings = EngineSettings(visibility_timeout=0.3, reaper_period=0.05, max_attempts=2)
    resp = await resp_factory(settings)
    client = await resp.client()
    ids = await stream(client, 2)
    await client.call("XGROUP", "CREATE", "s", "a", "0")
    await client.call("XGROUP", "CREATE", "s", "b", "0")
    assert await read(client, "a", "gone") == ids
    assert await read(client, "b", "worker") == ids
    # XAUTOCLAIM in a moves the stopped consumer's entries; b's stay with its consumer.
    following, claimed, _ = await client.call("XAUTOCLAIM", "s", "a", "rescuer", "0", "0", "JUSTID")
    assert (following, claimed) == (b"0-0", ids)
    rows = await client.call("XPENDING", "s", "b", "-", "+", "10")
    assert [(row[1], row[3]) for row in rows] == [(b"worker", 1), (b"worker", 1)]
    assert await client.call("XACK", "s", "b", *ids) == 2
    # Not acked in a: reaped by the visibility timeout, delivered again in a only.
    await until(lambda: _pending(resp, "a") == 0, "a's claims reaped")
    assert await read(client, "a", "second") == ids
    assert await read(client, "b", "worker") == []
    # Reaped again: the second delivery was the last one allowed (max_attempts 2).
    await until(lambda: _dead(resp, "a") == 2, "a's entries dead")
    assert await read(client, "a", "third") == []
    assert await client.call("XPENDING", "s", "a") == [0, None, None, None]


def _group(resp: RespHarness, name: str) -> Any:
    state = resp.engine.topic("s").current_state()
    return state.groups[name].queue


def _pending(resp: RespHarness, name: str) -> int:
    return len(_group(resp, name).claimed)


def _dead(resp: RespHarness, name: str) -> int:
    return sum(1 for rec in _group(resp, name).jobs.values() if rec.status == "dead")


async def test_groups_survive_a_new_engine_on_the_same_store(resp_factory: Factory) -> None:
    store = MemoryStore()
    first = await (await resp_factory(store=store)).client()
    ids = await stream(first, 3)
    await first.call("XGROUP", "CREATE", "s", "a", "0")
    await first.call("XGROUP", "CREATE", "s", "b", "0")
    await first.call("XGROUP", "CREATE", "s", "gone", "0")
    await read(first, "a", "c", "COUNT", "2")
    await first.call("XACK", "s", "a", ids[0])
    await first.call("XGROUP", "DESTROY", "s", "gone")
    second = await (await resp_factory(store=store)).client()
    groups = info(await second.call("XINFO", "GROUPS", "s"))
    assert [(g["name"], g["pending"], g["last-delivered-id"]) for g in groups] == [
        (b"a", 1, ids[1]),
        (b"b", 0, b"0-0"),
    ]
    assert await read(second, "a", "c") == [ids[2]]
    assert await read(second, "b", "c") == ids
    assert await second.call("TYPE", "s") == "stream"


async def test_xinfo_stream_full_lists_entries_groups_and_consumers(resp: RespHarness) -> None:
    client = await resp.client()
    ids = await stream(client, 3)
    await client.call("XGROUP", "CREATE", "s", "g", "0")
    await read(client, "g", "c", "COUNT", "2")
    plain = await client.call("XINFO", "STREAM", "s")
    assert dict(zip(plain[::2], plain[1::2], strict=True))[b"groups"] == 1
    reply = await client.call("XINFO", "STREAM", "s", "FULL", "COUNT", "2")
    full = dict(zip(reply[::2], reply[1::2], strict=True))
    assert [entry[0] for entry in full[b"entries"]] == ids[:2]
    (group,) = full[b"groups"]
    group = dict(zip(group[::2], group[1::2], strict=True))
    assert (group[b"name"], group[b"last-delivered-id"], group[b"pel-count"]) == (
        b"g",
        ids[1],
        2,
    )
    assert [(row[0], row[1], row[3]) for row in group[b"pending"]] == [
        (ids[0], b"c", 1),
        (ids[1], b"c", 1),
    ]
    (consumer,) = group[b"consumers"]
    consumer = dict(zip(consumer[::2], consumer[1::2], strict=True))
    assert (consumer[b"name"], consumer[b"pel-count"]) == (b"c", 2)
    assert await client.command("XGROUP", "CREATE", "s", "h", "0", "FOO") == (
        b"-ERR unknown subcommand or wrong number of arguments for 'CREATE'. Try XGROUP HELP.\r\n"
    )


async def test_del_removes_the_groups_as_in_redis(resp: RespHarness) -> None:
    client = await resp.client()
    await stream(client, 2)
    await client.call("XGROUP", "CREATE", "s", "g", "0")
    await read(client, "g", "c")
    assert await client.call("DEL", "s") == 1
    assert await client.call("XINFO", "GROUPS", "s") == []
    await client.call("XADD", "s", "9-0", "a", "1")
    assert await client.call("RPOP", "s") == b'{"a":"1"}'  # its own queue again


async def test_a_groups_reads_follow_the_topics_settings_once_changed(resp: RespHarness) -> None:
    """Settings changed while the stream has groups reach its groups: paused, a group
    read finds nothing; resumed, it gets the entries."""
    client = await resp.client()
    await client.call("XGROUP", "CREATE", "s", "a", "$", "MKSTREAM")
    ids = await stream(client, 2)
    topic = resp.engine.topic("s")
    await topic.change_settings(TopicSettings(paused=True))
    assert await read(client, "a", "c1") == []
    await topic.change_settings(TopicSettings(paused=False))
    assert await read(client, "a", "c1") == ids


async def test_a_group_refusal_is_decided_on_the_stored_state(resp_factory: Factory) -> None:
    """A broker whose copy predates another broker's group read does not answer XCLAIM or
    XACK from it: a refusal reads storage first, as for the topic's own queue."""
    store = MemoryStore()
    first = await (await resp_factory(store=store)).client()
    second = await (await resp_factory(store=store)).client()
    [entry] = await stream(first, 1)
    await first.call("XGROUP", "CREATE", "s", "g", "0")
    assert info(await second.call("XINFO", "GROUPS", "s"))[0]["pending"] == 0  # its copy
    assert await read(first, "g", "c1") == [entry]  # a claim the second has not seen
    moved = await second.call("XCLAIM", "s", "g", "c2", "0", entry, "JUSTID")
    assert moved == [entry]
    assert await second.call("XACK", "s", "g", entry) == 1
    third = await (await resp_factory(store=store)).client()  # reads what is stored
    assert await third.call("XPENDING", "s", "g") == [0, None, None, None]
