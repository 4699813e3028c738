"""The chaos clients: HTTP (common.client.Client) and RESP (redis-py asyncio) producers and
consumers, each operation sent to a broker picked at random and recorded in a History.

Every call is bounded (client timeouts, claim waits, BRPOP and XREADGROUP BLOCK), so when
the run ends each client finishes the operation it is in and stops; nothing is cancelled.
Neither client library repeats a call whose outcome is unknown, except HTTP enqueue, which
carries its id (the tag) and is idempotent.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

import orjson
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from common.client import BrokerUnavailable, Client, ClientError
from common.models import Job

from .cluster import Cluster
from .history import History, Kind, Op, Outcome

T = TypeVar("T")

TIMEOUT = 10.0  # per request: generous for a loaded 2-core machine
GROUP = "chaos"
# A stream with named consumer groups, each reading every entry (broker/groups.py).
FAN_TOPIC = "chaos-fan"
FAN_GROUPS = ("billing", "audit")
NOT_REPEATED = frozenset({Kind.CLAIM, Kind.ACK, Kind.NACK})  # Client never repeats these


def tag_payload(tag: str) -> dict[Any, Any]:  # Any: what redis-py's xadd accepts
    return {"k": tag}


def tag_of(raw: bytes | str | dict[Any, Any]) -> str:
    """The tag of a payload as a client gets it back (RESP bytes, HTTP JSON, XADD fields)."""
    fields: dict[Any, Any] = orjson.loads(raw) if isinstance(raw, bytes | str) else raw
    value = fields.get("k", fields.get(b"k"))
    return value.decode() if isinstance(value, bytes) else str(value)


def _classify_http(kind: Kind, exc: Exception) -> tuple[Outcome, str]:
    if isinstance(exc, BrokerUnavailable):
        # A 503 means nothing changed; only a call that was never repeated is sure of it.
        if exc.code == "storage_unavailable" and kind in NOT_REPEATED:
            return Outcome.FAILED, exc.code
        return Outcome.UNKNOWN, exc.code
    if isinstance(exc, ClientError):
        return Outcome.REFUSED, exc.code
    return Outcome.UNKNOWN, repr(exc)


def _classify_resp(kind: Kind, exc: Exception) -> tuple[Outcome, str]:
    if isinstance(exc, ResponseError):
        return Outcome.REFUSED, str(exc).split(" ", 1)[0]
    if isinstance(exc, RedisConnectionError) and "connecting to" in str(exc):
        return Outcome.FAILED, "connect"  # never sent
    if isinstance(exc, RedisConnectionError | RedisTimeoutError | OSError | RedisError):
        return Outcome.UNKNOWN, type(exc).__name__
    return Outcome.UNKNOWN, repr(exc)


@dataclass
class Workload:
    cluster: Cluster
    history: History
    rng: random.Random
    topics: list[str]
    visibility_timeout: float
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    _http: dict[str, Client] = field(default_factory=dict)
    _resp: dict[int, aioredis.Redis] = field(default_factory=dict)
    _names: int = 0

    # --- plumbing -----------------------------------------------------------------------

    def _name(self, prefix: str) -> str:
        self._names += 1
        return f"{prefix}{self._names}"

    def _broker(self) -> int:
        return self.rng.choice(self.cluster.live() or [0])

    def _http_client(self, slot: int) -> Client:
        daemon = self.cluster.daemon(slot)
        url = daemon.http_url if daemon is not None else "http://127.0.0.1:9"  # down: refused
        if url not in self._http:
            self._http[url] = Client(url, timeout=TIMEOUT, retries=2)
        return self._http[url]

    def _resp_client(self, slot: int) -> aioredis.Redis:
        daemon = self.cluster.daemon(slot)
        port = daemon.redis_port if daemon is not None and daemon.redis_port else 9
        if port not in self._resp:
            self._resp[port] = aioredis.Redis(
                host="127.0.0.1",
                port=port,
                protocol=self.rng.choice([2, 3]),
                socket_timeout=TIMEOUT,
                socket_connect_timeout=TIMEOUT,
                retry=Retry(NoBackoff(), 0),  # never resend: the outcome is unknown
            )
        return self._resp[port]

    async def _do(
        self,
        client: str,
        slot: int,
        kind: Kind,
        topic: str,
        call: Awaitable[T],
        classify: Callable[[Kind, Exception], tuple[Outcome, str]],
        **details: Any,
    ) -> tuple[Op, T | None]:
        """Await one call and record it; the caller fills in what the answer delivered."""
        start = self.history.begin()
        try:
            result = await call
        except asyncio.CancelledError:
            self.history.record(client, slot, kind, topic, start, Outcome.UNKNOWN, **details)
            raise
        except Exception as exc:
            outcome, code = classify(kind, exc)
            op = self.history.record(
                client, slot, kind, topic, start, outcome, code=code, **details
            )
            return op, None
        return self.history.record(client, slot, kind, topic, start, Outcome.OK, **details), result

    async def _pause(self, low: float, high: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stop.wait(), self.rng.uniform(low, high))

    async def close(self) -> None:
        for http in self._http.values():
            await http.close()
        for resp in self._resp.values():
            await resp.aclose()

    def tasks(self) -> list[Callable[[str], Coroutine[Any, Any, None]]]:
        """One entry per client to run (the same function may appear twice)."""
        return [
            self.http_producer,
            self.http_producer,
            self.http_worker,
            self.http_worker,
            self.http_worker,
            self.list_producer,
            self.list_popper,
            self.list_popper,
            self.stream_producer,
            self.stream_consumer,
            self.stream_consumer,
            self.fan_producer,
            self.fan_consumer,
            self.fan_consumer,
        ]

    # --- HTTP ---------------------------------------------------------------------------

    async def http_producer(self, name: str) -> None:
        n = 0
        while not self.stop.is_set():
            n += 1
            tag, topic, slot = f"{name}-{n}", self.rng.choice(self.topics), self._broker()
            delay = 0.5 if self.rng.random() < 0.1 else None
            http = self._http_client(slot)
            await self._do(
                name,
                slot,
                Kind.ENQUEUE,
                topic,
                http.enqueue(topic, tag_payload(tag), id=tag, delay=delay),
                _classify_http,
                tags=[tag],
            )
            await self._pause(0.01, 0.08)

    async def http_worker(self, name: str) -> None:
        while not self.stop.is_set():
            worker, topic, slot = (
                self._name(f"{name}-w"),
                self.rng.choice(self.topics),
                self._broker(),
            )
            http = self._http_client(slot)
            count = self.rng.randint(1, 3)
            op, jobs = await self._do(
                name,
                slot,
                Kind.CLAIM,
                topic,
                http.claim(topic, worker, count=count, wait=1.0),
                _classify_http,
                lease=worker,
                count=count,
            )
            if not jobs:
                if op.outcome is not Outcome.OK:
                    await self._pause(0.05, 0.2)
                continue
            op.tags = tuple(tag_of(job.payload) for job in jobs)
            for job in jobs:
                await self._work_on(name, worker, topic, job)

    async def _work_on(self, name: str, worker: str, topic: str, job: Job) -> None:
        """Heartbeat a few times, sometimes stall past the lease, then ack or nack; each
        call to a random broker. An ack whose outcome is unknown is sent once more."""
        tag = tag_of(job.payload)
        vt = self.visibility_timeout
        for _ in range(self.rng.choice([0, 0, 1, 2])):
            await asyncio.sleep(self.rng.uniform(0.05, vt / 3))
            slot = self._broker()
            http = self._http_client(slot)
            await self._do(
                name,
                slot,
                Kind.HEARTBEAT,
                topic,
                http.heartbeat(topic, job.id, worker_id=worker),
                _classify_http,
                tags=[tag],
                lease=worker,
            )
        stall = self.rng.random() < 0.08
        await asyncio.sleep(
            self.rng.uniform(vt * 1.2, vt * 2) if stall else self.rng.uniform(0, 0.1)
        )
        kind = Kind.NACK if self.rng.random() < 0.1 else Kind.ACK
        for _ in range(2):
            slot = self._broker()
            http = self._http_client(slot)
            if kind is Kind.NACK:
                call = http.nack(topic, job.id, worker_id=worker, error="chaos")
            else:
                call = http.ack(topic, job.id, worker_id=worker)
            op, _ = await self._do(
                name, slot, kind, topic, call, _classify_http, tags=[tag], lease=worker
            )
            if op.outcome is not Outcome.UNKNOWN:
                return

    # --- RESP lists ---------------------------------------------------------------------

    async def list_producer(self, name: str) -> None:
        n = 0
        while not self.stop.is_set():
            tags = []
            for _ in range(self.rng.randint(1, 3)):
                n += 1
                tags.append(f"{name}-{n}")
            values = [orjson.dumps(tag_payload(tag)) for tag in tags]
            topic, slot = self.rng.choice(self.topics), self._broker()
            resp = self._resp_client(slot)
            push = resp.lpush if self.rng.random() < 0.5 else resp.rpush
            await self._do(
                name,
                slot,
                Kind.PUSH,
                topic,
                push(topic, *values),
                _classify_resp,
                tags=tags,
            )
            await self._pause(0.02, 0.1)

    async def list_popper(self, name: str) -> None:
        while not self.stop.is_set():
            topic, slot = self.rng.choice(self.topics), self._broker()
            resp = self._resp_client(slot)
            count = self.rng.randint(1, 2) if self.rng.random() < 0.5 else 0  # 0: BRPOP
            pop = _rpop(resp, topic, count) if count else _brpop(resp, topic)
            op, values = await self._do(
                name, slot, Kind.POP, topic, pop, _classify_resp, count=max(count, 1)
            )
            if values:
                op.tags = tuple(tag_of(value) for value in values)
            else:
                await self._pause(0.05, 0.2)  # nothing to pop, or the broker is gone

    # --- RESP streams -------------------------------------------------------------------

    async def stream_producer(self, name: str) -> None:
        n = 0
        while not self.stop.is_set():
            n += 1
            tag, topic, slot = f"{name}-{n}", self.rng.choice(self.topics), self._broker()
            resp = self._resp_client(slot)
            await self._do(
                name,
                slot,
                Kind.XADD,
                topic,
                resp.xadd(topic, tag_payload(tag)),
                _classify_resp,
                tags=[tag],
            )
            await self._pause(0.02, 0.1)

    async def stream_consumer(self, name: str) -> None:
        while not self.stop.is_set():
            await self._read_and_ack(name, self.rng.choice(self.topics), GROUP, named=False)

    # --- a fan-out stream: named consumer groups ---------------------------------------

    async def create_groups(self) -> None:
        """The fan-out stream's groups, before any client starts (every broker is up)."""
        resp = self._resp_client(0)
        for group in FAN_GROUPS:
            await resp.xgroup_create(FAN_TOPIC, group, id="$", mkstream=True)

    async def fan_producer(self, name: str) -> None:
        n = 0
        while not self.stop.is_set():
            n += 1
            tag, slot = f"{name}-{n}", self._broker()
            resp = self._resp_client(slot)
            call = resp.xadd(FAN_TOPIC, tag_payload(tag))
            await self._do(name, slot, Kind.XADD, FAN_TOPIC, call, _classify_resp, tags=[tag])
            await self._pause(0.02, 0.1)

    async def fan_consumer(self, name: str) -> None:
        """Reads one group at a time (a random one) and acks what it got."""
        while not self.stop.is_set():
            await self._read_and_ack(name, FAN_TOPIC, self.rng.choice(FAN_GROUPS), named=True)

    async def _read_and_ack(self, name: str, topic: str, group: str, named: bool) -> None:
        """One XREADGROUP `>` and an XACK of each entry it got, but some: an entry not
        acked is reaped (in its group) and delivered again. `named`: a named group of the
        fan-out stream, recorded as GROUP_READ and GROUP_ACK ops that name it."""
        consumer, slot = self._name(f"{name}-c"), self._broker()
        resp = self._resp_client(slot)
        count = self.rng.randint(1, 3)
        kinds = (Kind.GROUP_READ, Kind.GROUP_ACK) if named else (Kind.XREADGROUP, Kind.XACK)
        which = {"group": group} if named else {}
        read = resp.xreadgroup(group, consumer, {topic: ">"}, count=count, block=500)
        op, reply = await self._do(
            name, slot, kinds[0], topic, read, _classify_resp, lease=consumer, count=count, **which
        )
        entries = _stream_entries(reply)
        if not entries:
            if op.outcome is not Outcome.OK:
                await self._pause(0.05, 0.2)
            return
        op.tags = tuple(tag_of(fields) for _, fields in entries)
        for job_id, fields in entries:
            if self.rng.random() < 0.08:
                continue  # abandoned
            await asyncio.sleep(self.rng.uniform(0, 0.1))
            slot = self._broker()
            ack = self._resp_client(slot).xack(topic, group, job_id)
            ack_op, acked = await self._do(
                name, slot, kinds[1], topic, ack, _classify_resp,
                tags=[tag_of(fields)], lease=consumer, **which,
            )  # fmt: skip
            if ack_op.outcome is Outcome.OK and acked == 0:
                ack_op.outcome, ack_op.code = Outcome.REFUSED, "xack_0"


async def _rpop(resp: aioredis.Redis, topic: str, count: int) -> list[bytes]:
    popped = await resp.rpop(topic, count)  # bytes: the client does not decode responses
    return list(cast(list[bytes] | None, popped) or [])


async def _brpop(resp: aioredis.Redis, topic: str) -> list[bytes]:
    found = cast(list[bytes] | None, await resp.brpop([topic], timeout=1))
    return [found[1]] if found else []


def _stream_entries(reply: Any) -> list[tuple[bytes, dict[bytes, bytes]]]:
    """The (id, fields) entries of an XREADGROUP reply: RESP2 gives [[key, entries]],
    redis-py's RESP3 parsing {key: [entries]}, one list deeper."""
    if not reply:
        return []
    streams = reply.values() if isinstance(reply, dict) else [item[1] for item in reply]
    found: list[tuple[bytes, dict[bytes, bytes]]] = []

    def collect(items: list[Any]) -> None:
        for item in items:
            if isinstance(item, list):
                collect(item)
            else:
                found.append((item[0], item[1]))

    for entries in streams:
        collect(entries)
    return found
