"""Topic documents written straight to a localfs root, to start a broker on a deep queue.

Streaming the JSON by template keeps a million-job document cheap to build (the broker
then parses it like any document it finds in storage)."""

from __future__ import annotations

from pathlib import Path

import orjson

from common.keys import topic_key
from common.models import FORMAT_VERSION, format_time, utc_now

CHUNK = 10_000


def write_pending(root: Path, topic: str, count: int, payload: str) -> Path:
    """A document of `count` pending jobs carrying `payload`; returns its path."""
    path = root.joinpath(*topic_key(topic).split("/"))
    path.parent.mkdir(parents=True, exist_ok=True)
    stamp = format_time(utc_now())
    head = {
        "format": FORMAT_VERSION,
        "topic": topic,
        "generation": 1,
        "writer": "bench-preload",
        "updated_at": stamp,
        "counters": {"enqueued": count},
    }
    job_tail = (
        b'","status":"pending","payload":'
        + orjson.dumps(payload)
        + b',"created_at":"'
        + stamp.encode()
        + b'","available_at":"'
        + stamp.encode()
        + b'","attempts":0}'
    )
    with path.open("wb") as out:
        out.write(orjson.dumps(head)[:-1] + b',"jobs":[')
        for start in range(0, count, CHUNK):
            jobs = (
                b'{"id":"00000000-0000-7000-8000-%012x' % i + job_tail
                for i in range(start, min(count, start + CHUNK))
            )
            out.write((b"," if start else b"") + b",".join(jobs))
        out.write(b"]}")
    return path
