"""Live tails of topic documents: each yields a snapshot whenever a document changes.

Three sources, one event stream (`Tail.events()`):
- `StoreTail` checks every topic through `DocumentReader` (common/topic_log.py): a topic in
  the log layout costs one GET of its next log object (not found while nothing changed)
  and a conditional GET of its pointer; a topic that changed costs only the log objects
  added since (its checkpoint is read once). It lists the prefix now and then for new
  topics. Older formats are polled with `get_if_changed` of their document;
- `LocalFSTail` is a StoreTail woken by watchfiles on `topics/` and, recursively, the
  topics' `log/` directories (a new log object is a new file there; a pointer is replaced
  by rename), with a slow full poll behind it in case an event is missed;
- `BrokerTail` long-polls `GET /topics/{topic}/document?wait=` for each topic the broker
  lists, for a console started with `--broker` only.

A storage failure is an event too (`SourceState`), and the tail keeps retrying: the console
shows it and carries on when storage answers again. No Textual here.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from common.keys import TOPICS_PREFIX, topic_from_key, topic_key
from common.models import DocumentInvalid, TopicDocument, load_document
from common.store import NotFound, ObjectStore
from common.topic_log import DocumentReader, HeadInvalid

if TYPE_CHECKING:
    from common.client import Client


@dataclass(frozen=True, slots=True)
class TopicSnapshot:
    """A topic's document as last written."""

    topic: str
    etag: str
    document: TopicDocument


@dataclass(frozen=True, slots=True)
class TopicLoading:
    """A topic seen for the first time whose document is being read (a big one takes
    seconds); its snapshot (or TopicInvalid) follows."""

    topic: str


@dataclass(frozen=True, slots=True)
class TopicRemoved:
    """The topic's document is gone."""

    topic: str


@dataclass(frozen=True, slots=True)
class SourceState:
    """Whether the source answers; `message` says what failed and that it is retried."""

    ok: bool
    message: str = ""


@dataclass(frozen=True, slots=True)
class TopicInvalid:
    """A document that does not parse; it is skipped until it changes again."""

    topic: str
    message: str


TailEvent = TopicSnapshot | TopicLoading | TopicRemoved | TopicInvalid | SourceState


async def parse_document(topic: str, data: bytes) -> TopicDocument:
    """Validate a document off the event loop (a 10,000-job topic takes a while)."""
    return await asyncio.to_thread(load_document, TopicDocument, topic_key(topic), data)


