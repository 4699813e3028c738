"""Finding the broker through the registry in storage (`broker.json`, broker/DESIGN.md).

The active broker rewrites broker.json every heartbeat period. A client trusts the record
only while its heartbeat is younger than `max_age` and its state is `active`; otherwise it
says so (BrokerStale) instead of sending requests to a broker that is probably gone.

BrokerLocator is what `Client.discover` uses to fail over: when the current broker stops
answering, it re-reads the registry until it names a broker that answers /healthz (a
standby takes over after the old heartbeat expires, or at once after a clean stop), for at
most `failover_timeout` seconds.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from common.errors import BrokerUnavailable
from common.keys import BROKER_KEY
from common.models import BrokerRecord, BrokerState, DocumentInvalid, load_document, utc_now
from common.store.base import NotFound, ObjectStore, StoreError

log = logging.getLogger("simplequeue.discovery")


class BrokerNotFound(BrokerUnavailable):
    """No usable broker.json in the store."""

    default_code = "broker_not_found"


class BrokerStale(BrokerUnavailable):
    """broker.json names a broker whose heartbeat is too old, or that is stopping."""

    default_code = "broker_stale"


def _where(store: ObjectStore) -> str:
    return store.description or type(store).__name__


async def read_record(store: ObjectStore) -> BrokerRecord:
    """The registry as stored, fresh or not; raises BrokerNotFound / BrokerUnavailable."""
    try:
        stored = await store.get(BROKER_KEY)
    except NotFound:
        raise BrokerNotFound(
            f"no broker registered in {_where(store)} ({BROKER_KEY} is missing): start "
            "simplequeued on this storage, or check the storage flags"
        ) from None
    except StoreError as exc:
        raise BrokerUnavailable(f"cannot read {BROKER_KEY} from {_where(store)}: {exc}") from None
    try:
        return load_document(BrokerRecord, BROKER_KEY, stored.data)
    except DocumentInvalid as exc:
        raise BrokerNotFound(f"{exc} in {_where(store)}") from None


def heartbeat_age(record: BrokerRecord, now: datetime | None = None) -> float:
    """Seconds since the broker last rewrote its registry record."""
    return ((now or utc_now()) - record.heartbeat).total_seconds()


def check_fresh(record: BrokerRecord, max_age: float, now: datetime | None = None) -> None:
    """Raise BrokerStale unless the record is active with a heartbeat younger than max_age."""
    who = f"broker {record.broker_id} at {record.http_addr}"
    if record.state == BrokerState.STOPPING:
        raise BrokerStale(
            f"{who} is stopping and no other broker has taken over yet: start another "
            "simplequeued on this storage, or retry in a few seconds"
        )
    age = heartbeat_age(record, now)
    if age > max_age:
        raise BrokerStale(
            f"{who} last sent a heartbeat {age:.0f}s ago (more than {max_age:g}s): it is "
            "probably down; start simplequeued on this storage, or allow an older one "
            "with --max-age"
        )


async def read_broker(store: ObjectStore, *, max_age: float = 30.0) -> BrokerRecord:
    """The active broker registered in `store`; raises BrokerNotFound or BrokerStale."""
    record = await read_record(store)
    check_fresh(record, max_age)
    return record


class BrokerLocator:
    """Re-reads the registry to find the broker to use (the client's Locator)."""

    def __init__(
        self,
        store: ObjectStore,
        *,
        max_age: float = 30.0,
        failover_timeout: float | None = None,
        poll_interval: float = 0.25,
    ) -> None:
        self.store = store
        self.max_age = max_age
        # A standby takes over once the old heartbeat is older than its takeover timeout
        # (by default the same 30 s as max_age), so allow for that and one check period.
        self.failover_timeout = max_age * 2 if failover_timeout is None else failover_timeout
        self.poll_interval = poll_interval

    async def current(self) -> BrokerRecord:
        return await read_broker(self.store, max_age=self.max_age)

    async def relocate(self, failed_url: str, probe: Callable[[str], Awaitable[bool]]) -> str:
        """The address of the registered broker once it answers `probe`.

        The record is trusted when the broker itself answers, even if the registry's
        heartbeat lags; a `stopping` record is waited out."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.failover_timeout
        reason: BrokerUnavailable = BrokerUnavailable(f"broker {failed_url} is unreachable")
        while True:
            try:
                record = await read_record(self.store)
            except BrokerUnavailable as exc:
                reason = exc
            else:
                if record.state != BrokerState.STOPPING and await probe(record.http_addr):
                    if record.http_addr.rstrip("/") != failed_url.rstrip("/"):
                        log.warning("broker %s took over from %s", record.broker_id, failed_url)
                    return record.http_addr
                try:
                    check_fresh(record, self.max_age)
                    reason = BrokerUnavailable(
                        f"broker {record.broker_id} at {record.http_addr} is registered but "
                        "does not answer"
                    )
                except BrokerStale as exc:
                    reason = exc
            if loop.time() >= deadline:
                raise type(reason)(
                    f"no broker answered within {self.failover_timeout:g}s after "
                    f"{failed_url} stopped answering: {reason.message}"
                )
            await asyncio.sleep(self.poll_interval)
