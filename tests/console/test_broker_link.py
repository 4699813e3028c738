from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from common.keys import BROKER_KEY
from common.models import BrokerRecord, BrokerState, dump_document, utc_now
from common.store import MemoryStore
from common.store.localfs import LocalFSStore
from console.broker_link import BrokerLink, LinkState

NOBODY = "http://127.0.0.1:9"  # nothing listens on the discard port


async def registry(heartbeat_age: float, state: BrokerState = BrokerState.ACTIVE) -> MemoryStore:
    store = MemoryStore()
    now = utc_now()
    record = BrokerRecord(
        generation=1,
        broker_id="node-a",
        http_addr=NOBODY,
        heartbeat=now - timedelta(seconds=heartbeat_age),
        started_at=now - timedelta(hours=1),
        version="0.1.0",
        state=state,
    )
    await store.put_if(BROKER_KEY, dump_document(record), None)
    return store


async def test_without_broker_json_there_is_no_broker_to_talk_to() -> None:
    link = BrokerLink(store=MemoryStore(), broker_url=None)
    status = await link.check()
    assert status.state is LinkState.NO_BROKER and "start simplequeued" in status.message
    assert not status.usable and link.usable_client() is None


@pytest.mark.parametrize(
    ("age", "state", "expected"),
    [
        (1.0, BrokerState.ACTIVE, LinkState.UNREACHABLE),
        (120.0, BrokerState.ACTIVE, LinkState.STALE),
        (1.0, BrokerState.STOPPING, LinkState.STOPPED),
    ],
)
async def test_a_silent_broker_is_unreachable_stale_or_stopped(
    age: float, state: BrokerState, expected: LinkState
) -> None:
    link = BrokerLink(store=await registry(age, state), broker_url=None)
    status = await link.check()
    await link.close()
    assert status.state is expected
    assert status.broker_id == "node-a" and status.address == NOBODY
    assert "node-a" in status.refusal() or NOBODY in status.refusal()


async def test_the_registered_broker_is_found_and_its_timeout_learned(
    tmp_path: Path, daemon_factory: Any
) -> None:
    daemon = daemon_factory(
        "--backend", "localfs", "--dir", str(tmp_path), "--visibility-timeout", "12"
    )
    async with LocalFSStore(tmp_path) as store:
        link = BrokerLink(store=store, broker_url=None)
        status = await link.check()
        await link.close()
    assert status.state is LinkState.CONNECTED and status.usable
    assert status.address == daemon.http_url and status.active
    assert status.visibility_timeout == 12 and status.heartbeat is not None
