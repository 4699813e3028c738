"""Group commit: the one place a topic's document is written (broker/DESIGN.md, "The engine").

One loop per topic takes every mutation queued while the previous write was in flight,
applies them in arrival order to the in-memory state, writes the result with ONE
`put_if(etag)` and only then resolves each request with its own result or its own error.
On PreconditionFailed (another broker wrote) it reloads and re-applies the same batch,
a bounded number of times with jittered backoff; on any other storage error it fails the
batch with StorageUnavailable, and the state is reloaded before it is used again. The
reaper is a mutation queued by the same loop on a timer. In the steady state there is no
read before a write: the ETag of the last write is the precondition of the next.

Refusals are decided on the stored state. Another broker may have changed the topic since
this one last read it, and a refusal (JobNotFound, JobStateConflict: 404 and 409 over
HTTP, a 0 or an error over RESP) from an old copy would be wrong. A batch that writes
needs nothing more: its compare-and-set proves that the state it was applied to was the
stored one. A batch that writes nothing and refused something first asks storage whether
the document moved on (`get_if_changed` with the committed ETag: a stat on localfs, a 304
on S3); if it did, the new document is installed (so `/document` serves it too) and the
batch is applied again. Batches that refuse nothing never read; reads of status may lag.

Waiters are woken by other brokers' writes too. While any client waits on the topic (a
long-poll claim, BRPOP, XREADGROUP BLOCK, a `/document` long poll: `wait_changed()`), the loop
makes the same conditional read about every POLL_SECONDS, one for all of them, and a newer
document it finds is installed and wakes them. With nobody waiting it never reads.

A lost answer is not a conflict. When a write lands but its answer is lost, the client's
retry meets the write itself and reports PreconditionFailed. So after PreconditionFailed
the committer reads the head: if it holds the very bytes this commit wrote (a head carries
generation, writer and the time in ms, so equal bytes are this write's), the write landed
and the batch is answered with the results computed for it; otherwise the head read is
someone else's, installed before the batch is applied again. The same holds for a new
checkpoint's create-only write (its key carries a random token, so an object already
there with the same bytes is this write) and for a topic's first, create-only write.
Only a write already overwritten by another broker when the head is read cannot be told
apart from a lost race; the retry and that read follow the write at once.

Reads between a batch being applied and its write landing see the applied state; a write
that fails is undone by reloading, so reads may briefly show a change that never landed.
`committed()` returns only bytes that landed.

Big topics are written as a head over a checkpoint (broker/checkpoints.py): a commit then
creates the checkpoint first, when there is a new one, and the head is still the one
`put_if(etag)`; checkpoints no head refers to any more are deleted after the head landed.
A head is written over a checkpoint seen stored at most CHECKPOINT_CHECK_SECONDS earlier;
if it is gone under the head this broker wrote last (deleted by hand, a lifecycle rule),
the commit writes the whole topic again, as a new checkpoint, instead of acknowledging
heads that could not be read after a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import secrets
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

from common.documents import HeadInvalid, checkpoint_of
from common.keys import checkpoint_prefix, set_aside_key
from common.models import DocumentInvalid
from common.store import NotFound, Object, ObjectStore, PreconditionFailed

from .checkpoints import DEFAULT_CHECKPOINT_BYTES, Write, plan_write, stale_checkpoints
from .errors import (
    BrokerError,
    DocumentUnusable,
    JobNotFound,
    JobStateConflict,
    NothingToReset,
    StorageUnavailable,
)
from .loading import load_state
from .metrics import Metrics
from .mutations import reap, trim
from .records import now_ms
from .state import CheckpointRef, Limits, TopicState

log = logging.getLogger("simplequeue.broker")

T = TypeVar("T")
Mutation = Callable[[TopicState, int], Any]

MAX_CONFLICT_RETRIES = 16
LOAD_STEP_JOBS = 20_000  # a big topic loads this many jobs at a time (about 0.1 s)
MAX_CHECKPOINT_READS = 5  # a head that moved on since it was read names a newer checkpoint
CHECKPOINT_CHECK_SECONDS = 1.0  # a head names a checkpoint seen stored at most this long ago
# An unusable document is parsed again this often even if its ETag did not change: a read
# that came back torn (a fault, not the stored bytes) must not refuse the topic for ever.
BROKEN_RECHECK_SECONDS = 5.0
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


@dataclass(frozen=True, slots=True)
class _Seen:
    """A checkpoint seen stored: its key, its ETag and when (time.monotonic())."""

    key: str
    etag: str
    at: float


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
        self._checkpoint_seen: _Seen | None = None  # the checkpoint last seen stored
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
            etag = self._broken.etag
            when = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
            aside = set_aside_key(self.name, when, secrets.token_hex(4))
            try:
                await self._move_aside(aside, etag)
            except BrokerError:
                raise
            except Exception as exc:
                raise StorageUnavailable(f"could not reset {self.key}: {exc}; retry") from exc
            log.warning("topic reset topic=%s invalid_document=%s", self.name, aside)
            self._broken = None  # the next request finds no document: an empty topic
            return aside

    async def _move_aside(self, aside: str, etag: str) -> None:
        """Copy the document at `etag` to `aside`, then delete it if still at `etag`."""
        stored = await self.store.get(self.key)
        if stored.etag == etag:
            await self.store.put_if(aside, stored.data, None)
            try:
                await self.store.delete(self.key, etag)
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
                if self.state is not None and self.state.claimed:
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
                if not await self._check_checkpoint(state):
                    fresh = True
                    continue  # another broker's head names another checkpoint: re-apply
            except StorageUnavailable as exc:
                self._stale = self._stale or state.dirty  # undo the applied batch
                _fail(batch, exc)
                return
            generation = state.generation + 1
            write = plan_write(state, generation, self.writer, now, self.checkpoint_bytes)
            try:
                etag = await self._write(write, state.etag)
            except PreconditionFailed:
                try:
                    landed = await self._own_write(write, state.etag)
                except StorageUnavailable as exc:
                    self._stale = True
                    _fail(batch, exc)
                    return
                if landed is None:  # another broker wrote first (or a spurious conflict)
                    if write.checkpoint is not None and write.ref is not None:
                        self._clean([write.ref.key])  # nobody will refer to it
                    self.metrics.conflicts.inc()
                    fresh = True  # the next try applies the batch to what storage holds
                    await asyncio.sleep(random.uniform(0, min(0.25, 0.005 * 2**attempt)))
                    continue
                etag = landed
            except Exception as exc:
                self.metrics.store_errors.inc()
                self._stale = True
                log.warning("commit failed topic=%s error=%r", self.name, exc)
                await self._try_reload()  # undo the applied batch before anyone reads it
                _fail(batch, StorageUnavailable(f"could not write {self.key}: {exc}; retry"))
                return
            previous = state.checkpoint
            state.generation = generation
            state.etag = etag
            state.updated_at = now
            state.landed(write.ref)
            if write.ref is not previous:
                self._clean_before(generation, write.ref)
            self._committed = Object(write.head, etag)
            self._last_read = time.monotonic()  # the CAS proved the state was storage's
            self.metrics.commits.inc()
            self.metrics.commit_bytes.inc(len(write.head) + len(write.checkpoint or b""))
            self.metrics.batch_size.observe(len(batch))
            self.metrics.commit_seconds.observe(time.monotonic() - started)
            _resolve(batch, outcomes)
            self._notify()
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

    async def _write(self, write: Write, etag: str | None) -> str:
        """Create the new checkpoint, if any, then compare-and-set the head."""
        if write.checkpoint is not None and write.ref is not None:
            key = write.ref.key
            try:
                created = await self.store.put_if(key, write.checkpoint, None)
            except PreconditionFailed:
                # Its key is new (a random token): what is there is this very write, whose
                # answer was lost and whose retry met it. Nothing there: a spurious
                # conflict, handled as one on the head.
                try:
                    found = await self.store.get(key)
                except NotFound:
                    raise PreconditionFailed(key, None) from None
                if found.data != write.checkpoint:
                    raise StorageUnavailable(f"{key} exists with other content") from None
                created = found.etag
            self._checkpoint_seen = _Seen(key, created, time.monotonic())
            self.metrics.checkpoints.inc()
        return await self.store.put_if(self.key, write.head, etag)

    async def _own_write(self, write: Write, etag: str | None) -> str | None:
        """After PreconditionFailed on the head: its ETag if the head that is stored now is
        the one this commit wrote (the write landed, its answer was lost and the client's
        retry met it), else None with the stored head installed or the state marked stale.
        Heads carry generation, writer and time, so equal bytes are this write's."""
        self._stale = True  # the state holds the applied batch: never re-apply on it
        try:
            current = await self.store.get_if_changed(self.key, etag)
        except NotFound:
            return None
        except Exception as exc:
            raise StorageUnavailable(f"could not read {self.key}: {exc}; retry") from exc
        if current is None:
            return None  # unchanged: a spurious conflict
        if current.data == write.head:
            self._stale = False
            return current.etag
        await self._install(current)  # another broker's write: the next try applies to it
        return None

    async def _check_checkpoint(self, state: TopicState) -> bool:
        """Before a head is written over the state's checkpoint: is that checkpoint still
        stored? Looked at (a conditional read) at most every CHECKPOINT_CHECK_SECONDS.

        If it is gone and storage holds a newer head, that head is installed and False
        returned: the batch is applied again. If it is gone under the head this broker
        wrote last (deleted by hand, or by a lifecycle rule), the state drops it, so
        the write carries the whole topic again (a new checkpoint) rather than a head
        naming a checkpoint that is missing. A topic still loading (whose whole cannot
        be written yet) is checked once it is loaded."""
        ref = state.checkpoint
        if ref is None or state.loading is not None:  # half loaded: checked once loaded
            return True
        seen = self._checkpoint_seen
        known = seen.etag if seen is not None and seen.key == ref.key else None
        recent = seen is not None and time.monotonic() - seen.at < CHECKPOINT_CHECK_SECONDS
        if known is not None and recent:
            return True
        try:
            found = await self.store.get_if_changed(ref.key, known)
            current = known if found is None else found.etag
        except NotFound:
            current = None
        except Exception as exc:
            raise StorageUnavailable(f"could not read checkpoint {ref.key}: {exc}; retry") from exc
        if current is not None and known in (None, current):
            self._checkpoint_seen = _Seen(ref.key, current, time.monotonic())
            return True
        if await self._read_if_changed():
            return False
        log.error(
            "checkpoint %s is missing (or was replaced): writing the topic %s whole again",
            ref.key,
            self.name,
        )
        state.checkpoint = None
        return True

    def _clean_before(self, generation: int, ref: CheckpointRef | None) -> None:
        """Delete the checkpoints a head of `generation` referring to `ref` made stale."""

        async def clean() -> None:
            keys = await self.store.list(checkpoint_prefix(self.name))
            await self._delete(stale_checkpoints(keys, generation, ref))

        self._background(clean())

    def _clean(self, keys: list[str]) -> None:
        self._background(self._delete(keys))

    async def _delete(self, keys: list[str]) -> None:
        for key in keys:
            with contextlib.suppress(NotFound):
                await self.store.delete(key)

    def _background(self, work: Coroutine[Any, Any, None]) -> None:
        async def run() -> None:
            try:
                await work
            except Exception as exc:  # garbage left now is removed by a later clean
                log.warning("checkpoint cleanup failed topic=%s error=%r", self.name, exc)

        task = asyncio.get_running_loop().create_task(run())
        self._cleanups.add(task)
        task.add_done_callback(self._cleanups.discard)

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
        elif self._refresh:
            await self._read_if_changed()
            return True
        return False

    async def _read_if_changed(self) -> bool:
        """Install the stored document if it is not the state's any more (a conditional
        read: cheap when nothing changed); True if it was installed."""
        self._refresh = False
        self._last_read = time.monotonic()
        assert self.state is not None
        try:
            changed = await self.store.get_if_changed(self.key, self.state.etag)
        except NotFound:
            return False
        except Exception as exc:
            raise StorageUnavailable(f"could not read {self.key}: {exc}; retry") from exc
        if changed is None:
            return False
        await self._install(changed)
        return True

    async def _reload(self) -> None:
        self._refresh = False  # a full read answers any pending refresh
        self._last_read = time.monotonic()
        try:
            stored = await self._read_unless_broken()
        except NotFound:
            self.state = TopicState(self.name, self.limits)
            self._committed = None
            self._broken = None
            self._stale = False
            self._notify()
            return
        except StorageUnavailable:
            raise
        except Exception as exc:
            raise StorageUnavailable(f"could not read {self.key}: {exc}; retry") from exc
        await self._install(stored)

    async def _read_unless_broken(self) -> Object:
        """The stored document; while the one found unusable is unchanged, its error (so a
        broken topic costs each request a conditional read, not a parse), except that it
        is read and parsed again every BROKEN_RECHECK_SECONDS."""
        broken = self._broken
        if broken is None or time.monotonic() - broken.checked_at >= BROKEN_RECHECK_SECONDS:
            return await self.store.get(self.key)
        changed = await self.store.get_if_changed(self.key, broken.etag)
        if changed is None:
            raise broken.error
        return changed

    def _unusable(self, exc: DocumentInvalid, etag: str) -> DocumentUnusable:
        """Stop serving the topic: its stored document (ETag `etag`) is unusable."""
        where = self.store.description or type(self.store).__name__
        error = DocumentUnusable(self.name, str(exc), where)
        if self._broken is None or self._broken.etag != etag:
            log.error("topic unusable topic=%s error=%s", self.name, error.message)
        self._broken = _Broken(etag, error, time.monotonic())
        self.state = None  # nothing stale is served, and nothing is written over it
        self._committed = None
        self._stale = True
        self._loaded.set()  # load() callers waiting on a half-done load get the error
        return error

    async def _install(self, stored: Object) -> None:
        try:
            stored, checkpoint = await self._with_checkpoint(stored)
            self.state = load_state(
                self.name,
                self.limits,
                self.key,
                stored.data,
                stored.etag,
                None if checkpoint is None else checkpoint.data,
                first_jobs=LOAD_STEP_JOBS,
            )
            if checkpoint is not None and self.state.checkpoint is not None:
                key = self.state.checkpoint.key
                self._checkpoint_seen = _Seen(key, checkpoint.etag, time.monotonic())
            self._loaded.set()  # wake any load() waiting on a load this one replaces
            if self.state.loading is not None:
                self._loaded = asyncio.Event()
        except HeadInvalid as exc:  # carries the ETag of the head it is about
            raise self._unusable(exc, exc.etag) from None
        except DocumentInvalid as exc:
            raise self._unusable(exc, stored.etag) from None
        except StorageUnavailable:
            raise
        except Exception as exc:
            raise StorageUnavailable(f"could not read {self.key}: {exc}; retry") from exc
        self._committed = stored
        self._broken = None
        self._stale = False
        self._notify()

    async def _with_checkpoint(self, stored: Object) -> tuple[Object, Object | None]:
        """The head and the checkpoint it refers to (None for a whole document).
        Raises HeadInvalid for a head that is invalid or names a checkpoint that is gone."""
        for _ in range(MAX_CHECKPOINT_READS):
            try:
                key = checkpoint_of(stored.data, key=self.key)
            except DocumentInvalid as exc:
                raise HeadInvalid(exc.key, exc.problem, stored.etag) from None
            if key is None:
                return stored, None
            try:
                return stored, await self.store.get(key)
            except NotFound:
                # Deleted after a newer head landed, or deleted by hand: read the head again.
                current = await self.store.get(self.key)
                if current.etag == stored.etag:
                    problem = f"names checkpoint {key}, which does not exist (it was deleted)"
                    raise HeadInvalid(self.key, problem, stored.etag) from None
                stored = current
        raise StorageUnavailable(
            f"{self.key} was replaced {MAX_CHECKPOINT_READS} times while its checkpoint was "
            "being read (other brokers write it very often); retry"
        )

    async def _try_reload(self) -> None:
        try:
            async with self._lock:
                await self._reload()
        except StorageUnavailable:
            pass  # still stale: the next batch reloads first

    def _notify(self) -> None:
        event, self._changed = self._changed, asyncio.Event()
        event.set()


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
