"""redis-py 8 against `simplequeued --redis-addr`: default settings (RESP3) and protocol=2,
sync and asyncio."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from typing import Any

import pytest
import redis
import redis.asyncio as aioredis

from tests.support.daemon import Daemon
from tests.support.resp import metric, stream_entries, wait_parked

PROTOCOLS = [pytest.param({}, id="default-resp3"), pytest.param({"protocol": 2}, id="resp2")]
WAIT = 60.0  # generous upper bound for anything that should happen "at once"


def topic(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def sync_client(daemon: Daemon, options: dict[str, Any]) -> redis.Redis:
    return redis.Redis(port=daemon.redis_port or 0, socket_timeout=60, **options)


def async_client(daemon: Daemon, options: dict[str, Any]) -> aioredis.Redis:
    return aioredis.Redis(port=daemon.redis_port or 0, socket_timeout=60, **options)


@pytest.mark.parametrize("options", PROTOCOLS)
def test_default_client_speaks_the_chosen_protocol(
    resp_daemon: Daemon, options: dict[str, Any]
) -> None:
    with sync_client(resp_daemon, options) as client:
        assert client.client_info()["resp"] == str(options.get("protocol", 3))


@pytest.mark.parametrize("options", PROTOCOLS)
def test_list_producer_consumer_sync(resp_daemon: Daemon, options: dict[str, Any]) -> None:
    name = topic("list-sync")
    with sync_client(resp_daemon, options) as producer, sync_client(resp_daemon, options) as worker:
        assert producer.lpush(name, b"one") == 1
        assert producer.rpush(name, b"two", b"three") == 3
        assert producer.llen(name) == 3
        assert producer.lrange(name, 0, -1) == [b"one", b"two", b"three"]
        assert worker.rpop(name) == b"one"
        assert tuple(worker.brpop([name], timeout=5)) == (name.encode(), b"two")
        assert worker.lpop(name, 5) == [b"three"]
        assert worker.rpop(name) is None
        assert worker.brpop([name], timeout=0.2) is None


@pytest.mark.parametrize("options", PROTOCOLS)
async def test_list_producer_consumer_asyncio(resp_daemon: Daemon, options: dict[str, Any]) -> None:
    name = topic("list-async")
    producer, worker = async_client(resp_daemon, options), async_client(resp_daemon, options)
    try:
        assert await producer.lpush(name, b"a", b"b") == 2
        assert await worker.blpop([name], timeout=5) in (
            [name.encode(), b"a"],
            (name.encode(), b"a"),
        )
        assert await worker.rpop(name) == b"b"
        assert await worker.lpop(name) is None
    finally:
        await producer.aclose()
        await worker.aclose()


@pytest.mark.parametrize("options", PROTOCOLS)
def test_consumer_group_round_trip_sync(resp_daemon: Daemon, options: dict[str, Any]) -> None:
    name = topic("group-sync")
    with sync_client(resp_daemon, options) as client:
        assert client.xgroup_create(name, "workers", id="0", mkstream=True) is True
        ids = [client.xadd(name, {"n": str(n), "kind": "demo"}) for n in range(3)]
        entries = stream_entries(client.xreadgroup("workers", "w1", {name: ">"}, count=10))
        assert [entry_id for entry_id, _ in entries] == ids
        assert entries[0][1] == {b"n": b"0", b"kind": b"demo"}
        pending = client.xpending(name, "workers")
        assert pending["pending"] == 3
        assert pending["consumers"] == [{"name": b"w1", "pending": 3}]
        detail = client.xpending_range(name, "workers", "-", "+", 10, consumername="w1")
        assert [row["message_id"] for row in detail] == ids
        assert all(row["times_delivered"] == 1 for row in detail)
        own = stream_entries(client.xreadgroup("workers", "w1", {name: "0"}))
        assert [entry_id for entry_id, _ in own] == ids
        assert client.xack(name, "workers", *ids) == 3
        assert client.xack(name, "workers", *ids) == 0
        assert client.xpending(name, "workers")["pending"] == 0
        info = client.xinfo_stream(name)
        assert info["length"] == 3 and info["completed"] == 3
        assert info["first-entry"][0] == ids[0] and info["last-entry"][0] == ids[-1]
        assert [e[0] for e in client.xrange(name)] == ids
        assert [e[0] for e in client.xrevrange(name, count=2)] == ids[::-1][:2]
        assert client.xlen(name) == 3


@pytest.mark.parametrize("options", PROTOCOLS)
async def test_consumer_group_round_trip_asyncio(
    resp_daemon: Daemon, options: dict[str, Any]
) -> None:
    name = topic("group-async")
    client = async_client(resp_daemon, options)
    try:
        await client.xgroup_create(name, "workers", id="0", mkstream=True)
        job_id = await client.xadd(name, {"task": "resize"})
        entries = stream_entries(await client.xreadgroup("workers", "w1", {name: ">"}, count=1))
        assert entries == [(job_id, {b"task": b"resize"})]
        assert await client.xack(name, "workers", job_id) == 1
        assert stream_entries(await client.xreadgroup("workers", "w1", {name: ">"}) or []) == []
    finally:
        await client.aclose()


@pytest.mark.parametrize("options", PROTOCOLS)
def test_xreadgroup_block_wakes_on_xadd_from_another_connection(
    resp_daemon: Daemon, options: dict[str, Any]
) -> None:
    name = topic("block")
    result: dict[str, Any] = {}

    def consume() -> None:
        with sync_client(resp_daemon, options) as consumer:
            started = time.monotonic()
            reply = consumer.xreadgroup("g", "c", {name: ">"}, count=1, block=300_000)
            result["elapsed"] = time.monotonic() - started
            result["entries"] = stream_entries(reply)

    thread = threading.Thread(target=consume)
    thread.start()
    wait_parked(resp_daemon)
    with sync_client(resp_daemon, options) as producer:
        job_id = producer.xadd(name, {"wake": "up"})
    thread.join(WAIT)
    assert not thread.is_alive(), "XREADGROUP BLOCK did not wake up"
    assert result["entries"] == [(job_id, {b"wake": b"up"})]
    assert result["elapsed"] < WAIT  # far below the 300 s BLOCK: woken, not timed out


@pytest.mark.parametrize("options", PROTOCOLS)
def test_xautoclaim_recovers_a_job_whose_consumer_died(
    resp_daemon: Daemon, options: dict[str, Any]
) -> None:
    name = topic("autoclaim")
    with sync_client(resp_daemon, options) as producer:
        job_id = producer.xadd(name, {"work": "x"})
    doomed = sync_client(resp_daemon, options)
    assert stream_entries(doomed.xreadgroup("g", "doomed", {name: ">"}, count=1))[0][0] == job_id
    doomed.close()  # the consumer dies without XACK
    with sync_client(resp_daemon, options) as rescuer:
        deadline = time.monotonic() + WAIT
        while True:
            cursor, claimed, *_ = rescuer.xautoclaim(name, "g", "rescuer", 200, "0-0")
            if claimed or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert cursor == b"0-0"
        assert claimed == [(job_id, {b"work": b"x"})]
        detail = rescuer.xpending_range(name, "g", "-", "+", 10)
        assert detail[0]["consumer"] == b"rescuer" and detail[0]["times_delivered"] == 2
        assert rescuer.xack(name, "g", job_id) == 1


PAYLOADS = [
    pytest.param(b'{"item":"book","n":[1,2]}', id="compact-json"),
    pytest.param(b'{"item": "book", "n": [1, 2]}', id="json-with-spaces"),
    pytest.param(b"plain text, with \r\n inside", id="plain-text"),
    pytest.param(b"", id="empty"),
    pytest.param(bytes(range(256)), id="binary"),
    pytest.param(b"\xff\xfe\x00", id="invalid-utf8"),
    pytest.param(b"[1,2,3]", id="compact-array"),
    pytest.param(b'"quoted"', id="json-string"),
    pytest.param(b"42", id="json-number"),
]


@pytest.mark.parametrize("payload", PAYLOADS)
@pytest.mark.parametrize("options", PROTOCOLS)
def test_payload_bytes_round_trip_exactly(
    resp_daemon: Daemon, options: dict[str, Any], payload: bytes
) -> None:
    name = topic("bytes")
    with sync_client(resp_daemon, options) as client:
        client.lpush(name, payload)
        assert client.lrange(name, 0, 0) == [payload]
        assert client.rpop(name) == payload


def test_compact_json_is_stored_as_json_in_the_document(resp_daemon: Daemon) -> None:
    name = topic("doc")
    with sync_client(resp_daemon, {}) as client:
        client.lpush(name, b'{"item":"book"}', b'{"item": "pen"}')
    status, body = resp_daemon.request("GET", f"/topics/{name}/jobs")
    assert status == 200
    assert [job["payload"] for job in body["jobs"]] == [{"item": "book"}, '{"item": "pen"}']


def test_pipeline_of_100_lpush_costs_far_fewer_commits(daemon_factory) -> None:  # type: ignore[no-untyped-def]
    daemon = daemon_factory("--backend", "memfs", redis=True)
    name = topic("pipeline")
    with sync_client(daemon, {}) as client:
        client.ping()
        before = metric(daemon, "sq_commits_total")
        pipe = client.pipeline(transaction=False)
        for n in range(100):
            pipe.lpush(name, f"job-{n}")
        pipe.llen(name)
        replies = pipe.execute()
        after = metric(daemon, "sq_commits_total")
        assert replies[:100] == list(range(1, 101))  # each push sees the ones before it
        assert replies[100] == 100  # and a read sees every write before it
        assert after - before <= 5, f"{after - before} commits for 100 pipelined LPUSHes"
        assert client.lrange(name, 0, 2) == [b"job-0", b"job-1", b"job-2"]
        assert metric(daemon, "sq_resp_connections") >= 1
        pops = client.pipeline(transaction=False)
        for _ in range(100):
            pops.rpop(name)
        assert pops.execute() == [f"job-{n}".encode() for n in range(100)]
        assert metric(daemon, "sq_commits_total") - after <= 5


def test_payload_over_the_limit_is_refused(daemon_factory) -> None:  # type: ignore[no-untyped-def]
    daemon = daemon_factory("--backend", "memfs", "--max-payload-bytes", "1000", redis=True)
    with sync_client(daemon, {}) as client:
        with pytest.raises(redis.ResponseError, match="over the limit of 1000"):
            client.lpush("big", b"x" * 1001)
        # The limit applies to the payload as stored: a JSON string (quotes included).
        assert client.lpush("big", b"x" * 998) == 1  # and the connection is still fine


def test_auth_token_with_redis_py(daemon_factory) -> None:  # type: ignore[no-untyped-def]
    daemon = daemon_factory("--backend", "memfs", "--auth-token", "t0ken", redis=True)
    with sync_client(daemon, {"password": "t0ken"}) as client:
        assert client.lpush("secure", b"x") == 1
    with sync_client(daemon, {"protocol": 2, "password": "t0ken"}) as client:
        assert client.llen("secure") == 1
    with sync_client(daemon, {}) as client, pytest.raises(redis.AuthenticationError):
        client.llen("secure")


def test_daemon_stops_while_clients_are_blocked(daemon_factory) -> None:  # type: ignore[no-untyped-def]
    daemon = daemon_factory("--backend", "memfs", redis=True)
    outcomes: list[BaseException | object] = []

    def block() -> None:
        with sync_client(daemon, {}) as client:
            try:
                outcomes.append(client.brpop(["never"], timeout=0))
            except (redis.ResponseError, redis.ConnectionError) as exc:
                outcomes.append(exc)

    threads = [threading.Thread(target=block) for _ in range(3)]
    for thread in threads:
        thread.start()
    wait_parked(daemon, 3)
    assert daemon.stop() == 0
    for thread in threads:
        thread.join(WAIT)
        assert not thread.is_alive()
    # Each blocked client was answered ("retry elsewhere") or disconnected, never left hanging.
    assert len(outcomes) == 3
    assert all(isinstance(outcome, redis.RedisError) for outcome in outcomes)


@pytest.mark.parametrize("options", PROTOCOLS)
def test_default_transactional_pipeline(resp_daemon: Daemon, options: dict[str, Any]) -> None:
    name = topic("multi")
    with sync_client(resp_daemon, options) as client:
        pipe = client.pipeline()  # redis-py's default: MULTI ... EXEC
        pipe.lpush(name, b"a", b"b").rpop(name).llen(name)
        assert pipe.execute() == [2, b"a", 1]


@pytest.mark.parametrize("options", PROTOCOLS)
def test_blocking_commands_in_a_transaction_do_not_block(
    resp_daemon: Daemon, options: dict[str, Any]
) -> None:
    """As in Redis: EXEC answers at once, and the job pushed afterwards stays pending."""
    name = topic("multi-block")
    with sync_client(resp_daemon, options) as client:  # its socket_timeout fails a hang
        pipe = client.pipeline()
        pipe.brpop([name], timeout=0)
        pipe.xreadgroup("g", "c", {name: ">"}, block=0)
        popped, read = pipe.execute()
        assert popped is None and not read  # nil (redis-py shows XREADGROUP's as [] in RESP3)
    with sync_client(resp_daemon, options) as other:
        other.lpush(name, b"job")
        assert other.xpending(name, "g")["pending"] == 0
        assert other.rpop(name) == b"job"


def test_concurrent_producers_and_consumers_lose_and_repeat_nothing(resp_daemon: Daemon) -> None:
    # Pipelined pushes from several connections, pops from several others: every value
    # comes out exactly once (a list pop is one commit: claim and complete together).
    name = topic("crowd")
    per_producer, producers, consumers = 300, 4, 4
    expected = {f"p{p}-{n}".encode() for p in range(producers) for n in range(per_producer)}
    received: list[bytes] = []
    lock = threading.Lock()

    def produce(index: int) -> None:
        with sync_client(resp_daemon, {}) as client:
            for start in range(0, per_producer, 50):
                pipe = client.pipeline(transaction=False)
                for n in range(start, start + 50):
                    pipe.lpush(name, f"p{index}-{n}")
                pipe.execute()

    def consume() -> None:
        deadline = time.monotonic() + 90
        with sync_client(resp_daemon, {"protocol": 2}) as client:
            while len(received) < len(expected) and time.monotonic() < deadline:
                popped = client.brpop([name], timeout=0.5)
                if popped is not None:
                    with lock:
                        received.append(popped[1])

    threads = [threading.Thread(target=produce, args=(p,)) for p in range(producers)]
    threads += [threading.Thread(target=consume) for _ in range(consumers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
        assert not thread.is_alive()
    assert len(received) == len(expected)
    assert set(received) == expected


def test_unacked_stream_job_is_redelivered_after_the_visibility_timeout(daemon_factory) -> None:  # type: ignore[no-untyped-def]
    daemon = daemon_factory(
        "--backend", "memfs", "--visibility-timeout", "0.5", "--reaper-period", "0.1", redis=True
    )
    with sync_client(daemon, {}) as client:
        job_id = client.xadd("reaped", {"n": "1"})
        assert stream_entries(client.xreadgroup("g", "slow", {"reaped": ">"}))[0][0] == job_id
        deadline = time.monotonic() + WAIT
        entries: list[tuple[bytes, dict[bytes, bytes]]] = []
        while not entries and time.monotonic() < deadline:
            reply = client.xreadgroup("g", "next", {"reaped": ">"}, block=1000)
            entries = stream_entries(reply or [])
        assert entries == [(job_id, {b"n": b"1"})]
        [row] = client.xpending_range("reaped", "g", "-", "+", 10)
        assert row["consumer"] == b"next" and row["times_delivered"] == 2


@pytest.mark.parametrize("options", PROTOCOLS)
async def test_xreadgroup_block_wakes_on_xadd_asyncio(
    resp_daemon: Daemon, options: dict[str, Any]
) -> None:
    name = topic("block-async")
    consumer, producer = async_client(resp_daemon, options), async_client(resp_daemon, options)
    try:
        read = asyncio.ensure_future(
            consumer.xreadgroup("g", "c", {name: ">"}, count=1, block=300_000)
        )
        await asyncio.to_thread(wait_parked, resp_daemon)
        assert not read.done()
        job_id = await producer.xadd(name, {"wake": "up"})
        assert stream_entries(await asyncio.wait_for(read, WAIT)) == [(job_id, {b"wake": b"up"})]
    finally:
        await consumer.aclose()
        await producer.aclose()


@pytest.mark.parametrize("options", PROTOCOLS)
def test_xread_block_waits_for_new_entries_and_claims_nothing(
    resp_daemon: Daemon, options: dict[str, Any]
) -> None:
    name = topic("xread")
    with sync_client(resp_daemon, options) as reader, sync_client(resp_daemon, options) as writer:
        writer.xadd(name, {"old": "1"})
        parked_before = metric(resp_daemon, "sq_long_polls")
        result: dict[str, Any] = {}
        thread = threading.Thread(
            target=lambda: result.update(read=reader.xread({name: "$"}, block=0))
        )
        thread.start()
        wait_parked(resp_daemon, int(parked_before) + 1)
        entry_id = writer.xadd(name, {"new": "2"})
        thread.join(WAIT)
        assert not thread.is_alive()
        read = result["read"]
        entries = read[name.encode()][0] if isinstance(read, dict) else dict(read)[name.encode()]
        assert entries == [(entry_id, {b"new": b"2"})]  # only what came after `$`
        # A peek: both entries are still there to be claimed by a group.
        claimed = writer.xreadgroup("g", "c1", {name: ">"}, count=10)
        got = claimed[name.encode()][0] if isinstance(claimed, dict) else claimed[0][1]
        assert [fields for _, fields in got] == [{b"old": b"1"}, {b"new": b"2"}]
