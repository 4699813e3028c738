"""Fan-out through consumer groups, with redis-py, against redis-server and simplequeued.

Two groups on one stream each receive every entry and ack on their own. In one group a
consumer process is killed holding entries it never acked; XAUTOCLAIM in that group
recovers exactly those, while the other group's pending entries and deliveries stay as
they were.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid

import redis

from tests.support.resp import stream_entries

ENTRIES = 20
DOOMED_READS = 8  # what the killed consumer holds
WAIT = 60.0  # generous upper bound for anything that should happen at once
MIN_IDLE_MS = 100

# A consumer that reads, reports what it holds, then waits to be killed without acking.
DOOMED_CONSUMER = """
import json, sys, redis
client = redis.Redis.from_url(sys.argv[1], protocol=2)
reply = client.xreadgroup("billing", "doomed", {sys.argv[2]: ">"}, count=int(sys.argv[3]))
print(json.dumps([entry_id.decode() for entry_id, _ in reply[0][1]]), flush=True)
sys.stdin.read()
"""


def test_two_groups_receive_every_entry_and_recover_a_killed_consumer_in_one_group(
    redis_url: str,
) -> None:
    stream = f"fanout-{uuid.uuid4().hex[:8]}"
    with redis.Redis.from_url(redis_url, socket_timeout=WAIT) as client:
        assert client.xgroup_create(stream, "billing", id="$", mkstream=True)
        assert client.xgroup_create(stream, "audit", id="$")
        ids = [client.xadd(stream, {"n": str(n)}) for n in range(ENTRIES)]

        doomed = _kill_after_reading(redis_url, stream)
        assert doomed == ids[:DOOMED_READS]

        # Every entry reaches audit, including those billing's doomed consumer holds.
        audit = stream_entries(client.xreadgroup("audit", "auditor", {stream: ">"}, count=100))
        assert [entry_id for entry_id, _ in audit] == ids
        assert audit[3][1] == {b"n": b"3"}
        # billing's other consumer gets only what the doomed one did not take.
        steady = stream_entries(client.xreadgroup("billing", "steady", {stream: ">"}, count=100))
        assert [entry_id for entry_id, _ in steady] == ids[DOOMED_READS:]
        assert client.xack(stream, "billing", *ids[DOOMED_READS:]) == ENTRIES - DOOMED_READS

        claimed = _autoclaim_all(client, stream, "billing", "rescuer")
        assert claimed == ids[:DOOMED_READS]
        billing = client.xpending_range(stream, "billing", "-", "+", 100)
        assert [(row["message_id"], row["consumer"]) for row in billing] == [
            (entry_id, b"rescuer") for entry_id in doomed
        ]
        assert {row["times_delivered"] for row in billing} == {2}

        # audit's pending entries are untouched: all still the auditor's, delivered once.
        audit_pending = client.xpending_range(stream, "audit", "-", "+", 100)
        assert [row["message_id"] for row in audit_pending] == ids
        assert {(row["consumer"], row["times_delivered"]) for row in audit_pending} == {
            (b"auditor", 1)
        }
        assert _autoclaim_all(client, stream, "audit", "auditor") == ids  # its own entries

        assert client.xack(stream, "billing", *doomed) == DOOMED_READS
        assert client.xpending(stream, "billing")["pending"] == 0
        assert client.xpending(stream, "audit")["pending"] == ENTRIES
        assert client.xack(stream, "audit", *ids) == ENTRIES
        assert client.xpending(stream, "audit")["pending"] == 0

        groups = {group["name"]: group for group in client.xinfo_groups(stream)}
        assert sorted(groups) == [b"audit", b"billing"]
        for name, consumers in ((b"audit", 1), (b"billing", 3)):
            assert groups[name]["consumers"] == consumers
            assert groups[name]["pending"] == 0
            assert groups[name]["last-delivered-id"] == ids[-1]
        billing_consumers = {c["name"]: c for c in client.xinfo_consumers(stream, "billing")}
        assert sorted(billing_consumers) == [b"doomed", b"rescuer", b"steady"]
        assert {c["pending"] for c in billing_consumers.values()} == {0}


def _kill_after_reading(redis_url: str, stream: str) -> list[bytes]:
    """Run the doomed consumer in its own process, wait until it holds its entries, then
    SIGKILL it: it never acks them. Returns the ids it read."""
    proc = subprocess.Popen(
        [sys.executable, "-c", DOOMED_CONSUMER, redis_url, stream, str(DOOMED_READS)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line, f"the doomed consumer exited with {proc.wait(WAIT)} before reading"
        return [entry_id.encode() for entry_id in json.loads(line)]
    finally:
        proc.kill()
        proc.wait(WAIT)
        for pipe in (proc.stdin, proc.stdout):
            if pipe is not None:
                pipe.close()


def _autoclaim_all(client: redis.Redis, stream: str, group: str, consumer: str) -> list[bytes]:
    """XAUTOCLAIM (without JUSTID, so it counts a delivery) every entry of `group` idle for
    MIN_IDLE_MS, polling until they have been idle that long; returns the claimed ids."""
    deadline = time.monotonic() + WAIT
    while True:
        cursor, claimed, *_ = client.xautoclaim(stream, group, consumer, MIN_IDLE_MS, "0-0")
        assert cursor == b"0-0"
        if claimed or time.monotonic() > deadline:
            return [entry_id for entry_id, _ in claimed]
        time.sleep(MIN_IDLE_MS / 1000)
