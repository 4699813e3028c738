"""Reading topic documents that may be checkpointed (format 2).

A big topic is stored as an immutable checkpoint (a complete format-1 document) plus a
small head at the topic's key that holds what changed since (`TopicHead`). Whoever reads a
topic from storage reads it through here and gets the format-1 document the head stands
for, so nothing outside the broker's writer knows about checkpoints.

The merge rule, for a head H over a checkpoint C:
1. each job of C in order: skipped if its id is in H.removed, else H's version of it if H
   has one (in C's place), else C's job as stored;
2. then every job of H not taken in step 1, in H's order (so a job deleted and enqueued
   again is both in `removed` and in H's jobs, and goes to the end).
The header (topic, generation, writer, updated_at, counters) is H's, with format 1.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson

from common.keys import checkpoint_generation, checkpoint_prefix, topic_key
from common.models import (
    FORMAT_VERSION,
    HEAD_FORMAT,
    CheckpointRef,
    DocumentInvalid,
    TopicDocument,
    TopicHead,
    parse_json,
    validate_document,
)
from common.store import NotFound, Object, ObjectStore, StoreUnavailable

#: How often a reader reads the head again when the checkpoint it named is gone.
HEAD_READS = 5


class HeadInvalid(DocumentInvalid):
    """A topic's head does not make a valid document (itself, or with its checkpoint).

    Carries the head's ETag, so a poller can skip it until it changes."""

    def __init__(self, key: str, problem: str, etag: str) -> None:
        self.etag = etag
        super().__init__(key, problem)


def _format_of(raw: Any) -> Any:
    found = raw.get("format") if isinstance(raw, dict) else None
    return found if type(found) is int else repr(found)  # True and 1.0 are not formats


def _format(key: str, raw: Any) -> int:
    found = _format_of(raw)
    if found not in (FORMAT_VERSION, HEAD_FORMAT):
        raise DocumentInvalid(
            key, f"field format: expected {FORMAT_VERSION} or {HEAD_FORMAT}, found {found}"
        )
    return int(found)


def validate_head(key: str, raw: Any) -> TopicHead:
    """Validate a parsed format-2 head (heads are small) and the checkpoint key it names.
    The broker's loader and every reader validate heads here."""
    head = validate_document(TopicHead, key, raw)
    ref = head.checkpoint
    if (
        not ref.key.startswith(checkpoint_prefix(head.topic))
        or checkpoint_generation(ref.key) != ref.generation
    ):
        raise DocumentInvalid(
            key,
            f"field checkpoint.key: {ref.key!r} is not topic {head.topic!r}'s checkpoint"
            f" of generation {ref.generation}",
        )
    return head


def validate_header(key: str, header: dict[str, Any]) -> TopicDocument:
    """Validate the fields of a format-1 document other than its jobs (a checkpoint's
    jobs may be a million: the broker's loader checks them one at a time as it goes)."""
    return validate_document(TopicDocument, key, {**header, "jobs": []})


_WHOLE_PREFIX = b'{"format":1,'  # how every format-1 document a broker writes begins


def _checkpoint_ref(key: str, data: bytes) -> CheckpointRef | None:
    if data.startswith(_WHOLE_PREFIX):
        return None  # not worth parsing a whole (maybe huge) document to learn that
    raw = parse_json(key, data)
    if _format(key, raw) == FORMAT_VERSION:
        return None
    return validate_head(key, raw).checkpoint


def checkpoint_of(head: bytes, *, key: str = "topic head") -> str | None:
    """The checkpoint key a topic's stored document names; None for a format-1 document.

    Raises DocumentInvalid (naming `key`) when the document is neither format."""
    ref = _checkpoint_ref(key, head)
    return None if ref is None else ref.key


