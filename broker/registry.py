"""The broker registry (`broker.json`, broker/DESIGN.md "Broker registry").

At start and every heartbeat period the broker reads broker.json and, with a CAS write,
either refreshes its own heartbeat (it is active) or takes over when the record is
missing, stale (older than the takeover timeout) or `stopping`. While another broker's
heartbeat is fresh this broker is standby: it keeps serving (CAS keeps topics correct)
and keeps checking. On shutdown an active broker marks the record `stopping`, so a
standby takes over at its next check.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime
from typing import Any

from common.keys import BROKER_KEY
from common.models import (
    BrokerRecord,
    BrokerState,
    DocumentInvalid,
    dump_document,
    load_document,
    utc_now,
)
from common.store import NotFound, Object, ObjectStore, PreconditionFailed

log = logging.getLogger("simplequeue.registry")

ACTIVE, STANDBY, STOPPING = "active", "standby", "stopping"


class Registry:
    def __init__(
        self,
        store: ObjectStore,
        broker_id: str,
        http_addr: str,
        redis_addr: str | None,
        *,
        version: str,
        heartbeat_period: float = 10.0,
        takeover_timeout: float = 30.0,
    ) -> None:
        self.store = store
        self.broker_id = broker_id
        self.http_addr = http_addr
        self.redis_addr = redis_addr
        self.version = version
        self.heartbeat_period = heartbeat_period
        self.takeover_timeout = takeover_timeout
        self.started_at = utc_now()
        self.state = STANDBY
        self.active: BrokerRecord | None = None  # the record last read or written
        self.last_error: str | None = None  # why the last check failed; None if it worked
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.beat()
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="registry")

    async def stop(self) -> None:
        """Stop heartbeating; if active, mark the record `stopping` for a quick takeover."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        was_active = self.state == ACTIVE
        self.state = STOPPING
        if not was_active:
            return
        try:
            current = await self._read()
            if current is not None and current[0] and current[0].broker_id == self.broker_id:
                await self._write(current, BrokerState.STOPPING)
        except Exception as exc:
            log.warning("registry stop failed error=%r", exc)

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_period)
            await self.beat()

    async def beat(self) -> None:
        """One check: refresh our heartbeat, take over, or stay standby."""
        try:
            current = await self._read()
            record = current[0] if current else None
            if record is None or self._may_take(record):
                try:
                    await self._write(current, BrokerState.ACTIVE)
                except PreconditionFailed:
                    current = await self._read()  # another broker won the race
                    self._observe(current[0] if current else None)
            else:
                self._observe(record)
        except Exception as exc:
            self.last_error = str(exc) or repr(exc)
            log.warning("registry heartbeat failed error=%r", exc)
        else:
            self.last_error = None

    def problem(self) -> str | None:
        """For readiness: why the last heartbeat failed, or None."""
        if self.last_error is None:
            return None
        return f"the last registry heartbeat failed: {self.last_error}"

    def _may_take(self, record: BrokerRecord) -> bool:
        if record.broker_id == self.broker_id or record.state is BrokerState.STOPPING:
            return True
        return _age(record.heartbeat) > self.takeover_timeout

    def _observe(self, record: BrokerRecord | None) -> None:
        self.active = record
        new = ACTIVE if record is not None and record.broker_id == self.broker_id else STANDBY
        if new != self.state:
            holder = record.broker_id if record else "none"
            log.info("registry state=%s active_broker=%s", new, holder)
        self.state = new

    async def _read(self) -> tuple[BrokerRecord | None, Object] | None:
        try:
            stored = await self.store.get(BROKER_KEY)
        except NotFound:
            return None
        try:
            return load_document(BrokerRecord, BROKER_KEY, stored.data), stored
        except DocumentInvalid as exc:
            log.warning("registry record invalid, replacing it error=%r", str(exc))
            return None, stored

    async def _write(
        self, current: tuple[BrokerRecord | None, Object] | None, state: BrokerState
    ) -> None:
        previous = current[0] if current else None
        record = BrokerRecord(
            generation=previous.generation + 1 if previous else 1,
            broker_id=self.broker_id,
            http_addr=self.http_addr,
            redis_addr=self.redis_addr,
            heartbeat=utc_now(),
            started_at=self.started_at,
            version=self.version,
            state=state,
        )
        await self.store.put_if(
            BROKER_KEY, dump_document(record), current[1].etag if current else None
        )
        if state is BrokerState.ACTIVE:
            self._observe(record)
        else:
            self.active = record

    def health(self) -> dict[str, Any]:
        return {
            "broker_id": self.broker_id,
            "active": self.state == ACTIVE,
            "state": self.state,
            "active_broker": (
                self.active.model_dump(mode="json", exclude_none=True) if self.active else None
            ),
        }


def _age(stamp: datetime) -> float:
    return (utc_now() - stamp).total_seconds()
