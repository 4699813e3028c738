"""The broker registry on the memory store: register, standby, take over."""

from __future__ import annotations

from broker.registry import Registry
from common.keys import BROKER_KEY
from common.models import BrokerRecord, BrokerState, load_document
from common.store import MemoryStore


def registry(store: MemoryStore, broker_id: str, takeover: float = 30.0) -> Registry:
    return Registry(
        store, broker_id, f"http://{broker_id}:8080", None, version="0.1.0",
        heartbeat_period=60, takeover_timeout=takeover,
    )  # fmt: skip


async def record(store: MemoryStore) -> BrokerRecord:
    return load_document(BrokerRecord, BROKER_KEY, (await store.get(BROKER_KEY)).data)


async def test_first_broker_registers_and_heartbeats_raise_the_generation() -> None:
    store = MemoryStore()
    a = registry(store, "a")
    await a.beat()
    assert a.state == "active" and (await record(store)).generation == 1
    await a.beat()
    assert (await record(store)).generation == 2
    assert a.health()["active_broker"]["broker_id"] == "a"


async def test_second_broker_stays_standby_while_the_heartbeat_is_fresh() -> None:
    store = MemoryStore()
    a, b = registry(store, "a"), registry(store, "b")
    await a.beat()
    await b.beat()
    assert (a.state, b.state) == ("active", "standby")
    assert b.health() == {
        "broker_id": "b",
        "active": False,
        "state": "standby",
        "active_broker": (await record(store)).model_dump(mode="json", exclude_none=True),
    }


async def test_stale_heartbeat_is_taken_over() -> None:
    store = MemoryStore()
    a, b = registry(store, "a"), registry(store, "b", takeover=0.0)
    await a.beat()
    await b.beat()
    assert b.state == "active" and (await record(store)).broker_id == "b"
    await a.beat()  # a sees b's fresh record (a's takeover timeout is 30 s)
    assert a.state == "standby"


async def test_stopping_broker_hands_over_at_once() -> None:
    store = MemoryStore()
    a, b = registry(store, "a"), registry(store, "b")
    await a.start()
    await b.beat()
    await a.stop()
    assert (await record(store)).state is BrokerState.STOPPING
    await b.beat()
    assert b.state == "active"
