"""Reading broker.json, refusing stale or stopping brokers, and following the registry to
another broker (scripted brokers; the daemon failover test is in tests/e2e)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta

import pytest

from common.client import BrokerUnavailable, Client
from common.discovery import BrokerLocator, BrokerNotFound, BrokerStale, read_broker
from common.keys import BROKER_KEY
from common.models import BrokerRecord, BrokerState, dump_document, utc_now
from common.store import MemoryStore, NotFound
from tests.support.http_stub import Stub, json_reply

HEALTHY = json_reply(200, {"status": "ok", "state": "active", "active": True})


async def register(
    store: MemoryStore,
    url: str,
    *,
    broker_id: str = "node-a",
    age: float = 0.0,
    state: BrokerState = BrokerState.ACTIVE,
) -> None:
    now = utc_now()
    record = BrokerRecord(
        generation=1,
        broker_id=broker_id,
        http_addr=url,
        heartbeat=now - timedelta(seconds=age),
        started_at=now,
        version="0.1.0",
        state=state,
    )
    try:
        etag: str | None = (await store.get(BROKER_KEY)).etag
    except NotFound:
        etag = None
    await store.put_if(BROKER_KEY, dump_document(record), etag)


async def test_fresh_active_record_is_returned() -> None:
    store = MemoryStore()
    await register(store, "http://10.0.0.5:8080")
    record = await read_broker(store, max_age=30)
    assert (record.broker_id, record.http_addr) == ("node-a", "http://10.0.0.5:8080")


async def test_missing_registry_is_broker_not_found() -> None:
    with pytest.raises(BrokerNotFound, match=r"broker\.json is missing"):
        await read_broker(MemoryStore())


async def test_invalid_registry_is_broker_not_found_naming_the_problem() -> None:
    store = MemoryStore()
    await store.put_if(BROKER_KEY, b'{"format": 1}', None)
    with pytest.raises(BrokerNotFound, match=r"broker\.json: invalid document"):
        await read_broker(store)


async def test_stale_heartbeat_is_refused() -> None:
    store = MemoryStore()
    await register(store, "http://10.0.0.5:8080", age=45)
    with pytest.raises(BrokerStale, match=r"45s ago \(more than 30s\)"):
        await read_broker(store, max_age=30)
    assert (await read_broker(store, max_age=60)).broker_id == "node-a"


async def test_stopping_broker_is_refused() -> None:
    store = MemoryStore()
    await register(store, "http://10.0.0.5:8080", state=BrokerState.STOPPING)
    with pytest.raises(BrokerStale, match="is stopping"):
        await read_broker(store)


async def test_discover_refuses_a_stale_broker() -> None:
    store = MemoryStore()
    await register(store, "http://10.0.0.5:8080", age=100)
    with pytest.raises(BrokerStale):
        await Client.discover(store, max_age=30)


async def test_client_follows_the_registry_when_its_broker_goes_away(
    http_stub_factory: Callable[[], Awaitable[Stub]],
) -> None:
    first, second = await http_stub_factory(), await http_stub_factory()
    for stub, pending in ((first, 1), (second, 2)):
        stub.script("/healthz", HEALTHY)
        stub.script("/topics/t/status", json_reply(200, {"topic": "t", "pending": pending}))
    store = MemoryStore()
    await register(store, first.url)
    async with await Client.discover(store, retries=2, backoff=0.001) as client:
        assert (await client.status("t")).pending == 1
        await first.stop()

        async def take_over_later() -> None:
            await asyncio.sleep(0.5)  # the registry still names the dead broker meanwhile
            await register(store, second.url, broker_id="node-b")

        takeover = asyncio.create_task(take_over_later())
        assert (await client.status("t")).pending == 2
        await takeover
        assert client.base_url == second.url


async def test_relocate_gives_up_after_the_failover_timeout() -> None:
    store = MemoryStore()
    await register(store, "http://127.0.0.1:9")
    locator = BrokerLocator(store, failover_timeout=0.3, poll_interval=0.05)
    probed: list[str] = []

    async def probe(url: str) -> bool:
        probed.append(url)
        return False

    with pytest.raises(BrokerUnavailable, match=r"no broker answered within 0\.3s"):
        await locator.relocate("http://127.0.0.1:9", probe)
    assert probed and set(probed) == {"http://127.0.0.1:9"}


async def test_relocate_waits_out_a_stopping_record() -> None:
    store = MemoryStore()
    await register(store, "http://a:1", state=BrokerState.STOPPING)
    locator = BrokerLocator(store, failover_timeout=10, poll_interval=0.05)

    async def probe(url: str) -> bool:
        return True

    async def take_over_later() -> None:
        await asyncio.sleep(0.3)
        await register(store, "http://b:2", broker_id="node-b")

    takeover = asyncio.create_task(take_over_later())
    assert await locator.relocate("http://a:1", probe) == "http://b:2"
    await takeover
