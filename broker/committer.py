"""Group commit: the one place a topic is written (broker/DESIGN.md, "The engine").

One loop per topic takes every mutation queued while the previous write was in flight,
applies them in arrival order to the in-memory state, writes what the batch changed as
ONE create-only log object and only then resolves each request with its own result or
its own error. On PreconditionFailed (another broker wrote that generation) it reloads
and re-applies the same batch, a bounded number of times with jittered backoff; on any
other storage error it fails the batch with StorageUnavailable, and the state is reloaded
before it is used again. The reaper is a mutation queued by the same loop on a timer.

Refusals are decided on the stored state. Another broker may have changed the topic since
this one last read it, and a refusal (JobNotFound, JobStateConflict: 404 and 409 over
HTTP, a 0 or an error over RESP) from an old copy would be wrong. A batch that writes
needs nothing more: its compare-and-set proves that the state it was applied to was the
stored one. A batch that writes nothing and refused something first asks storage whether
the topic moved on (a get of the next log object: not found means unchanged; formats 1
and 2: `get_if_changed` of the document); if it did, the topic is read again (so
`/document` serves it too) and the batch is applied again. Batches that refuse nothing
never read; reads of status may lag.

Waiters are woken by other brokers' writes too. While any client waits on the topic (a
long-poll claim, BRPOP, XREADGROUP BLOCK, a `/document` long poll: `wait_changed()`), the loop
makes the same read about every POLL_SECONDS, one for all of them, and a newer
generation it finds is read and wakes them. With nobody waiting it never reads.

The log object (common/topic_log.py, format 3) is `topics/<t>/log/<g>.json`, with only
the batch's changes. That create is the compare-and-set:
the broker that creates generation g first wins; a loser reads the topic again and
applies its batch to what storage holds. In the steady state there is no read before a
write. Checkpoints (taken between two commits, written by a background task) and garbage
collection run off the commit path (broker/checkpoints.py,
which also states the rule that keeps a deleted log object from being created again: a
copy last confirmed current more than CONFIRM_SECONDS ago is brought up to date first).

A topic stored in an older format (a format-1 document, a format-2 head over a
checkpoint), or not stored yet, moves to the log layout on its first write: the commit
creates a checkpoint of the whole topic as of its generation, then compare-and-sets the
topic's key from what it read (the old document, or nothing) to a pointer naming it.

A lost answer is not a conflict. When a write lands but its answer is lost, the client's
retry meets the write itself and reports PreconditionFailed. So after PreconditionFailed
the committer reads the object: if it holds the very bytes this commit wrote (a log
object carries a random token, a pointer names a checkpoint with a random key), the write
landed and the batch is answered with the results computed for it; otherwise it is
someone else's, and the topic is read again before the batch is applied again.

Reads between a batch being applied and its write landing see the applied state; a write
that fails is undone by reloading, so reads may briefly show a change that never landed.
`committed()` returns only what landed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import secrets
import time
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

from common.keys import (
    checkpoint_key,
    checkpoints_prefix,
    log_generation,
    log_key,
    log_prefix,
    set_aside_key,
)
from common.models import LOG_FORMAT, DocumentInvalid
from common.store import NotFound, Object, ObjectStore, PreconditionFailed
from common.topic_log import (
    HeadInvalid,
    Stored,
    pointer_bytes,
    read_topic,
    root_format,
    validate_pointer,
)

from .checkpoints import (
    CONFIRM_SECONDS,
    DEFAULT_CHECKPOINT_BYTES,
    GC_INTERVAL_SECONDS,
    GRACE_SECONDS,
    LOG_LIST_SECONDS,
    checkpoint_due,
    covered_logs,
    stale_checkpoints,
)
from .errors import (
    BrokerError,
    DocumentUnusable,
    JobNotFound,
    JobStateConflict,
    NothingToReset,
    StorageUnavailable,
)
from .loading import load_stored
from .metrics import Metrics
from .mutations import reap, trim
from .records import now_ms
from .state import Limits, TopicState

log = logging.getLogger("simplequeue.broker")

T = TypeVar("T")
Mutation = Callable[[TopicState, int], Any]

MAX_CONFLICT_RETRIES = 16
LOAD_STEP_JOBS = 20_000  # a big topic loads this many jobs at a time (about 0.1 s)
# An unusable document is parsed again this often even if its ETag did not change: a read
# that came back torn (a fault, not the stored bytes) must not refuse the topic for ever.
BROKEN_RECHECK_SECONDS = 5.0
CHECKPOINT_CHECK_SECONDS = 1.0  # the pointer's checkpoint is seen stored at most this long ago
POLL_SECONDS = 1.0  # while clients wait, storage is checked for other brokers' writes this often
MAX_GATHER_SECONDS = 0.05
MIN_GATHER_SECONDS = 0.002
GATHER_FRACTION = 0.5


class _Request:
    __slots__ = ("early", "fn", "future")

    def __init__(
        self, fn: Mutation, future: asyncio.Future[Any] | None, early: bool = False
    ) -> None:
        self.fn = fn
        self.future = future
        self.early = early  # a claim: may run while a big topic is still loading


@dataclass(frozen=True)
class _Broken:
    """The stored document at `etag` is unusable: `error` answers every request."""

    etag: str
    error: DocumentUnusable
    checked_at: float  # monotonic time it was last parsed
    key: str  # the object found unusable: the topic's key, a checkpoint or a log object


@dataclass(slots=True)
class _Log:
    """A log object known to exist: its generation, size and when it was seen."""

    generation: int
    size: int
    seen: float  # time.monotonic()


CLOSE_COLLECT_SECONDS = 5.0  # a shutdown waits at most this long to tidy old objects


class GroupCommitter:
    def __init__(
        self,
        name: str,
        key: str,
        store: ObjectStore,
        limits: Limits,
        writer: str,
        metrics: Metrics,
        reaper_period: float,
        checkpoint_bytes: int = DEFAULT_CHECKPOINT_BYTES,
    ) -> None:
        self.name, self.key, self.store = name, key, store
        self.checkpoint_bytes = checkpoint_bytes
        self._cleanups: set[asyncio.Task[None]] = set()
        self._loaded = asyncio.Event()  # set whenever no load is left half done
        # The stored document's ETag and what is wrong with it, while it is unusable: it
        # is never written over, and not read again until its ETag changes.
        self._broken: _Broken | None = None
        self.limits, self.writer, self.metrics = limits, writer, metrics
        self.reaper_period = reaper_period
        self.state: TopicState | None = None
        self._stale = True  # the in-memory state must be (re)loaded before use
        self._refresh = False  # check storage for another broker's write, if cheap
        self._last_read = time.monotonic()  # storage last read or written (the state's age)
        self._committed: Object | None = None
        # What the topic's key held when last read or written (pointer or old document).
        self._root: Object | None = None
        self._pointer_generation = 0  # generation of the checkpoint the pointer names
        self._pointer_checkpoint = ""
        self._checkpoint_size = 0
        self._confirmed_at = float("-inf")  # the copy was the newest then (checkpoints.py)
        self._logs: deque[_Log] = deque()  # log objects known to exist, oldest first
        self._checkpointing: asyncio.Task[None] | None = None
        self._next_gc = 0.0
        self._garbage = False  # something to collect: a format-2 topic's old checkpoints
        # Log objects after the pointer's generation: how many, their bytes (for
        # `checkpoint_due`); counted again from `_logs` when the pointer moves.
        self._since = (0, 0)
        self._since_generation = -1
        self._next_log_list = 0.0  # when to list the log for objects others left
        self._checkpoint_seen = float("-inf")  # when the pointer's checkpoint was seen stored
        self._checkpoint_etag = ""
        self._queue: list[_Request] = []
        self._wake = asyncio.Event()
        self._gathered = asyncio.Event()  # enough requests queued to end a _gather
        self._gather_target = 0
        self._commit_ewma = 0.0  # smoothed seconds per write
        self._changed = asyncio.Event()
        self.waiting = 0  # callers parked in wait_changed: storage is polled meanwhile
        self._lock = asyncio.Lock()
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self._next_reap = time.monotonic() + reaper_period

    # --- public -------------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name=f"commit:{self.name}"
            )

    async def submit(self, fn: Callable[[TopicState, int], T], *, early: bool = False) -> T:
        """Queue a mutation; return its result once the write carrying it landed.

        `early` marks a claim, which may run while a big topic is still loading (when a
        job to claim is loaded): it changes only jobs the loaded prefix holds."""
        self.check_open()
        self.start()
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.append(_Request(fn, future, early))
        self._wake.set()
        if self._gather_target and len(self._queue) >= self._gather_target:
            self._gathered.set()
        return await future

    async def load(self) -> TopicState:
        """The whole state, loading it from storage on first use."""
        if self.state is None:
            async with self._lock:
                if self.state is None:
                    await self._reload()
        while self.state is not None and self.state.loading is not None:
            self.check_open()  # a closed loop would never finish the load
            self.start()  # the loop loads the rest
            await self._loaded.wait()
        if self.state is None:
            if self._broken is not None:
                raise self._broken.error
            raise StorageUnavailable(f"could not load {self.key}; retry")
        return self.state

    @property
    def closing(self) -> bool:
        return self._closing

    def check_open(self) -> None:
        if self._closing:
            raise StorageUnavailable("the broker is shutting down: retry against another broker")

    def committed(self) -> Object | None:
        return self._committed

    def request_refresh(self) -> None:
        self._refresh = True
        self._wake.set()

    async def refreshed(self) -> None:
        """Catch up with storage: one conditional read, installing another broker's write
        (queued like a mutation, so it is made after any write already in flight)."""
        self.request_refresh()
        await self.submit(_nothing)

    async def wait_changed(self, timeout: float) -> bool:  # noqa: ASYNC109
        """Wait for the next commit or reload; False on timeout. While anyone waits, the
        loop polls storage every POLL_SECONDS, so another broker's write wakes them too
        (one read for all the waiters)."""
        self.waiting += 1  # also the sq_long_polls gauge: a commit from now on wakes us
        if self.waiting == 1:
            self.start()
            self._wake.set()  # the loop recomputes its sleep to include the next poll
        try:
            return await _wait(self._changed, timeout)
        finally:
            self.waiting -= 1

    async def close(self) -> None:
        """Finish every queued mutation, then stop the loop."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task
        if self._cleanups:
            await asyncio.gather(*self._cleanups, return_exceptions=True)
        # A last collection: a broker killed while writing a checkpoint leaves it behind,
        # and a later pointer may have passed it since this broker last collected.
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._collect(), CLOSE_COLLECT_SECONDS)
        self._loaded.set()  # load() callers see the shutdown rather than wait for ever
        self._notify()  # long polls wake now and get StorageUnavailable, not a hang

    async def reset_invalid(self) -> str:
        """Move the topic's unusable document aside (its bytes kept at `set_aside_key`)
        so that the topic starts empty; returns the key it was moved to. Refused unless
        the stored document is still the one found unusable."""
        self.check_open()
        async with self._lock:
            if self.state is not None:
                raise NothingToReset(self.key)  # loaded and valid here
            with contextlib.suppress(DocumentUnusable):
                await self._reload()  # it may have been repaired or removed meanwhile
            if self._broken is None:
                raise NothingToReset(self.key)
            etag, bad = self._broken.etag, self._broken.key
            when = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
            aside = set_aside_key(self.name, when, secrets.token_hex(4))
            try:
                await self._move_aside(aside, etag, bad)
            except BrokerError:
                raise
            except Exception as exc:
                raise StorageUnavailable(f"could not reset {self.key}: {exc}; retry") from exc
            log.warning("topic reset topic=%s invalid_document=%s", self.name, aside)
            self._broken = None  # the next request finds no document: an empty topic
            return aside

    async def _move_aside(self, aside: str, etag: str, bad: str) -> None:
        """Copy the unusable object `bad` (or the topic's key) to `aside`, then start the
        topic empty if its key is still at `etag`: by deleting it, or, when the topic has
        log objects (which must never be created again, see checkpoints.py), by pointing
        it at an empty checkpoint past every one of them."""
        stored = await self.store.get(self.key)
        if stored.etag == etag:
            kept = stored
            if bad != self.key:
                with contextlib.suppress(NotFound):  # a checkpoint that is gone: keep the key
                    kept = await self.store.get(bad)
            await self.store.put_if(aside, kept.data, None)
            keys = await self.store.list(log_prefix(self.name))
            logs = [generation for key in keys if (generation := log_generation(key))]
            try:
                if not logs:
                    await self.store.delete(self.key, etag)
                    return
                generation = max(logs) + 1
                empty = TopicState(self.name, self.limits)
                whole = empty.encode(generation, self.writer, now_ms())
                ckpt = checkpoint_key(self.name, generation, secrets.token_hex(4))
                await self.store.put_if(ckpt, whole, None)
                token = secrets.token_hex(8)
                pointer = pointer_bytes(self.name, generation, token, ckpt)
                await self.store.put_if(self.key, pointer, etag)
                return
            except PreconditionFailed:
                await self.store.delete(aside)
        raise StorageUnavailable(
            f"{self.key} changed while being reset, so nothing was reset: look at it again"
        )

    # --- the loop -----------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            if self._loading():
                await self._load_step()
            elif not self._queue and not self._closing:
                timeout = self._next_reap - time.monotonic()
                if self.waiting:
                    timeout = min(timeout, self._last_read + POLL_SECONDS - time.monotonic())
                # Always await, even when the reap or a poll is due: a loop that never
                # yields would starve every other task of the broker.
                await _wait(self._wake, timeout)
                self._wake.clear()
            if self._closing and not self._queue:
                return
            batch, self._queue = self._queue, []
            if self._polling():
                self._refresh = True
            if time.monotonic() >= self._next_reap and not self._loading():
                self._next_reap = time.monotonic() + self.reaper_period
                # Consumer groups keep their claims apart (broker/groups.py).
                if self.state is not None and (self.state.claimed or self.state.groups):
                    batch.append(_Request(reap, None))
            if batch or self._refresh:
                started = time.monotonic()
                try:
                    await self._commit(batch)
                except Exception:  # the loop must outlive any bug in one batch
                    log.exception("commit loop error topic=%s", self.name)
                    self._stale = True
                    _fail(batch, StorageUnavailable("internal error while committing: retry"))
                if batch:  # a read alone says nothing of how long a write takes
                    await self._gather(len(batch), time.monotonic() - started)

    async def _gather(self, answered: int, commit_seconds: float) -> None:
        """After a write that answered several requests, let their senders catch up.

        Under concurrent load the clients a write just answered send their next requests
        a round trip later. Taking the next batch at once would leave them for the write
        after it, and the clients would settle into groups that take turns, each write
        carrying only part of them. So the loop waits until as many requests are queued
        as were in flight (answered + queued), or for a fraction of a write's duration."""
        self._commit_ewma += 0.2 * (commit_seconds - self._commit_ewma)
        target = answered + len(self._queue)
        if len(self._queue) >= target or self._closing:
            return
        self._gather_target = target
        self._gathered.clear()
        timeout = GATHER_FRACTION * self._commit_ewma
        await _wait(self._gathered, min(MAX_GATHER_SECONDS, max(MIN_GATHER_SECONDS, timeout)))
        self._gather_target = 0

    async def _commit(self, batch: list[_Request]) -> None:
        started = time.monotonic()
        fresh = False  # storage was read during this commit: the batch's refusals stand
        for attempt in range(MAX_CONFLICT_RETRIES):
            try:
                fresh |= await self._freshen()
            except StorageUnavailable as exc:
                _fail(batch, exc)
                return
            state = self.state
            assert state is not None
            now = now_ms()
            if state.loading is not None and not self._runnable(state, now, batch):
                return
            outcomes = self._apply(state, now, batch)
            if outcomes is None:
                continue  # a mutation crashed: reloaded state, batch without it
            if state.loading is None:  # retention counts every job
                trim(state)
            try:
                if not state.dirty:
                    # No write will prove this state current: a refusal is first checked
                    # against storage (one conditional read), and decided again if it moved.
                    if state.refused and not fresh:
                        fresh = True
                        if await self._read_if_changed():
                            continue
                    _resolve(batch, outcomes)
                    return
            except StorageUnavailable as exc:
                self._stale = self._stale or state.dirty  # undo the applied batch
                _fail(batch, exc)
                return
            generation = state.generation + 1
            try:
                if state.layout == LOG_FORMAT:
                    missing = await self._checkpoint_missing(state)
                    landed = await self._append(state, generation, now)
                    if landed and missing:
                        await self._replace_checkpoint(state, now)
                else:
                    landed = await self._rebase(state, generation, now)
            except StorageUnavailable as exc:
                self._stale = True
                _fail(batch, exc)
                return
            except Exception as exc:
                self.metrics.store_errors.inc()
                self._stale = True
                log.warning("commit failed topic=%s error=%r", self.name, exc)
                await self._try_reload()  # undo the applied batch before anyone reads it
                _fail(batch, StorageUnavailable(f"could not write {self.key}: {exc}; retry"))
                return
            if not landed:  # another broker wrote first (or a spurious conflict)
                self._stale = True  # the state holds the applied batch: read storage again
                self.metrics.conflicts.inc()
                fresh = True  # the next try applies the batch to what storage holds
                await asyncio.sleep(random.uniform(0, min(0.25, 0.005 * 2**attempt)))
                continue
            state.updated_at = now
            state.landed()
            self._last_read = time.monotonic()  # the write proved the state was storage's
            self.metrics.commits.inc()
            self.metrics.batch_size.observe(len(batch))
            self.metrics.commit_seconds.observe(time.monotonic() - started)
            _resolve(batch, outcomes)
            self._notify()
            self._after_commit(state)
            return
        _fail(
            batch,
            StorageUnavailable(
                f"gave up after {MAX_CONFLICT_RETRIES} write conflicts on {self.key}: "
                "another broker keeps writing; retry"
            ),
        )

    def _polling(self) -> bool:
        """Is a read of storage due for the clients waiting on the topic?"""
        due = time.monotonic() - self._last_read >= POLL_SECONDS
        return bool(self.waiting) and due and not self._loading() and not self._closing

    def _loading(self) -> bool:
        return self.state is not None and self.state.loading is not None and not self._stale

    def _runnable(self, state: TopicState, now: int, batch: list[_Request]) -> bool:
        """While a big topic loads, keep in `batch` only claims, and only if the loaded
        jobs hold one to claim; the others go back to the queue, in order, for later."""
        ready = state.peek_ready(now) is not None
        later = [request for request in batch if not (ready and request.early)]
        if later:
            batch[:] = [request for request in batch if ready and request.early]
            self._queue[:0] = later
        return bool(batch)

    async def _load_step(self) -> None:
        """Load the next part of a big topic; let requests in between parts."""
        state = self.state
        assert state is not None and state.loading is not None
        try:
            done = state.loading.step(LOAD_STEP_JOBS)
        except Exception as exc:  # DocumentInvalid, or a bug: the loop must go on
            if not isinstance(exc, DocumentInvalid):
                exc = DocumentInvalid(self.key, f"could not be loaded: {exc!r}")
            error = self._unusable(exc, state.etag or "")  # every request fails until it changes
            _fail(self._queue, error)
            self._queue = []
            done = True
        if done:
            self._loaded.set()
        self._notify()  # claims waiting for a loaded job look again
        await asyncio.sleep(0)

    async def _append(self, state: TopicState, generation: int, now: int) -> bool:
        """Create the log object of `generation`; True if it landed (this write, even if
        its answer was lost), False if another broker's is there."""
        assert state.token is not None
        token = secrets.token_hex(8)
        entry = state.encode_entry(generation, state.token, token, self.writer, now)
        key = log_key(self.name, generation)
        sent = time.monotonic()
        try:
            await self.store.put_if(key, entry, None)
        except PreconditionFailed:
            if not await self._own(key, entry):
                return False
        state.generation, state.token = generation, token
        self.metrics.commit_bytes.inc(len(entry))  # a checkpoint off the path is not counted
        self._confirmed_at = sent
        self._logs.append(_Log(generation, len(entry), time.monotonic()))
        self._since = (self._since[0] + 1, self._since[1] + len(entry))
        root = self._root
        self._committed = Object(b"" if root is None else root.data, _etag(generation, token))
        return True

    async def _own(self, key: str, data: bytes) -> bool:
        """After PreconditionFailed on a create: is what `key` holds this very write (its
        answer lost, the retry meeting it)? Nothing there is a spurious conflict."""
        try:
            found = await self.store.get(key)
        except NotFound:
            return False
        except Exception as exc:
            raise StorageUnavailable(f"could not read {key}: {exc}; retry") from exc
        return found.data == data

    async def _rebase(self, state: TopicState, generation: int, now: int) -> bool:
        """The first write of a topic, or of one stored in format 1 or 2: a checkpoint of
        the whole topic, then the topic's key from what was read to a pointer naming it."""
        whole = state.encode(generation, self.writer, now)
        ckpt = checkpoint_key(self.name, generation, secrets.token_hex(4))
        try:
            ckpt_etag = await self.store.put_if(ckpt, whole, None)
        except PreconditionFailed:
            ckpt_etag = ""
            # Its key is new: what is there is this very write, whose answer was lost.
            # Nothing there: a spurious conflict, retried like one.
            if not await self._own(ckpt, whole):
                return False
        self.metrics.checkpoints.inc()
        token = secrets.token_hex(8)
        pointer = pointer_bytes(self.name, generation, token, ckpt)
        previous = None if self._root is None else self._root.etag
        sent = time.monotonic()
        try:
            etag = await self.store.put_if(self.key, pointer, previous)
        except PreconditionFailed:
            if not await self._own(self.key, pointer):
                self._clean([ckpt])  # nobody will name it
                return False
            etag = (await self.store.get(self.key)).etag
        state.generation, state.token, state.layout = generation, token, LOG_FORMAT
        self.metrics.commit_bytes.inc(len(whole) + len(pointer))  # both on the commit path
        state.etag = etag
        self._root = Object(pointer, etag)
        self._pointer_generation, self._pointer_checkpoint = generation, ckpt
        self._checkpoint_size, self._checkpoint_etag = len(whole), ckpt_etag
        self._checkpoint_seen = time.monotonic()
        self._confirmed_at = sent
        self._logs.clear()
        self._since_generation = -1
        self._committed = Object(pointer, _etag(generation, token))
        self._garbage = previous is not None  # what the old format stored is garbage now
        return True

    async def _checkpoint_missing(self, state: TopicState) -> bool:
        """Is the pointer's checkpoint gone (deleted by hand, a lifecycle rule)? Looked at
        at most every CHECKPOINT_CHECK_SECONDS, before a commit; a topic still loading
        (which cannot be written whole yet) is looked at once loaded."""
        now = time.monotonic()
        if state.loading is not None or now - self._checkpoint_seen < CHECKPOINT_CHECK_SECONDS:
            return False
        try:
            found = await self.store.get_if_changed(self._pointer_checkpoint, self._checkpoint_etag)
        except NotFound:
            root = self._root
            if root is None or await self.store.get_if_changed(self.key, root.etag) is not None:
                return False  # the pointer moved on (and its old checkpoint was collected)
            log.error(
                "checkpoint %s is missing: writing the topic %s whole again",
                self._pointer_checkpoint,
                self.name,
            )
            return True
        if found is not None:  # checkpoints never change: this is the first look
            self._checkpoint_etag = found.etag
        self._checkpoint_seen = now
        return False

    async def _replace_checkpoint(self, state: TopicState, now: int) -> None:
        """Write a checkpoint of the state (just landed) and move the pointer to it, before
        the batch is answered: what it acknowledges must be readable after a restart."""
        assert state.token is not None
        whole = state.encode(state.generation, self.writer, now)
        task = self._checkpointing
        if task is not None:
            await asyncio.wait({task})
        await self._checkpoint(state.generation, state.token, whole)
        if self._pointer_generation < state.generation:
            raise StorageUnavailable(f"could not replace the missing checkpoint of {self.name}")

    def _after_commit(self, state: TopicState) -> None:
        """Start a checkpoint if one is due, or garbage collection (both off the commit
        path: background tasks of the topic)."""
        if state.layout != LOG_FORMAT or state.loading is not None or self._closing:
            return
        if self._checkpointing is None:
            if self._since_generation != self._pointer_generation:  # the pointer moved
                since = [e for e in self._logs if e.generation > self._pointer_generation]
                self._since = (len(since), sum(entry.size for entry in since))
                self._since_generation = self._pointer_generation
            count, size = self._since
            if checkpoint_due(size, count, self.checkpoint_bytes, self._checkpoint_size):
                assert state.token is not None and state.updated_at is not None
                # Taken now, between two commits: exactly generation `state.generation`.
                parts = state.encode_parts(state.generation, self.writer, state.updated_at)
                work = self._checkpoint(state.generation, state.token, parts)
                self._checkpointing = self._background(work)
                return
        now = time.monotonic()
        if now < self._next_gc or self._checkpointing is not None:
            return
        oldest = self._logs[0] if self._logs else None
        due = oldest is not None and oldest.generation <= self._pointer_generation
        if self._garbage or (due and now - oldest.seen >= GRACE_SECONDS):  # type: ignore[union-attr]
            self._garbage = False
            self._next_gc = now + GC_INTERVAL_SECONDS
            self._background(self._collect())

    async def _checkpoint(self, generation: int, token: str, whole: bytes | list[bytes]) -> None:
        """Create a checkpoint of `generation`, move the pointer forward to it, collect."""
        try:
            if isinstance(whole, list):  # joined off the event loop: a copy of the topic
                whole = await asyncio.to_thread(b",".join, whole)
            ckpt = checkpoint_key(self.name, generation, secrets.token_hex(4))
            ckpt_etag = await self.store.put_if(ckpt, whole, None)
            self.metrics.checkpoints.inc()
            pointer = pointer_bytes(self.name, generation, token, ckpt)
            root = self._root
            for _ in range(MAX_CONFLICT_RETRIES):
                if root is None:
                    await self._delete([ckpt])
                    return
                try:
                    etag = await self.store.put_if(self.key, pointer, root.etag)
                    break
                except PreconditionFailed:
                    if await self._own(self.key, pointer):
                        etag = (await self.store.get(self.key)).etag
                        break
                    root = await self.store.get(self.key)
                    if _pointer_generation(self.key, self.name, root) >= generation:
                        await self._delete([ckpt])  # a newer one is named: this one never
                        return
            else:
                await self._delete([ckpt])
                return
            if self._pointer_generation < generation:
                if self._root is not None and self._root.data == root.data:
                    self._root = Object(pointer, etag)
                    if self.state is not None and self.state.etag == root.etag:
                        self.state.etag = etag
                self._pointer_generation, self._pointer_checkpoint = generation, ckpt
                self._checkpoint_size, self._checkpoint_etag = len(whole), ckpt_etag
                self._checkpoint_seen = time.monotonic()
            self._next_gc = time.monotonic() + GC_INTERVAL_SECONDS
            await self._collect()
        finally:
            self._checkpointing = None

    async def _collect(self) -> None:
        """Delete checkpoints older than the pointer's, and log objects it covers that
        have been known to exist for GRACE_SECONDS (checkpoints.py)."""
        floor, named = self._pointer_generation, self._pointer_checkpoint
        if not named:
            return
        keys = await self.store.list(checkpoints_prefix(self.name))
        await self._delete(stale_checkpoints(keys, floor, named))
        now = time.monotonic()
        if now >= self._next_log_list:  # log objects others saw and did not collect
            self._next_log_list = now + LOG_LIST_SECONDS
            known = {entry.generation for entry in self._logs}
            for generation, _ in covered_logs(await self.store.list(log_prefix(self.name)), floor):
                if generation not in known:  # seen now: deleted after the grace period
                    self._logs.append(_Log(generation, 0, now))
        self._logs = deque(sorted(self._logs, key=lambda entry: entry.generation))
        due = [
            entry for entry in self._logs
            if entry.generation <= floor and now - entry.seen >= GRACE_SECONDS
        ]  # fmt: skip
        await self._delete([log_key(self.name, entry.generation) for entry in due])
        gone = {entry.generation for entry in due}
        self._logs = deque(entry for entry in self._logs if entry.generation not in gone)

    def _clean(self, keys: list[str]) -> None:
        self._background(self._delete(keys))

    async def _delete(self, keys: list[str]) -> None:
        for key in keys:
            with contextlib.suppress(NotFound):
                await self.store.delete(key)

    def _background(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        async def run() -> None:
            try:
                await work
            except Exception as exc:  # garbage left now is removed by a later clean
                log.warning("checkpoint or cleanup failed topic=%s error=%r", self.name, exc)

        task = asyncio.get_running_loop().create_task(run())
        self._cleanups.add(task)
        task.add_done_callback(self._cleanups.discard)
        return task

    def _apply(
        self, state: TopicState, now: int, batch: list[_Request]
    ) -> list[tuple[bool, Any]] | None:
        state.dirty = state.refused = False
        outcomes: list[tuple[bool, Any]] = []
        for request in batch:
            if request.future is not None and request.future.done():
                outcomes.append((False, None))  # cancelled by its caller: not applied
                continue
            try:
                outcomes.append((True, request.fn(state, now)))
            except (JobNotFound, JobStateConflict) as exc:  # a refusal (404, 409)
                state.refused = True
                outcomes.append((False, exc))
            except BrokerError as exc:
                outcomes.append((False, exc))
            except Exception:
                log.exception("mutation failed topic=%s", self.name)
                batch.remove(request)
                _fail([request], StorageUnavailable("internal error applying the request"))
                self._stale = True
                return None
        return outcomes

    # --- loading ------------------------------------------------------------------------

    async def _freshen(self) -> bool:
        """Load the state if it must be; True if storage was read."""
        if self.state is None or self._stale:
            async with self._lock:
                if self.state is None or self._stale:  # else a load() finished meanwhile
                    await self._reload()
                    return True
        elif self._refresh or self._unconfirmed():
            await self._read_if_changed()
            return True
        return False

    def _unconfirmed(self) -> bool:
        """Is the copy (log layout) too long unconfirmed to write after? (checkpoints.py)"""
        state = self.state
        if state is None or state.layout != LOG_FORMAT:
            return False
        return time.monotonic() - self._confirmed_at >= CONFIRM_SECONDS

    async def _read_if_changed(self) -> bool:
        """Read the topic again if it is not the state's any more (cheap when nothing
        changed: a get of the next log object, not found); True if it was read again."""
        self._refresh = False
        self._last_read = time.monotonic()
        state = self.state
        assert state is not None
        try:
            if state.layout == LOG_FORMAT:
                if await self._confirm(state):
                    return False
            elif await self.store.get_if_changed(self.key, state.etag) is None:
                return False
        except NotFound:
            if state.layout != LOG_FORMAT:
                return False  # a document deleted by hand is noticed on the next reload
        except Exception as exc:
            raise StorageUnavailable(f"could not read {self.key}: {exc}; retry") from exc
        await self._reload()
        return True

    async def _confirm(self, state: TopicState) -> bool:
        """Is the state still the newest generation? (checkpoints.py, rule 2)"""
        sent = time.monotonic()
        try:
            await self.store.get(log_key(self.name, state.generation + 1))
            return False
        except NotFound:
            pass
        if sent - self._confirmed_at >= CONFIRM_SECONDS:
            root = self._root
            if root is None or await self.store.get_if_changed(self.key, root.etag) is not None:
                return False
        self._confirmed_at = sent
        return True

    async def _reload(self) -> None:
        self._refresh = False  # a full read answers any pending refresh
        self._last_read = time.monotonic()
        try:
            stored = await self._read_unless_broken()
        except NotFound:
            self.state = TopicState(self.name, self.limits)
            self._committed = None
            self._root = None
            self._broken = None
            self._stale = False
            self._notify()
            return
        except HeadInvalid as exc:  # carries the ETag of the topic's key
            raise self._unusable(exc, exc.etag) from None
        except StorageUnavailable:
            raise
        except Exception as exc:
            raise StorageUnavailable(f"could not read {self.key}: {exc}; retry") from exc
        await self._install(stored)

    async def _read_unless_broken(self) -> Stored:
        """The stored topic; while the one found unusable is unchanged, its error (so a
        broken topic costs each request a conditional read, not a parse), except that it
        is read and parsed again every BROKEN_RECHECK_SECONDS."""
        broken = self._broken
        if (
            broken is not None
            and time.monotonic() - broken.checked_at < BROKEN_RECHECK_SECONDS
            and await self.store.get_if_changed(self.key, broken.etag) is None
        ):
            raise broken.error
        return await read_topic(self.store, self.name)

    def _unusable(self, exc: DocumentInvalid, etag: str) -> DocumentUnusable:
        """Stop serving the topic: its stored document (ETag `etag`) is unusable."""
        where = self.store.description or type(self.store).__name__
        error = DocumentUnusable(self.name, str(exc), where)
        if self._broken is None or self._broken.etag != etag:
            log.error("topic unusable topic=%s error=%s", self.name, error.message)
        self._broken = _Broken(etag, error, time.monotonic(), exc.key)
        self.state = None  # nothing stale is served, and nothing is written over it
        self._committed = None
        self._stale = True
        self._loaded.set()  # load() callers waiting on a half-done load get the error
        return error

    async def _install(self, stored: Stored) -> None:
        try:
            first = LOAD_STEP_JOBS if stored.format == LOG_FORMAT else None
            self.state = load_stored(self.name, self.limits, stored, first_jobs=first)
            self._loaded.set()  # wake any load() waiting on a load this one replaces
            if self.state.loading is not None:
                self._loaded = asyncio.Event()
        except DocumentInvalid as exc:
            raise self._unusable(exc, stored.root.etag) from None
        except StorageUnavailable:
            raise
        except Exception as exc:
            raise StorageUnavailable(f"could not read {self.key}: {exc}; retry") from exc
        self._root = stored.root
        self._pointer_generation = stored.checkpoint_generation
        self._pointer_checkpoint = stored.base_key if stored.format == LOG_FORMAT else ""
        self._checkpoint_size, self._checkpoint_etag = len(stored.base), stored.base_etag
        self._checkpoint_seen = time.monotonic()
        self._confirmed_at = stored.confirmed_at
        now = time.monotonic()
        self._logs = deque(_Log(generation, size, now) for generation, size in stored.sizes)
        self._since_generation = -1  # counted from `_logs` at the next commit
        if stored.format == LOG_FORMAT:
            self._committed = Object(stored.root.data, _etag(stored.generation, stored.token))
        else:
            self._committed = stored.root
        self._broken = None
        self._stale = False
        self._notify()

    async def _try_reload(self) -> None:
        try:
            async with self._lock:
                await self._reload()
        except StorageUnavailable:
            pass  # still stale: the next batch reloads first

    def _notify(self) -> None:
        event, self._changed = self._changed, asyncio.Event()
        event.set()


def _pointer_generation(key: str, topic: str, root: Object) -> int:
    """The generation a stored pointer names; anything else counts as newer than all."""
    try:
        return validate_pointer(key, root_format(key, root.data)[1], topic).generation
    except DocumentInvalid:
        return 2**63


def _etag(generation: int, token: str | None) -> str:
    """The ETag of a topic's document in the log layout (common/topic_log.py)."""
    return f"{generation}-{token}"


def _nothing(state: TopicState, now: int) -> None:
    """A mutation that changes nothing (see `refreshed`)."""


async def _wait(event: asyncio.Event, timeout: float) -> bool:  # noqa: ASYNC109
    """Wait for `event` at most `timeout` seconds; True if it was set."""
    try:
        async with asyncio.timeout(max(0.0, timeout)):
            await event.wait()
    except TimeoutError:
        return False
    return True


def _resolve(batch: list[_Request], outcomes: list[tuple[bool, Any]]) -> None:
    for request, (ok, value) in zip(batch, outcomes, strict=True):
        future = request.future
        if future is None or future.done():
            continue
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)


def _fail(batch: list[_Request], error: BrokerError) -> None:
    for request in batch:
        if request.future is not None and not request.future.done():
            request.future.set_exception(error)
