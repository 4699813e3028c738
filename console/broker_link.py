"""Which broker the console talks to, and whether it answers.

`BrokerLink.check()` is called every poll interval. It reads broker.json (when the console
reads storage) to learn the active broker and its heartbeat, asks that broker's `/healthz`
(which also says whether it is ready, and why not), and returns a `BrokerStatus` for the
header. When the registered address changes (a
failover, a restart on another port) the link moves to the new broker by itself; a broker
that answers as standby points at the active one, which the next check follows. A broker
given with `--broker` is pinned: it is never swapped for another. No Textual here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from common.client import Client, ClientError
from common.discovery import heartbeat_age, read_record
from common.models import BrokerRecord, BrokerState
from common.store import ObjectStore

DEFAULT_VISIBILITY_TIMEOUT = 30.0
# A registry heartbeat older than this is a broker that stopped beating (broker/DESIGN.md's
# takeover timeout): the header says "stale" rather than pretending it is alive.
STALE_AFTER = 30.0


class LinkState(StrEnum):
    CONNECTING = "connecting"  # no check finished yet
    CONNECTED = "connected"  # the active broker answers; actions are allowed
    STANDBY = "standby"  # a broker answers but is not the active one
    UNREACHABLE = "unreachable"  # no answer from the broker's address
    STALE = "stale"  # no answer and its registry heartbeat is old
    STOPPED = "stopped"  # no answer and broker.json says it is stopping
    NO_BROKER = "no broker"  # broker.json is missing: nothing to talk to


@dataclass(frozen=True, slots=True)
class BrokerStatus:
    state: LinkState
    message: str = ""  # one line: what is wrong and what the console does about it
    broker_id: str | None = None
    address: str | None = None
    active: bool | None = None
    heartbeat: datetime | None = None  # the active broker's last registry heartbeat
    visibility_timeout: float = DEFAULT_VISIBILITY_TIMEOUT
    max_attempts: int | None = None
    ready: bool | None = None  # the broker's readiness (/healthz "ready"); None: unknown

    @property
    def usable(self) -> bool:
        return self.state is LinkState.CONNECTED

    def refusal(self) -> str:
        """Why an action cannot run now, in one line."""
        what = {
            LinkState.CONNECTING: "the broker has not answered yet",
            LinkState.STANDBY: f"broker {self.broker_id or '?'} is a standby",
            LinkState.UNREACHABLE: f"broker {self.address or '?'} is unreachable",
            LinkState.STALE: f"broker {self.broker_id or '?'} is stale (no heartbeat)",
            LinkState.STOPPED: f"broker {self.broker_id or '?'} has stopped",
            LinkState.NO_BROKER: "no broker is registered in broker.json",
        }.get(self.state, "the broker is not available")
        return f"Action refused: {what}. The tables keep following storage; retry when connected."


ClientFactory = Callable[[str], Client]


class BrokerLink:
    def __init__(
        self,
        *,
        store: ObjectStore | None,
        broker_url: str | None,
        token: str | None = None,
        client_factory: ClientFactory | None = None,
    ) -> None:
        if store is None and broker_url is None:
            raise ValueError("a broker link needs storage (broker.json) or a broker URL")
        self.store = store
        self.pinned = broker_url
        self._factory = client_factory or (
            lambda url: Client(url, token=token, timeout=5.0, retries=1)
        )
        self.client: Client | None = None
        self._follow: str | None = None  # active broker named by a standby
        self.status = BrokerStatus(LinkState.CONNECTING, "looking for the broker")

    def usable_client(self) -> Client | None:
        """The client to act through, or None while the broker is not usable."""
        return self.client if self.status.usable else None

    async def _registry(self) -> tuple[BrokerRecord | None, str]:
        if self.store is None:
            return None, ""
        try:
            return await read_record(self.store), ""
        except ClientError as exc:  # missing, invalid or unreadable: say which
            return None, exc.message
        except Exception as exc:  # a backend error outside StoreError: same thing
            return None, f"cannot read the broker registry: {exc}"

    async def _use(self, url: str) -> Client:
        if self.client is None or self.client.base_url.rstrip("/") != url.rstrip("/"):
            old, self.client = self.client, self._factory(url)
            if old is not None:
                await old.close()
        return self.client

    async def check(self) -> BrokerStatus:
        record, problem = await self._registry()
        url = self.pinned or self._follow or (record.http_addr if record else None)
        if url is None and self.client is not None:
            url = self.client.base_url  # storage unreadable: keep trying the last broker
        self._follow = None
        if url is None:
            self.status = BrokerStatus(LinkState.NO_BROKER, problem or "no broker registered")
            return self.status
        client = await self._use(url)
        heartbeat = record.heartbeat if record else None
        broker_id = record.broker_id if record else None
        try:
            health = await client.health()
        except ClientError as exc:
            state = LinkState.UNREACHABLE
            if record is not None and record.state is BrokerState.STOPPING:
                state = LinkState.STOPPED
            elif record is not None and heartbeat_age(record) > STALE_AFTER:
                state = LinkState.STALE
            self.status = BrokerStatus(
                state,
                f"{exc.message or exc}; retrying",
                broker_id=broker_id,
                address=url,
                heartbeat=heartbeat,
                visibility_timeout=self.status.visibility_timeout,
            )
            return self.status
        self.status = self._from_health(url, health, record)
        return self.status

    def _from_health(
        self, url: str, health: dict[str, Any], record: BrokerRecord | None
    ) -> BrokerStatus:
        active_record = health.get("active_broker") or {}
        heartbeat = record.heartbeat if record else None
        if heartbeat is None and active_record.get("heartbeat"):
            heartbeat = BrokerRecord.model_validate(active_record).heartbeat
        common: dict[str, Any] = {
            "broker_id": health.get("broker_id"),
            "address": url,
            "active": bool(health.get("active")),
            "heartbeat": heartbeat,
            "visibility_timeout": float(
                health.get("visibility_timeout", DEFAULT_VISIBILITY_TIMEOUT)
            ),
            "max_attempts": health.get("max_attempts"),
            "ready": health.get("ready"),
        }
        # A broker that is not ready still answers; the header says why it may fail.
        not_ready = "" if health.get("ready", True) else _not_ready(health)
        if health.get("active"):
            return BrokerStatus(LinkState.CONNECTED, not_ready, **common)
        other = active_record.get("http_addr")
        if other and other.rstrip("/") != url.rstrip("/") and not self.pinned:
            self._follow = other
        where = f"; active broker is {other}" if other else ""
        message = "; ".join(m for m in (f"{url} answers as standby{where}", not_ready) if m)
        return BrokerStatus(LinkState.STANDBY, message, **common)

    async def close(self) -> None:
        if self.client is not None:
            await self.client.close()
            self.client = None


def _not_ready(health: dict[str, Any]) -> str:
    return "not ready: " + "; ".join(health.get("reasons") or ["no reason given"])
