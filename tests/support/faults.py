"""An ObjectStore that injects faults into another one, for engine tests on any backend.

`FaultyStore(inner)` passes every call through to `inner` (memfs, localfs, S3 on moto)
except those a rule matches. `store.inject(Fault.X, op="put_if", key="topics/t.json")`
adds a rule: the `skip` first calls it matches pass, the `times` after them get the fault
(`times=None`: every one), then the rule is spent. Each injected fault is recorded in
`store.injected` as (op, key, fault), so a test can check that it happened; `store.calls`
counts the operations called. The
`faulty_store` fixture is a FaultyStore over each backend in turn (memfs, localfs, s3).

The faults, as a real store shows them:
- ERROR: the call fails with StoreUnavailable and does nothing (a dead endpoint, EIO).
- LATENCY: the call waits `seconds`, then runs (a slow disk or network).
- SPURIOUS_CONFLICT: a conditional write (put_if, delete with an ETag) fails with
  PreconditionFailed and writes nothing, though the ETag was current (S3's 409
  ConditionalRequestConflict while another write of the key is in flight).
- LOST_ANSWER: the write is done, then its answer is lost and the caller sees what a
  retrying client would: PreconditionFailed for put_if (botocore retried the PUT, which
  now meets its own write), StoreUnavailable for a delete.
- TORN_READ: get / get_if_changed return the first half of the stored bytes, with the
  stored ETag (a read cut short).
"""

from __future__ import annotations

import asyncio
import enum
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from common.store import Object, ObjectStore, PreconditionFailed, StoreUnavailable


class Fault(enum.Enum):
    ERROR = "error"
    LATENCY = "latency"
    SPURIOUS_CONFLICT = "spurious-conflict"
    LOST_ANSWER = "lost-answer"
    TORN_READ = "torn-read"


_WRITES = frozenset({"put_if", "delete"})
_READS = frozenset({"get", "get_if_changed"})
_APPLIES = {  # the operations each fault can hit
    Fault.ERROR: frozenset({"get", "get_if_changed", "put_if", "delete", "list"}),
    Fault.LATENCY: frozenset({"get", "get_if_changed", "put_if", "delete", "list"}),
    Fault.SPURIOUS_CONFLICT: _WRITES,
    Fault.LOST_ANSWER: _WRITES,
    Fault.TORN_READ: _READS,
}


@dataclass
class Rule:
    fault: Fault
    op: str | None  # None: any operation the fault applies to
    key: str | None  # None: any key; else keys starting with it
    skip: int
    times: int | None
    seconds: float

    def matches(self, op: str, key: str) -> bool:
        if op not in _APPLIES[self.fault] or self.op not in (None, op):
            return False
        return self.key is None or key.startswith(self.key)

    def fire(self) -> bool:
        """Count one matching call; True if this one gets the fault."""
        if self.skip > 0:
            self.skip -= 1
            return False
        if self.times is not None:
            self.times -= 1
        return True

    @property
    def spent(self) -> bool:
        return self.times is not None and self.times <= 0


class FaultyStore(ObjectStore):
    def __init__(self, inner: ObjectStore) -> None:
        self.inner = inner
        self.description = f"faulty({inner.description})"
        self.rules: list[Rule] = []
        self.injected: list[tuple[str, str, Fault]] = []
        self.calls: Counter[str] = Counter()  # operations called, by name

    def inject(
        self,
        fault: Fault,
        *,
        op: str | None = None,
        key: str | None = None,
        skip: int = 0,
        times: int | None = 1,
        seconds: float = 0.0,
    ) -> Rule:
        if op is not None and op not in _APPLIES[fault]:
            raise ValueError(f"{fault.value} cannot hit {op}")
        rule = Rule(fault, op, key, skip, times, seconds)
        self.rules.append(rule)
        return rule

    def clear(self) -> None:
        self.rules.clear()

    def count(self, fault: Fault) -> int:
        return sum(1 for _, _, injected in self.injected if injected is fault)

    async def _enter(self, op: str, key: str) -> set[Fault]:
        """Count the call against every rule; wait out its latency and raise its error.
        Returns the faults it gets (what is left of them is up to the operation)."""
        self.calls[op] += 1
        hit: list[Rule] = []
        for rule in list(self.rules):
            if rule.matches(op, key) and rule.fire():
                hit.append(rule)
                self.injected.append((op, key, rule.fault))
            if rule.spent:
                self.rules.remove(rule)
        delay = sum(rule.seconds for rule in hit if rule.fault is Fault.LATENCY)
        if delay:
            await asyncio.sleep(delay)  # the injected latency itself, not a wait for a signal
        faults = {rule.fault for rule in hit}
        if Fault.ERROR in faults:
            raise StoreUnavailable(key, f"{key}: injected storage error ({op})")
        return faults

    # -- the contract -----------------------------------------------------------------

    async def get(self, key: str) -> Object:
        faults = await self._enter("get", key)
        return _torn(await self.inner.get(key), faults)

    async def get_if_changed(self, key: str, etag: str | None) -> Object | None:
        faults = await self._enter("get_if_changed", key)
        found = await self.inner.get_if_changed(key, etag)
        return None if found is None else _torn(found, faults)

    async def put_if(self, key: str, data: bytes, etag: str | None) -> str:
        faults = await self._enter("put_if", key)
        if Fault.SPURIOUS_CONFLICT in faults:
            raise PreconditionFailed(key, etag)
        new_etag = await self.inner.put_if(key, data, etag)
        if Fault.LOST_ANSWER in faults:
            raise PreconditionFailed(key, etag)  # the retry met the write that landed
        return new_etag

    async def delete(self, key: str, etag: str | None = None) -> None:
        faults = await self._enter("delete", key)
        if Fault.SPURIOUS_CONFLICT in faults:
            raise PreconditionFailed(key, etag)
        await self.inner.delete(key, etag)
        if Fault.LOST_ANSWER in faults:
            raise StoreUnavailable(key, f"{key}: injected lost answer (delete)")

    async def list_level(self, prefix: str = "") -> list[str]:
        await self._enter("list", prefix)
        return await self.inner.list_level(prefix)

    async def list(self, prefix: str = "") -> list[str]:
        await self._enter("list", prefix)
        return await self.inner.list(prefix)

    async def close(self) -> None:
        await self.inner.close()


def _torn(found: Object, faults: set[Fault]) -> Object:
    if Fault.TORN_READ not in faults:
        return found
    return Object(found.data[: len(found.data) // 2], found.etag)


@pytest.fixture(params=["memfs", "localfs", "s3"])
async def faulty_store(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[FaultyStore]:
    from tests.support.stores import open_backend  # a plugin too: imported once registered

    async with open_backend(request, tmp_path, request.param) as backend:
        yield FaultyStore(backend)
