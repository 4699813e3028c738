"""Checkpointed topics (format 2) built by hand, for tests that read them.

`checkpointed(base, changed=..., removed=...)` splits a topic into the two objects a broker
would store: `base` (a format-1 document) becomes the checkpoint, and the head carries the
changes since. `store_checkpointed` writes them the way a broker does: the checkpoint
create-only, then the head over whatever is at the topic's key.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from common.keys import checkpoint_key, topic_key
from common.models import (
    CheckpointRef,
    Counters,
    Job,
    TopicDocument,
    TopicHead,
    dump_document,
)
from common.store import NotFound, ObjectStore


@dataclass(frozen=True)
class Checkpointed:
    """The objects of one checkpointed topic: its checkpoint and its head."""

    topic: str
    checkpoint_key: str
    checkpoint: bytes
    head: bytes


def checkpointed(
    base: TopicDocument,
    *,
    changed: Sequence[Job] = (),
    removed: Sequence[str] = (),
    generation: int | None = None,
    writer: str | None = None,
    updated_at: datetime | None = None,
    counters: Counters | None = None,
    token: str = "0123abcd",
) -> Checkpointed:
    """`base` as a checkpoint, and a head over it: `changed` are the jobs added or changed
    since (in head order), `removed` the ids of checkpoint jobs no longer in the topic.
    The head's generation defaults to one past the checkpoint's; other header fields
    default to the checkpoint's."""
    key = checkpoint_key(base.topic, base.generation, token)
    head = TopicHead(
        topic=base.topic,
        generation=base.generation + 1 if generation is None else generation,
        writer=base.writer if writer is None else writer,
        updated_at=base.updated_at if updated_at is None else updated_at,
        counters=base.counters if counters is None else counters,
        checkpoint=CheckpointRef(key=key, generation=base.generation, jobs=len(base.jobs)),
        removed=list(removed),
        jobs=list(changed),
    )
    return Checkpointed(base.topic, key, dump_document(base), dump_document(head))


async def store_checkpointed(store: ObjectStore, parts: Checkpointed) -> str:
    """Write the checkpoint (create-only; an equal one may already be there), then the head
    over the topic's current document. Returns the head's ETag."""
    try:
        await store.get(parts.checkpoint_key)
    except NotFound:
        await store.put_if(parts.checkpoint_key, parts.checkpoint, None)
    key = topic_key(parts.topic)
    try:
        etag: str | None = (await store.get(key)).etag
    except NotFound:
        etag = None
    return await store.put_if(key, parts.head, etag)
