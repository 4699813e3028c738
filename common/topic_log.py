"""Reading a topic from storage: pointer -> checkpoint -> log (formats 1, 2 and 3).

Everyone who reads a topic reads it here: the broker's loader, `DocumentReader` (the
CLI, `/document`, the console). The layout (format 3, broker/DESIGN.md "Storage layout"):

    topics/<t>.json                       pointer: {"format":3,"topic":t,"generation":G,
                                          "token":T,"checkpoint":<key>}
    topics/<t>/checkpoint-<G>-<rand>.json the whole topic as of generation G (format 1)
    topics/<t>/log/<g:012d>.json          one commit's changes, making generation g:
                                          {"format":3,"topic":t,"generation":g,
                                           "parent":<token of g-1>,"token":<own token>,
                                           "writer","updated_at","counters",
                                           ["settings":{...},]
                                           "removed":[ids],"jobs":[changed jobs, whole]}
                                          (a stream adds "kind":"stream"; a commit that
                                          changed consumer groups adds "destroyed_groups":
                                          [names] and "groups":[changed groups: header,
                                          changed "deliveries", "removed_deliveries"])

To read: get the pointer, get the checkpoint it names, then get log/G+1, G+2, ... until
one is not found; each must name the previous one's token as its parent (the pointer's
token for G+1). Then get the pointer again: if it moved to a generation at or past the
first log object that was missing, start over (garbage collection may have deleted
objects under the old pointer, so the missing one may be a deleted old one, not the end).
A checkpoint that is gone, or a parent that does not match, also means "start over" if
the pointer moved, and an invalid topic if it did not.

Applying a log object to a topic (the merge rule, the same for a format-2 head over its
checkpoint, which is one log object's worth of changes since the checkpoint):
1. each id in `removed` leaves the topic;
2. each job in `jobs` replaces the job of the same id in place, or, if the topic has no
   job of that id (any more), is appended at the end.
3. consumer groups (broker/groups.py): each name in `destroyed_groups` leaves; then each
   group in `groups` is merged into the group of the same name (or added): its header
   fields replace the group's, and its `removed_deliveries` and `deliveries` apply to the
   group's delivery records as rules 1 and 2 to jobs. `kind` once set stays.
Header fields (generation, writer, updated_at, counters) are the last object's.
`settings` (per-topic settings) is not in every object: a log object carries it only when
its commit changed them, and then it is the topic's whole set, replacing the one before
(`{}`: none any more). The topic's settings are those of the newest log object carrying
them, else the checkpoint's (absent: none). A checkpoint carries them only when there are
some.

Several log objects fold into one set of changes (`Changes`) that is applied to the
checkpoint in one pass; folding keeps the rule: a removed id leaves the folded jobs and
joins `removed`, a job joins the folded jobs at the end unless already there (then it is
replaced in place). A removed id that the checkpoint does not hold removes nothing.

Formats 1 (one whole document at the topic's key) and 2 (a head at the topic's key over a
checkpoint) are read the same way, as a base document with no changes or with the head's.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import orjson

from .keys import checkpoint_generation, checkpoint_prefix, log_key, topic_key
from .models import (
    FORMAT_VERSION,
    HEAD_FORMAT,
    LOG_FORMAT,
    DocumentInvalid,
    LogHeader,
    TopicDocument,
    TopicHead,
    TopicPointer,
    parse_json,
    validate_document,
)
from .store import NotFound, Object, ObjectStore, StoreUnavailable

#: How often a reader starts over when the pointer keeps moving under it.
READS = 5
#: Log objects read at once when reading forward from a checkpoint.
READ_AHEAD = 16

T = TypeVar("T")


class HeadInvalid(DocumentInvalid):
    """A topic's stored objects do not make a valid topic.

    Carries the ETag of the object at the topic's key (pointer or head), so a poller can
    skip the topic until it changes."""

    def __init__(self, key: str, problem: str, etag: str) -> None:
        self.etag = etag
        super().__init__(key, problem)


class _Moved(Exception):
    """What was read does not hold together; if the pointer moved, read again."""

    def __init__(self, key: str, problem: str) -> None:
        self.key, self.problem = key, problem
        super().__init__(f"{key}: {problem}")


# --- formats ----------------------------------------------------------------------------


def format_of(raw: Any) -> Any:
    found = raw.get("format") if isinstance(raw, dict) else None
    return found if type(found) is int else repr(found)  # True and 1.0 are not formats


_FORMATS = (FORMAT_VERSION, HEAD_FORMAT, LOG_FORMAT)
_WHOLE_PREFIX = b'{"format":1,'  # how every format-1 document a broker writes begins


def root_format(key: str, data: bytes) -> tuple[int, Any]:
    """The format of what is stored at a topic's key and, for formats 2 and 3, the parsed
    JSON (a format-1 document may be huge and is not parsed here)."""
    if data.startswith(_WHOLE_PREFIX):
        return FORMAT_VERSION, None
    raw = parse_json(key, data)
    found = format_of(raw)
    if found not in _FORMATS:
        expected = f"{FORMAT_VERSION}, {HEAD_FORMAT} or {LOG_FORMAT}"
        raise DocumentInvalid(key, f"field format: expected {expected}, found {found}")
    return int(found), raw


def _named_checkpoint(key: str, topic: str, ckpt: str, generation: int, field: str) -> None:
    if not ckpt.startswith(checkpoint_prefix(topic)) or checkpoint_generation(ckpt) != generation:
        raise DocumentInvalid(
            key,
            f"field {field}: {ckpt!r} is not topic {topic!r}'s checkpoint of generation"
            f" {generation}",
        )


def validate_head(key: str, raw: Any) -> TopicHead:
    """Validate a parsed format-2 head and the checkpoint key it names."""
    head = validate_document(TopicHead, key, raw)
    ref = head.checkpoint
    _named_checkpoint(key, head.topic, ref.key, ref.generation, "checkpoint.key")
    return head


def validate_pointer(key: str, raw: Any, topic: str) -> TopicPointer:
    """Validate a parsed format-3 pointer and the checkpoint key it names."""
    pointer = validate_document(TopicPointer, key, raw)
    if pointer.topic != topic:
        raise DocumentInvalid(key, f"field topic: {pointer.topic!r}, not {topic!r}")
    _named_checkpoint(key, topic, pointer.checkpoint, pointer.generation, "checkpoint")
    return pointer


def validate_header(key: str, header: dict[str, Any]) -> TopicDocument:
    """Validate the fields of a format-1 document other than its jobs (a checkpoint's
    jobs may be a million: the broker's loader checks them one at a time as it goes)."""
    return validate_document(TopicDocument, key, {**header, "jobs": []})


def pointer_bytes(topic: str, generation: int, token: str, checkpoint: str) -> bytes:
    """The stored form of a pointer."""
    return orjson.dumps(
        {
            "format": LOG_FORMAT,
            "topic": topic,
            "generation": generation,
            "token": token,
            "checkpoint": checkpoint,
        }
    )


@dataclass(frozen=True, slots=True)
class Entry:
    """One log object, parsed: its header and its changes."""

    generation: int
    parent: str
    token: str
    header: dict[str, Any]  # writer, updated_at, counters: as stored
    removed: list[str]
    jobs: list[dict[str, Any]]
    size: int  # bytes stored
    settings: dict[str, Any] | None = None  # the topic's whole set, if this commit set it
    extra: dict[str, Any] = field(default_factory=dict)  # kind, groups, destroyed_groups


def parse_entry(key: str, data: bytes, topic: str, generation: int) -> Entry:
    """A log object's bytes as an Entry. Jobs are checked only for an id (the broker's
    loader and the document model check the rest); raises DocumentInvalid."""
    raw = parse_json(key, data)
    if format_of(raw) != LOG_FORMAT:
        raise DocumentInvalid(key, f"field format: expected {LOG_FORMAT}, found {format_of(raw)}")
    header = validate_document(LogHeader, key, {**raw, "jobs": []})
    if header.topic != topic or header.generation != generation:
        raise DocumentInvalid(
            key, f"holds generation {header.generation} of {header.topic!r}, not {generation}"
        )
    jobs = raw.get("jobs", [])
    if not isinstance(jobs, list):
        raise DocumentInvalid(key, "field jobs: Input should be a valid list")
    seen: set[str] = set()
    for job in jobs:
        job_id = job.get("id") if isinstance(job, dict) else None
        if not isinstance(job_id, str) or not job_id:
            raise DocumentInvalid(key, "field jobs: a job without a usable id")
        if job_id in seen:
            raise DocumentInvalid(key, f"field jobs: job id {job_id!r} appears twice")
        seen.add(job_id)
    kept = {name: raw[name] for name in ("writer", "updated_at", "counters") if name in raw}
    settings = None if header.settings is None else header.settings.stored()
    extra = {name: raw[name] for name in GROUP_FIELDS if name in raw}
    return Entry(
        generation, header.parent, header.token, kept, list(header.removed), jobs, len(data),
        settings, extra,
    )  # fmt: skip


# --- the merge rule ---------------------------------------------------------------------


@dataclass
class Changes:
    """Changes folded from log objects (or a format-2 head): ids that left the topic, and
    jobs added or changed, in the order they were first added (see the module's rule)."""

    removed: set[str] = field(default_factory=set)
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    stream: bool = False  # some object said "kind":"stream"
    groups: dict[str, GroupChanges] = field(default_factory=dict)  # changed groups by name
    destroyed: set[str] = field(default_factory=set)  # groups that left (and maybe came back)

    def add(self, removed: Iterable[str], jobs: Iterable[dict[str, Any]]) -> None:
        for job_id in removed:
            self.jobs.pop(job_id, None)
            self.removed.add(job_id)
        for job in jobs:
            self.jobs[job["id"]] = job

    def add_groups(self, extra: dict[str, Any]) -> None:
        """Fold a log object's group fields (rule 3 of the module)."""
        self.stream = self.stream or extra.get("kind") == "stream"
        for name in extra.get("destroyed_groups") or ():
            self.groups.pop(name, None)
            self.destroyed.add(name)
        for group in extra.get("groups") or ():
            known = self.groups.setdefault(group["name"], GroupChanges({}, Changes()))
            known.header = {k: v for k, v in group.items() if k not in _DELIVERY_FIELDS}
            known.deliveries.add(group.get("removed_deliveries", ()), group.get("deliveries", ()))

    def copy(self) -> Changes:
        groups = {name: change.copy() for name, change in self.groups.items()}
        return Changes(set(self.removed), dict(self.jobs), self.stream, groups, set(self.destroyed))

    def merged_groups(self, base: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
        """The base document's groups with these changes applied; None when none. A group
        destroyed since the base starts over (the base's group of its name is gone)."""
        groups = {g["name"]: g for g in base or () if g["name"] not in self.destroyed}
        for name, change in self.groups.items():
            past = groups.get(name, {}).get("deliveries", [])
            own = change.deliveries.jobs.__getitem__
            merged = list(merge(past, _delivery_id, change.deliveries, own))
            groups[name] = {**change.header, "deliveries": merged}
        return list(groups.values()) or None


@dataclass
class GroupChanges:
    """One consumer group's changes folded from log objects: its newest header (every field
    but the deliveries) and its delivery records' changes, by the jobs' rule."""

    header: dict[str, Any]
    deliveries: Changes

    def copy(self) -> GroupChanges:
        return GroupChanges(dict(self.header), self.deliveries.copy())


_DELIVERY_FIELDS = ("deliveries", "removed_deliveries")


def _delivery_id(delivery: dict[str, Any]) -> str:
    found: str = delivery["id"]
    return found


#: The fields of a log object that carry consumer groups and the stream kind.
GROUP_FIELDS = ("kind", "groups", "destroyed_groups")


def merge(
    base: Iterable[T], job_id: Callable[[T], str], changes: Changes, own: Callable[[str], T]
) -> Iterator[T]:
    """The jobs of `base` with `changes` applied: base jobs in order, less the removed
    ones, a changed one as `own(id)` in its place; then the other changed jobs, in order."""
    newer = dict.fromkeys(changes.jobs)
    removed = changes.removed
    for item in base:
        ident = job_id(item)
        if ident in removed:
            continue
        if ident in newer:
            del newer[ident]
            yield own(ident)
        else:
            yield item
    for ident in newer:
        yield own(ident)


# --- reading ----------------------------------------------------------------------------


@dataclass
class Stored:
    """A topic as read from storage: a base document and the changes over it."""

    topic: str
    root: Object  # what the topic's key holds: a pointer, a head or a whole document
    format: int  # the root's format: 1, 2 or 3
    base: bytes  # a format-1 document: the checkpoint (formats 2 and 3) or the root
    base_key: str
    changes: Changes
    header: dict[str, Any] | None  # the newest header (None: the base's, format 1)
    generation: int  # of the base for format 1 unknown (0): read from the base
    token: str | None  # the chain token of `generation` (format 3)
    checkpoint_generation: int  # the pointer's generation (format 3)
    sizes: list[tuple[int, int]] = field(default_factory=list)  # log objects: generation, bytes
    confirmed_at: float = float("-inf")  # time.monotonic() the next generation did not exist
    base_etag: str = ""  # the checkpoint's ETag (formats 2 and 3)
    settings: dict[str, Any] | None = None  # the newest log object's (None: the base's)


def newest_settings(
    settings: dict[str, Any] | None, entries: Iterable[tuple[Entry, bytes]]
) -> dict[str, Any] | None:
    """The topic's settings after `entries`, from `settings` before them (None: the
    base's): each log object that carries settings replaces the whole set."""
    for entry, _ in entries:
        if entry.settings is not None:
            settings = entry.settings
    return settings


async def _read_forward(
    store: ObjectStore, topic: str, generation: int, token: str, ahead: int
) -> tuple[list[tuple[Entry, bytes]], float]:
    """Log objects after `generation` (whose token is `token`) until one is missing, and
    the time (monotonic) the request that found it missing was sent. Raises _Moved when
    an object does not follow its predecessor (read the pointer again)."""
    found: list[tuple[Entry, bytes]] = []
    window = 1  # grows to `ahead` while objects are found: one get when there are none
    while True:
        sent = time.monotonic()
        keys = [log_key(topic, generation + 1 + i) for i in range(window)]
        window = min(ahead, window * 4)
        results = await asyncio.gather(*(store.get(k) for k in keys), return_exceptions=True)
        for i, result in enumerate(results):
            if isinstance(result, NotFound):
                return found, sent
            if isinstance(result, BaseException):
                raise result
            generation += 1
            entry = parse_entry(keys[i], result.data, topic, generation)
            if entry.parent != token:
                raise _Moved(keys[i], f"its parent is {entry.parent}, not {token}")
            found.append((entry, result.data))
            token = entry.token


async def read_forward(
    store: ObjectStore, topic: str, generation: int, token: str, ahead: int = 1
) -> tuple[list[tuple[Entry, bytes]], float] | None:
    """The log objects after `generation` (chain token `token`) and when the missing one
    was found missing; None when they do not follow it (a full read is due)."""
    try:
        return await _read_forward(store, topic, generation, token, ahead)
    except _Moved:
        return None


async def read_topic(store: ObjectStore, topic: str, *, whole_head: bool = False) -> Stored:
    """The topic as stored now. Raises NotFound (no topic), HeadInvalid (its objects do not
    make a topic: with the ETag of the topic's key) and the store's errors."""
    key = topic_key(topic)
    previous: str | None = None
    for _ in range(READS):
        root = await store.get(key)
        try:
            return await _read(store, topic, key, root)
        except _Moved as exc:
            if root.etag == previous:
                raise HeadInvalid(exc.key, exc.problem, root.etag) from None
            try:
                again = await store.get_if_changed(key, root.etag)
            except NotFound:
                again = None
            if again is None:  # unchanged: what it names is wrong
                raise HeadInvalid(exc.key, exc.problem, root.etag) from None
            previous = root.etag
        except DocumentInvalid as exc:
            if isinstance(exc, HeadInvalid):
                raise
            raise HeadInvalid(exc.key, exc.problem, root.etag) from None
    raise StoreUnavailable(key, f"{key}: moved on {READS} times while being read; retry")


async def _read(store: ObjectStore, topic: str, key: str, root: Object) -> Stored:
    fmt, raw = root_format(key, root.data)
    if fmt == FORMAT_VERSION:
        return Stored(topic, root, fmt, root.data, key, Changes(), None, 0, None, 0)
    if fmt == HEAD_FORMAT:
        head = validate_head(key, raw)
        if head.topic != topic:
            raise DocumentInvalid(key, f"field topic: {head.topic!r}, not {topic!r}")
        base = await _checkpoint(store, head.checkpoint.key, key)
        changes = Changes()
        changes.add(head.removed, raw.get("jobs", []))
        newest = {k: raw[k] for k in ("writer", "updated_at", "counters") if k in raw}
        return Stored(
            topic, root, fmt, base.data, head.checkpoint.key, changes, newest,
            head.generation, None, head.checkpoint.generation, base_etag=base.etag,
        )  # fmt: skip
    pointer = validate_pointer(key, raw, topic)
    base = await _checkpoint(store, pointer.checkpoint, key)
    entries, sent = await _read_forward(store, topic, pointer.generation, pointer.token, READ_AHEAD)
    # The end of the log is the end only if garbage collection did not delete it: that
    # needs a pointer at or past it, so an unchanged pointer (or one still before it)
    # proves it.
    missing = pointer.generation + len(entries) + 1
    try:
        again = await store.get_if_changed(key, root.etag)
    except NotFound:
        raise _Moved(key, "the topic was removed while being read") from None
    if again is not None:
        try:
            moved = validate_pointer(key, root_format(key, again.data)[1], topic)
        except DocumentInvalid:
            raise _Moved(key, "the pointer changed while the topic was read") from None
        if moved.generation >= missing:
            raise _Moved(key, "the pointer moved past the log that was read")
        root = again  # still before the end that was read: the reading stands
    changes = Changes()
    header: dict[str, Any] | None = None
    for entry, _ in entries:
        changes.add(entry.removed, entry.jobs)
        changes.add_groups(entry.extra)
        header = entry.header
    token = entries[-1][0].token if entries else pointer.token
    sizes = [(entry.generation, entry.size) for entry, _ in entries]
    return Stored(
        topic, root, fmt, base.data, pointer.checkpoint, changes, header,
        pointer.generation + len(entries), token, pointer.generation, sizes, sent, base.etag,
        newest_settings(None, entries),
    )  # fmt: skip


async def _checkpoint(store: ObjectStore, ckpt: str, named_by: str) -> Object:
    try:
        return await store.get(ckpt)
    except NotFound:
        problem = f"names checkpoint {ckpt}, which does not exist (it was deleted)"
        raise _Moved(named_by, problem) from None


def merge_document(stored: Stored) -> bytes:
    """The compact format-1 document a stored topic stands for. Each job keeps the fields
    it was stored with. Raises DocumentInvalid when the base is not a format-1 document
    of the topic."""
    if stored.format == FORMAT_VERSION:
        return stored.base
    ref = stored.base_key
    base = parse_json(ref, stored.base)
    if format_of(base) != FORMAT_VERSION:
        raise DocumentInvalid(ref, f"not a format-1 document (named by {topic_key(stored.topic)})")
    if base.get("topic") != stored.topic:
        raise DocumentInvalid(ref, f"of topic {base.get('topic')!r}, not {stored.topic!r}")
    validate_header(ref, base)
    base_jobs = base.get("jobs", [])
    if not isinstance(base_jobs, list):
        raise DocumentInvalid(ref, "field jobs: Input should be a valid list")
    try:
        own = stored.changes.jobs.__getitem__
        jobs = list(merge(base_jobs, lambda job: job["id"], stored.changes, own))
    except (TypeError, KeyError):
        raise DocumentInvalid(ref, "field jobs: a job without a usable id") from None
    newest = stored.header or {}
    # broker/DESIGN.md's field order, jobs last; the header values exactly as stored.
    merged = {
        "format": FORMAT_VERSION,
        "topic": stored.topic,
        "generation": stored.generation,
        "writer": newest.get("writer", base.get("writer")),
        "updated_at": newest.get("updated_at", base.get("updated_at")),
        "counters": newest.get("counters", base.get("counters", {})),
    }
    settings = base.get("settings") if stored.settings is None else stored.settings
    if settings:  # only a topic with settings has the field
        merged["settings"] = settings
    if stored.changes.stream or "kind" in base:
        merged["kind"] = "stream"
    groups = stored.changes.merged_groups(base.get("groups"))
    if groups is not None:
        merged["groups"] = groups
    merged["jobs"] = jobs
    return orjson.dumps(merged)


def merge_head(key: str, head: bytes, checkpoint: bytes) -> bytes:
    """The format-1 document that `head` (stored at `key`) stands for over `checkpoint`:
    a format-1 head is returned as is. Raises DocumentInvalid."""
    fmt, raw = root_format(key, head)
    if fmt == FORMAT_VERSION:
        return head
    if fmt != HEAD_FORMAT:
        raise DocumentInvalid(key, f"field format: expected {HEAD_FORMAT}, found {fmt}")
    parsed = validate_head(key, raw)
    changes = Changes()
    changes.add(parsed.removed, raw.get("jobs", []))
    newest = {k: raw[k] for k in ("writer", "updated_at", "counters") if k in raw}
    ref = parsed.checkpoint
    stored = Stored(
        parsed.topic, Object(head, ""), fmt, checkpoint, ref.key, changes, newest,
        parsed.generation, None, ref.generation,
    )  # fmt: skip
    return merge_document(stored)


def stored_etag(stored: Stored) -> str:
    """The ETag a topic's document is served with: the root's for formats 1 and 2, and
    for format 3 one derived from the newest log object (its generation and token)."""
    if stored.format != LOG_FORMAT:
        return stored.root.etag
    return f"{stored.generation}-{stored.token}"


class DocumentReader:
    """Reads topics from a store as format-1 documents, whatever their format.

    The last topic read is kept per topic: a poll of an unchanged format-3 topic costs
    one read of its next log object (not found) and a conditional read of its pointer."""

    def __init__(self, store: ObjectStore) -> None:
        self.store = store
        self._known: dict[str, tuple[Stored, str]] = {}  # topic -> (stored, etag)

    async def get(self, topic: str) -> Object:
        """The topic's document; raises NotFound when the topic has none."""
        found = await self.get_if_changed(topic, None)
        assert found is not None  # only a conditional read can be "not changed"
        return found

    async def get_if_changed(self, topic: str, etag: str | None) -> Object | None:
        """None if the topic's ETag is still `etag`, else the topic's document.

        Raises NotFound (no topic), HeadInvalid (with the ETag of the topic's key) and
        the store's errors; StoreUnavailable when the topic kept moving while read."""
        stored = await self.read(topic, etag)
        if stored is None:
            return None
        try:
            data = await asyncio.to_thread(merge_document, stored)
        except DocumentInvalid as exc:
            raise HeadInvalid(exc.key, exc.problem, stored.root.etag) from None
        return Object(data, stored_etag(stored))

    async def read(self, topic: str, etag: str | None) -> Stored | None:
        """The stored topic, or None if its ETag is still `etag` (see `get_if_changed`)."""
        known = self._known.get(topic)
        if known is not None and known[1] == etag and await self._unchanged(known[0]):
            return None
        try:
            stored = await self._read(topic, known[0] if known is not None else None)
        except NotFound:
            self._known.pop(topic, None)
            raise
        current = stored_etag(stored)
        self._known[topic] = (stored, current)
        return None if current == etag else stored

    async def _unchanged(self, stored: Stored) -> bool:
        """Is the topic still as read? Format 3: its next log object is missing and its
        pointer unchanged; formats 1 and 2: its key's object is unchanged."""
        key = topic_key(stored.topic)
        if stored.format == LOG_FORMAT:
            try:
                await self.store.get(log_key(stored.topic, stored.generation + 1))
                return False
            except NotFound:
                pass
        return await self.store.get_if_changed(key, stored.root.etag) is None

    async def _read(self, topic: str, known: Stored | None) -> Stored:
        """Read forward from what is known when the pointer did not move, else read all."""
        if known is not None and known.format == LOG_FORMAT and known.token is not None:
            more = await read_forward(self.store, topic, known.generation, known.token, 4)
            key = topic_key(topic)
            # Checked after reading: an unchanged pointer proves the missing object is
            # the end of the log, not one deleted under a newer pointer.
            if more is not None and await self.store.get_if_changed(key, known.root.etag) is None:
                return _extended(known, more[0], more[1])
        return await read_topic(self.store, topic)


def _extended(known: Stored, entries: list[tuple[Entry, bytes]], sent: float) -> Stored:
    if not entries:
        return known
    changes = known.changes.copy()
    header = known.header
    for entry, _ in entries:
        changes.add(entry.removed, entry.jobs)
        changes.add_groups(entry.extra)
        header = entry.header
    last = entries[-1][0]
    sizes = known.sizes + [(entry.generation, entry.size) for entry, _ in entries]
    return Stored(
        known.topic, known.root, known.format, known.base, known.base_key, changes, header,
        last.generation, last.token, known.checkpoint_generation, sizes, sent, known.base_etag,
        newest_settings(known.settings, entries),
    )  # fmt: skip
