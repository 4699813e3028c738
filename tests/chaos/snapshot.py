"""Reading what a chaos run left in storage, for the checker (tests/chaos/checker.py).

Topics are read as any reader reads them (common/topic_log.py: the pointer's checkpoint
and the log after it); the files are listed raw, dot files included, so that
temp and lock files show.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson

from common.models import FORMAT_VERSION
from common.store import NotFound, ObjectStore
from common.topic_log import merge_document, read_topic

from .checker import Storage, StoredGroup, StoredJob, StoredTopic


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
    contents: dict[str, StoredTopic] = {}
    heads: dict[str, str | None] = {}
    for topic in topics:
        try:
            stored = await read_topic(store, topic)
        except NotFound:
            contents[topic] = StoredTopic([], {})
            heads[topic] = None
            continue
        heads[topic] = None if stored.format == FORMAT_VERSION else stored.base_key
        document = orjson.loads(merge_document(stored))
        jobs = [stored_job(job) for job in document["jobs"]]
        groups = {
            group["name"]: StoredGroup(
                group["last_id"], {d["id"]: d["status"] for d in group.get("deliveries", [])}
            )
            for group in document.get("groups") or []
        }
        contents[topic] = StoredTopic(jobs, dict(document.get("counters") or {}), groups)
    return Storage(contents, files, heads)


def local_files(root: Path) -> list[str]:
    """Every file under `root`, relative, dot files and dot directories included."""
    found = []
    for directory, _, names in os.walk(root):
        for name in names:
            found.append(Path(directory, name).relative_to(root).as_posix())
    return sorted(found)
