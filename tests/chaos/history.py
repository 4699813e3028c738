"""What the chaos clients did: one `Op` per client operation, with its outcome.

Every job a chaos client enqueues carries a unique *tag* in its payload (`{"k": tag}`), so
a job is recognised wherever it shows up: an HTTP claim, an RPOP's bytes, an XREADGROUP
entry, or the stored document (where RESP-pushed jobs have ids the broker chose).

Outcomes say what the client can know about an operation's effect:
- OK: it took effect (the answer says so);
- REFUSED: the broker answered that it did nothing (a 404/409, `XACK` answering 0);
- FAILED: it certainly did nothing (503 `storage_unavailable` for a call that was not
  repeated);
- UNKNOWN: the connection was lost or timed out after sending: it may have taken effect.

A fan-out stream (FAN_TOPIC in tests/chaos/run.py) has named consumer groups: each group
reads every entry (GROUP_READ) and acks it (GROUP_ACK) on its own; an entry completes once
every group acked it. These ops name their group; the lease rules do not apply to them.

A *lease* is one claim: each claim call uses a worker id (XREADGROUP consumer name) of its
own, so the heartbeats, acks and nacks of a lease are the ops naming that worker and tag.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class Outcome(StrEnum):
    OK = "ok"
    REFUSED = "refused"
    FAILED = "failed"
    UNKNOWN = "unknown"


class Kind(StrEnum):
    ENQUEUE = "enqueue"  # HTTP enqueue (id = tag, retried by the client with the same id)
    PUSH = "push"  # LPUSH/RPUSH
    XADD = "xadd"
    CLAIM = "claim"  # HTTP claim: a lease per job delivered
    XREADGROUP = "xreadgroup"  # `>`: a lease per entry delivered
    POP = "pop"  # RPOP/BRPOP: claim and complete in one step
    HEARTBEAT = "heartbeat"  # HTTP, names its lease's worker
    ACK = "ack"  # HTTP, names its lease's worker
    NACK = "nack"  # HTTP, names its lease's worker
    XACK = "xack"  # completes whoever holds the claim: the broker checks no owner
    # A fan-out stream's named consumer groups: each group reads and acks every entry.
    GROUP_READ = "group_read"  # XREADGROUP `>` in a named group (`group`)
    GROUP_ACK = "group_ack"  # XACK in a named group


PRODUCE = frozenset({Kind.ENQUEUE, Kind.PUSH, Kind.XADD})
LEASE = frozenset({Kind.CLAIM, Kind.XREADGROUP})  # deliveries that start a lease
DELIVER = LEASE | {Kind.POP}
COMPLETE = frozenset({Kind.ACK, Kind.XACK, Kind.POP})
END_LEASE = frozenset({Kind.ACK, Kind.NACK, Kind.XACK})
OWNER_CHECKED = frozenset({Kind.HEARTBEAT, Kind.ACK, Kind.NACK})  # refused for a lost lease


@dataclass
class Op:
    seq: int
    client: str
    broker: int
    kind: Kind
    topic: str
    start: float  # time.monotonic() when sent
    end: float  # ... and when its outcome was known
    outcome: Outcome
    tags: tuple[str, ...] = ()  # produced, delivered (OK deliveries only), or acted on
    lease: str | None = None  # the claim's worker id / consumer name
    count: int = 1  # jobs asked for (a pop or claim of UNKNOWN outcome may have taken these)
    code: str | None = None  # the refusal's code, or the error of an UNKNOWN/FAILED op
    group: str | None = None  # the named consumer group of a GROUP_READ or GROUP_ACK

    def may_have_acted(self) -> bool:
        return self.outcome in (Outcome.OK, Outcome.UNKNOWN)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class History:
    ops: list[Op] = field(default_factory=list)

    def begin(self) -> float:
        return time.monotonic()

    def record(
        self,
        client: str,
        broker: int,
        kind: Kind,
        topic: str,
        start: float,
        outcome: Outcome,
        **details: Any,
    ) -> Op:
        op = Op(len(self.ops), client, broker, kind, topic, start, time.monotonic(), outcome)
        for name, value in details.items():
            setattr(op, name, tuple(value) if name == "tags" else value)
        self.ops.append(op)
        return op
