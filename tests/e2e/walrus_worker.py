"""A worker process built on walrus' ConsumerGroup, for tests/e2e/test_walrus.py.

Usage: python -m tests.e2e.walrus_worker URL STREAM GROUP CONSUMER [CRASHED-CONSUMER]

As every worker of a walrus deployment does, it creates the group (walrus answers False
when it exists: BUSYGROUP), takes over what a crashed consumer left pending (`claim` of
the first entry, `autoclaim` of the rest, then a re-read of its own pending entries),
acks them, and then reads, handles and acks new entries until SIGTERM. It prints one
JSON line per event: {"ready": ..., "created": ..., "recovered": [ids]} once, then
{"acked": id} per entry.
"""

from __future__ import annotations

import json
import signal
import sys
from typing import Any

from walrus import Database

READ_COUNT = 5
BLOCK_MS = 200


def main(argv: list[str]) -> None:
    url, stream, group, consumer, *crashed = argv
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    # walrus reads replies in RESP2's shape (a list per stream).
    db = Database.from_url(url, protocol=2)
    workers = db.consumer_group(group, [stream], consumer=consumer)
    created = workers.create()[stream]
    events = workers.streams[stream]
    recovered = []
    if crashed:
        stale = [row["message_id"] for row in events.pending(consumer=crashed[0])]
        if stale:
            events.claim(stale[0])
            events.autoclaim(consumer, 0, count=100)
        for entry_id, _ in events.read(last_id="0"):  # this consumer's pending entries
            events.ack(entry_id)
            recovered.append(entry_id.decode())
    emit(ready=consumer, created=created, recovered=recovered)
    while True:
        for entry_id, fields in events.read(count=READ_COUNT, block=BLOCK_MS):
            assert fields[b"n"].isdigit(), fields  # the handling: check the payload
            assert events.ack(entry_id) == 1
            emit(acked=entry_id.decode())


def emit(**event: Any) -> None:
    print(json.dumps(event), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
