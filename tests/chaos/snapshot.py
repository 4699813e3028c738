"""Reading what a chaos run left in storage, for the checker (tests/chaos/checker.py).

Topics are read as any reader reads them (common.documents.DocumentReader: a big topic's
head merged with its checkpoint); the files are listed raw, dot files included, so that
temp and lock files show.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson

from common.documents import DocumentReader, checkpoint_of
from common.keys import topic_key
from common.store import NotFound, ObjectStore

from .checker import Storage, StoredJob, StoredTopic


def stored_job(raw: dict[str, Any]) -> StoredJob:
    payload = raw.get("payload")
    tag = payload.get("k") if isinstance(payload, dict) else None
    return StoredJob(
        id=str(raw["id"]),
        tag=tag if isinstance(tag, str) else None,
        status=str(raw["status"]),
        attempts=int(raw.get("attempts") or 0),
        claimed_by=raw.get("claimed_by"),
    )


async def read_storage(store: ObjectStore, topics: list[str], files: list[str]) -> Storage:
    reader = DocumentReader(store)
    contents: dict[str, StoredTopic] = {}
    heads: dict[str, str | None] = {}
    for topic in topics:
        try:
            head = await store.get(topic_key(topic))
        except NotFound:
            contents[topic] = StoredTopic([], {})
            heads[topic] = None
            continue
        heads[topic] = checkpoint_of(head.data, key=topic_key(topic))
        document = orjson.loads((await reader.whole(topic, head)).data)
        jobs = [stored_job(job) for job in document["jobs"]]
        contents[topic] = StoredTopic(jobs, dict(document.get("counters") or {}))
    return Storage(contents, files, heads)


def local_files(root: Path) -> list[str]:
    """Every file under `root`, relative, dot files and dot directories included."""
    found = []
    for directory, _, names in os.walk(root):
        for name in names:
            found.append(Path(directory, name).relative_to(root).as_posix())
    return sorted(found)
