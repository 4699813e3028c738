"""Topic documents written straight to a localfs root, to start a broker on a deep queue
(the benchmarks, and the tests of loading big topics).

Streaming the JSON by template keeps a million-job document cheap to build (the broker
then parses it like any document it finds in storage). The jobs look as if enqueued by
commits of `BATCH` jobs 10 ms apart: jobs of one commit share their timestamps."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import orjson

from common.keys import topic_key
from common.models import FORMAT_VERSION, format_time, utc_now

BATCH = 50
COMMIT_INTERVAL = timedelta(milliseconds=10)


def write_pending(root: Path, topic: str, count: int, payload: str) -> Path:
    """A document of `count` pending jobs carrying `payload`; returns its path."""
    path = root.joinpath(*topic_key(topic).split("/"))
    path.parent.mkdir(parents=True, exist_ok=True)
    start = utc_now() - COMMIT_INTERVAL * (count // BATCH + 1)
    head = {
        "format": FORMAT_VERSION,
        "topic": topic,
        "generation": 1,
        "writer": "bench-preload",
        "updated_at": format_time(utc_now()),
        "counters": {"enqueued": count},
    }
    job_middle = b'","status":"pending","payload":' + orjson.dumps(payload) + b',"created_at":"'
    with path.open("wb") as out:
        out.write(orjson.dumps(head)[:-1] + b',"jobs":[')
        for first in range(0, count, BATCH):
            stamp = format_time(start + COMMIT_INTERVAL * (first // BATCH)).encode()
            tail = job_middle + stamp + b'","available_at":"' + stamp + b'","attempts":0}'
            jobs = (
                b'{"id":"' + pending_id(i).encode() + tail
                for i in range(first, min(count, first + BATCH))
            )
            out.write((b"," if first else b"") + b",".join(jobs))
        out.write(b"]}")
    return path


def pending_id(index: int) -> str:
    """The id `write_pending` gives its job number `index` (0 is the oldest)."""
    return f"00000000-0000-7000-8000-{index:012x}"
