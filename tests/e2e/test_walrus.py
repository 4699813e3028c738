"""walrus' ConsumerGroup with two worker processes (tests/e2e/walrus_worker.py), against
redis-server and simplequeued: a crashed consumer's entries are taken over, every entry
is handled and acked exactly once across the workers, and walrus' info calls show it."""

from __future__ import annotations

import contextlib
import json
import queue
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from typing import Any

from walrus import Database

from tests.support.daemon import REPO_ROOT

ENTRIES = 40
CRASHED_READS = 4  # entries a consumer read and never acked before the workers start
WAIT = 60.0  # generous upper bound for anything that should happen at once


class Worker:
    """A walrus_worker process whose JSON events land on `events`."""

    def __init__(self, events: queue.Queue[dict[str, Any]], *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.e2e.walrus_worker", *args],
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.ready: queue.Queue[dict[str, Any]] = queue.Queue()
        self.reader = threading.Thread(target=self._read, args=(events,), daemon=True)
        self.reader.start()

    def _read(self, events: queue.Queue[dict[str, Any]]) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            event = json.loads(line)
            (self.ready if "ready" in event else events).put(event)
        events.put({"exited": self.proc.wait()})

    def wait_ready(self) -> dict[str, Any]:
        return self.ready.get(timeout=WAIT)

    def stop(self) -> None:
        self.proc.terminate()
        assert self.proc.wait(WAIT) == 0
        self.reader.join(WAIT)  # it has read every line the worker printed
        if self.proc.stdout is not None:
            self.proc.stdout.close()


@contextlib.contextmanager
def worker(events: queue.Queue[dict[str, Any]], *args: str) -> Iterator[Worker]:
    started = Worker(events, *args)
    try:
        yield started
    finally:
        started.stop()


def test_two_walrus_workers_share_a_consumer_group(redis_url: str) -> None:
    stream = f"walrus-{uuid.uuid4().hex[:8]}"
    db = Database.from_url(redis_url, protocol=2)
    group = db.consumer_group("workers", [stream])
    assert group.create() == {stream: True}
    assert db.type(stream) == b"stream"  # what create() checks in every later worker
    events = group.streams[stream]
    ids = [events.add({"n": str(n)}) for n in range(CRASHED_READS)]
    crashed = group.consumer("crashed").streams[stream]
    assert [entry_id for entry_id, _ in crashed.read(count=CRASHED_READS)] == ids

    acked: queue.Queue[dict[str, Any]] = queue.Queue()
    with worker(acked, redis_url, stream, "workers", "w1", "crashed") as w1:
        first = w1.wait_ready()
        with worker(acked, redis_url, stream, "workers", "w2", "crashed") as w2:
            second = w2.wait_ready()
            assert (first["created"], second["created"]) == (False, False)  # BUSYGROUP
            # w1 took over the crashed consumer's entries before w2 started.
            assert first["recovered"] == [entry_id.decode() for entry_id in ids]
            assert second["recovered"] == []

            ids += [events.add({"n": str(n)}) for n in range(CRASHED_READS, ENTRIES)]
            handled = [entry_id.encode() for entry_id in first["recovered"]]
            while len(handled) < ENTRIES:
                event = acked.get(timeout=WAIT)
                assert "acked" in event, f"a worker exited early: {event}"
                handled.append(event["acked"].encode())
    late = [acked.get_nowait() for _ in range(acked.qsize())]
    assert [event for event in late if "exited" not in event] == []  # no entry acked twice
    assert len(handled) == ENTRIES and set(handled) == set(ids)  # each entry exactly once

    assert events.pending() == []
    [info] = events.groups_info()
    assert info["name"] == b"workers"
    assert (info["consumers"], info["pending"], info["lag"]) == (3, 0, 0)
    assert info["last-delivered-id"] == ids[-1]
    consumers = {consumer["name"]: consumer for consumer in events.consumers_info()}
    assert sorted(consumers) == [b"crashed", b"w1", b"w2"]
    assert {consumer["pending"] for consumer in consumers.values()} == {0}
    stream_info = events.info()
    assert (stream_info["length"], stream_info["groups"]) == (ENTRIES, 1)
    assert stream_info["last-entry"][0] == ids[-1]