def _problem(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return f"{text}; retrying"


class Tail(ABC):
    """A stream of document changes for every topic of one source."""

    #: What is tailed and how, for the header (`watching localfs:/srv/sq`).
    description: str = ""

    @abstractmethod
    def events(self) -> AsyncIterator[TailEvent]:
        """Snapshots of every topic now, then each change as it happens. Endless."""


class StoreTail(Tail):
    """Polls topic documents on an object store."""

    def __init__(self, store: ObjectStore, *, interval: float, rescan: float = 5.0) -> None:
        self.store = store
        self.reader = DocumentReader(store)
        self.interval = interval
        self.rescan = max(rescan, interval)
        self.description = f"polling {store.description} every {interval:g}s"
        self._etags: dict[str, str] = {}
        self._rescan_now = False  # set when something new may exist: list before checking

    async def _wait(self) -> set[str] | None:
        """Wait for the next round; return the topics worth checking (None: all known)."""
        await asyncio.sleep(self.interval)
        return None

    async def events(self) -> AsyncIterator[TailEvent]:
        ok: bool | None = None
        last_scan = float("-inf")
        hint: set[str] | None = None
        while True:
            try:
                if self._rescan_now or time.monotonic() - last_scan >= self.rescan:
                    self._rescan_now = False
                    listed = await self._list()
                    last_scan = time.monotonic()
                    for topic in sorted(set(self._etags) - listed):
                        del self._etags[topic]
                        yield TopicRemoved(topic)
                    hint = None
                    names = sorted(listed)
                else:
                    names = sorted(self._etags if hint is None else hint)
                for topic in names:
                    first = topic not in self._etags
                    if first:
                        yield TopicLoading(topic)
                    event = await self._check(topic)
                    if event is None and first:  # gone before it could be read
                        event = TopicRemoved(topic)
                    if event is not None:
                        yield event
                if ok is not True:
                    ok = True
                    yield SourceState(True)
            except Exception as exc:  # any storage failure: report, keep trying
                if ok is not False:
                    ok = False
                    yield SourceState(False, f"storage: {_problem(exc)}")
            hint = await self._wait()
            if hint is not None and any(name not in self._etags for name in hint):
                self._rescan_now = True  # a new topic appeared: list it properly

    async def _list(self) -> set[str]:
        keys = await self.store.list_level(TOPICS_PREFIX)
        return {name for key in keys if (name := topic_from_key(key)) is not None}

    async def _check(self, topic: str) -> TailEvent | None:
        try:
            obj = await self.reader.get_if_changed(topic, self._etags.get(topic))
        except NotFound:
            if self._etags.pop(topic, None) is not None:
                return TopicRemoved(topic)
            return None
        except HeadInvalid as exc:  # skipped until the head changes
            self._etags[topic] = exc.etag
            return TopicInvalid(topic, str(exc))
        if obj is None:
            return None
        self._etags[topic] = obj.etag
        try:
            document = await parse_document(topic, obj.data)
        except DocumentInvalid as exc:
            return TopicInvalid(topic, str(exc))
        return TopicSnapshot(topic, obj.etag, document)


class LocalFSTail(StoreTail):
    """A StoreTail that wakes when files in `<dir>/topics/` change."""

    def __init__(self, store: ObjectStore, root: Path, *, fallback: float = 5.0) -> None:
        super().__init__(store, interval=fallback, rescan=fallback)
        self.directory = root / TOPICS_PREFIX.rstrip("/")
        self.description = f"watching {store.description}"
        self._changed: set[str] = set()
        self._wake = asyncio.Event()
        self._watcher: asyncio.Task[None] | None = None

    async def _watch(self) -> None:
        from watchfiles import awatch

        while True:
            if not self.directory.is_dir():
                # No topic yet: the broker creates the directory with the first document.
                await asyncio.sleep(0.5)
                if self.directory.is_dir():
                    self._rescan_now = True
                    self._wake.set()
                continue
            with contextlib.suppress(FileNotFoundError, RuntimeError):
                async for changes in awatch(
                    self.directory,
                    watch_filter=None,
                    debounce=200,
                    step=20,
                    recursive=True,
                ):
                    for _change, path in changes:
                        name = _changed_topic(self.directory, Path(path))
                        if name is not None:
                            self._changed.add(name)
                    if self._changed:
                        self._wake.set()
            await asyncio.sleep(0.5)

    async def _wait(self) -> set[str] | None:
        try:
            await asyncio.wait_for(self._wake.wait(), timeout=self.interval)
        except TimeoutError:
            return None
        self._wake.clear()
        changed, self._changed = self._changed, set()
        return changed

    async def events(self) -> AsyncIterator[TailEvent]:
        # Watch before the first listing, so no change falls between the two.
        self._watcher = asyncio.create_task(self._watch())
        try:
            async for event in super().events():
                yield event
        finally:
            if self._watcher is not None:
                self._watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._watcher


def _changed_topic(directory: Path, path: Path) -> str | None:
    """The topic a changed file belongs to: its pointer (`topics/<topic>.json`) or a new
    log object (`topics/<topic>/log/<generation>.json`); None for anything else."""
    try:
        parts = path.relative_to(directory).parts
    except ValueError:
        return None
    if len(parts) == 1:
        return topic_from_key(f"{TOPICS_PREFIX}{parts[0]}")
    if len(parts) == 3 and parts[1] == "log" and not parts[2].startswith("."):
        return topic_from_key(f"{TOPICS_PREFIX}{parts[0]}.json")
    return None


class BrokerTail(Tail):
    """Long-polls each topic's document through the broker (no storage access)."""

    def __init__(
        self, client: Callable[[], Client | None], *, interval: float, wait: float = 20.0
    ) -> None:
        self._client = client
        self.interval = interval
        self.wait = wait
        self.description = "long-polling the broker"
        self._queue: asyncio.Queue[TailEvent] = asyncio.Queue()
        self._followers: dict[str, asyncio.Task[None]] = {}

    async def events(self) -> AsyncIterator[TailEvent]:
        lister = asyncio.create_task(self._list_topics())
        try:
            while True:
                yield await self._queue.get()
        finally:
            tasks = [lister, *self._followers.values()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _list_topics(self) -> None:
        ok: bool | None = None
        reported: dict[str, str] = {}  # topic -> the error last reported for it
        while True:
            client = self._client()
            if client is not None:
                try:
                    listed = await client.topics()
                except Exception as exc:  # unreachable broker and the like: try again later
                    if ok is not False:
                        ok = False
                        await self._queue.put(SourceState(False, f"broker: {_problem(exc)}"))
                else:
                    if ok is not True:
                        ok = True
                        await self._queue.put(SourceState(True))
                    # A topic the broker cannot load is listed with its error: say so once.
                    errors = {stats.topic: stats.error for stats in listed if stats.error}
                    for name, error in errors.items():
                        if reported.get(name) != error:
                            await self._queue.put(TopicInvalid(name, error))
                    reported = errors
                    names = {stats.topic for stats in listed}
                    for name in names - set(self._followers):
                        self._followers[name] = asyncio.create_task(self._follow(name))
            await asyncio.sleep(self.interval)

    async def _follow(self, topic: str) -> None:
        from common.client import ClientError

        etag: str | None = None
        await self._queue.put(TopicLoading(topic))
        while True:
            client = self._client()
            if client is None:
                await asyncio.sleep(self.interval)
                continue
            try:
                obj = await client.document(topic, etag=etag, wait=self.wait if etag else None)
            except Exception as exc:  # unreachable broker and the like: try again later
                if isinstance(exc, ClientError) and exc.code == "not_found" and etag:
                    etag = None
                    await self._queue.put(TopicRemoved(topic))
                await asyncio.sleep(self.interval)
                continue
            if obj is None:
                continue
            etag = obj.etag
            try:
                document = await parse_document(topic, obj.data)
            except DocumentInvalid as exc:
                await self._queue.put(TopicInvalid(topic, str(exc)))
                continue
            await self._queue.put(TopicSnapshot(topic, obj.etag, document))