def merge_document(key: str, head: bytes, checkpoint: bytes) -> bytes:
    """The compact format-1 document that `head` (stored at `key`) stands for.

    A format-1 head is returned as is (it is the document; `checkpoint` is not looked at).
    Each job keeps the fields it was stored with. Raises DocumentInvalid when the head is
    malformed or the checkpoint is not a format-1 document of the head's topic.
    """
    raw = parse_json(key, head)
    if _format(key, raw) == FORMAT_VERSION:
        return head
    head_model = validate_head(key, raw)
    # Problems of the checkpoint name the checkpoint's key: that is the object to look at.
    ref = head_model.checkpoint.key
    base = parse_json(ref, checkpoint)
    if _format_of(base) != FORMAT_VERSION:
        raise DocumentInvalid(ref, f"not a format-1 document (named by {key})")
    if base.get("topic") != head_model.topic:
        raise DocumentInvalid(
            ref, f"of topic {base.get('topic')!r}, not {head_model.topic!r} (named by {key})"
        )
    validate_header(ref, base)
    base_jobs = base.get("jobs", [])
    if not isinstance(base_jobs, list):
        raise DocumentInvalid(ref, "field jobs: Input should be a valid list")

    changes: list[dict[str, Any]] = raw.get("jobs", [])
    changed = {job["id"]: job for job in changes}  # unique: validate_head checked them
    removed = set(raw.get("removed", []))
    jobs: list[Any] = []
    taken: set[str] = set()
    try:
        for job in base_jobs:
            job_id = job["id"]
            if job_id in removed:
                continue
            newer = changed.get(job_id)
            if newer is None:
                jobs.append(job)
            else:
                jobs.append(newer)
                taken.add(job_id)
    except (TypeError, KeyError):
        raise DocumentInvalid(ref, "field jobs: a job without a usable id") from None
    jobs.extend(job for job in changes if job["id"] not in taken)

    # broker/DESIGN.md's field order, jobs last; the header values exactly as the head stores them.
    merged = {
        "format": FORMAT_VERSION,
        "topic": raw["topic"],
        "generation": raw["generation"],
        "writer": raw["writer"],
        "updated_at": raw["updated_at"],
        "counters": raw.get("counters", {}),
        "jobs": jobs,
    }
    return orjson.dumps(merged)


class DocumentReader:
    """Reads topics from a store as format-1 documents, checkpointed or not.

    The ETag of a merged document is its head's. The last checkpoint of each topic is kept
    (checkpoints never change), so polling a big topic reads only its small head.
    """

    def __init__(self, store: ObjectStore) -> None:
        self.store = store
        self._checkpoints: dict[str, tuple[str, bytes]] = {}  # topic -> (key, bytes)

    async def get(self, topic: str) -> Object:
        """The topic's document; raises NotFound when the topic has none."""
        found = await self.get_if_changed(topic, None)
        assert found is not None  # only a conditional read can be "not changed"
        return found

    async def get_if_changed(self, topic: str, etag: str | None) -> Object | None:
        """None if the head's ETag is still `etag`, else the topic's document.

        Raises NotFound (no document), HeadInvalid (with the head's ETag) and the store's
        errors; StoreUnavailable when the head kept moving past its checkpoints."""
        key = topic_key(topic)
        previous: str | None = None
        for _ in range(HEAD_READS):
            try:
                head = await self.store.get_if_changed(key, etag)
            except NotFound:
                self._checkpoints.pop(topic, None)
                raise
            if head is None:
                return None
            try:
                return await self.whole(topic, head)
            except NotFound as exc:
                # Checkpoints are written before the head that names them and deleted only
                # after a newer head landed: the head has moved on, unless it is unchanged.
                if head.etag == previous:
                    problem = f"checkpoint {exc.key} does not exist"
                    raise HeadInvalid(key, problem, head.etag) from None
                previous = head.etag
        raise StoreUnavailable(
            key, f"{key}: the head moved past its checkpoint {HEAD_READS} times in a row"
        )

    async def whole(self, topic: str, head: Object) -> Object:
        """The format-1 document that `head`, the topic's stored document, stands for,
        with the head's ETag. Raises NotFound when the checkpoint it names is gone (the
        head has moved on) and HeadInvalid when the two do not make a document."""
        key = topic_key(topic)
        try:
            ref = _checkpoint_ref(key, head.data)
        except DocumentInvalid as exc:
            raise HeadInvalid(key, exc.problem, head.etag) from None
        if ref is None:
            self._checkpoints.pop(topic, None)
            return head
        checkpoint = await self._checkpoint(topic, ref.key)
        try:
            merged = await asyncio.to_thread(merge_document, key, head.data, checkpoint)
        except DocumentInvalid as exc:
            raise HeadInvalid(exc.key, exc.problem, head.etag) from None
        return Object(merged, head.etag)

    async def _checkpoint(self, topic: str, key: str) -> bytes:
        cached = self._checkpoints.get(topic)
        if cached is not None and cached[0] == key:
            return cached[1]
        data = (await self.store.get(key)).data
        self._checkpoints[topic] = (key, data)
        return data
