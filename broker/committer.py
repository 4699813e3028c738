"""Group commit: the one place a topic's document is written (DESIGN.md, "The engine").

One loop per topic takes every mutation queued while the previous write was in flight,
applies them in arrival order to the in-memory state, writes the result with ONE
`put_if(etag)` and only then resolves each request with its own result or its own error.
On PreconditionFailed (another broker wrote) it reloads and re-applies the same batch,
a bounded number of times with jittered backoff; on any other storage error it fails the
batch with StorageUnavailable, and the state is reloaded before it is used again. The
reaper is a mutation queued by the same loop on a timer. In the steady state there is no
read before a write: the ETag of the last write is the precondition of the next.

Reads between a batch being applied and its write landing see the applied state; a write
that fails is undone by reloading, so reads may briefly show a change that never landed.
`committed()` returns only bytes that landed.

Big topics are written as a head over a checkpoint (broker/checkpoints.py): a commit then
creates the checkpoint first, when there is a new one, and the head is still the one
`put_if(etag)`; checkpoints no head refers to any more are deleted after the head landed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import secrets
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from common.documents import HeadInvalid, checkpoint_of
from common.keys import checkpoint_prefix, set_aside_key
from common.models import DocumentInvalid
from common.store import NotFound, Object, ObjectStore, PreconditionFailed

from .checkpoints import DEFAULT_CHECKPOINT_BYTES, Write, plan_write, stale_checkpoints
from .errors import BrokerError, DocumentUnusable, NothingToReset, StorageUnavailable
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
        self._broken: tuple[str, DocumentUnusable] | None = None
        self.limits, self.writer, self.metrics = limits, writer, metrics
        self.reaper_period = reaper_period
        self.state: TopicState | None = None
        self._stale = True  # the in-memory state must be (re)loaded before use
        self._refresh = False  # check storage for another broker's write, if cheap
        self._committed: Object | None = None
        self._queue: list[_Request] = []
        self._wake = asyncio.Event()
        self._gathered = asyncio.Event()  # enough requests queued to end a _gather
        self._gather_target = 0
        self._commit_ewma = 0.0  # smoothed seconds per write
        self._changed = asyncio.Event()
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
                raise self._broken[1]
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

    async def wait_changed(self, timeout: float) -> bool:  # noqa: ASYNC109
        """Wait for the next commit or reload; False on timeout."""
        return await _wait(self._changed, timeout)

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
            etag = self._broken[0]
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
                if timeout > 0:
                    await _wait(self._wake, timeout)
                self._wake.clear()
            if self._closing and not self._queue:
                return
            batch, self._queue = self._queue, []
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
        for attempt in range(MAX_CONFLICT_RETRIES):
            try:
                await self._freshen()
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
            if not state.dirty:
                _resolve(batch, outcomes)
                return
            generation = state.generation + 1
            write = plan_write(state, generation, self.writer, now, self.checkpoint_bytes)
            try:
                etag = await self._write(write, state.etag)
            except PreconditionFailed:
                if write.checkpoint is not None and write.ref is not None:
                    self._clean([write.ref.key])  # nobody will refer to it
                self.metrics.conflicts.inc()
                self._stale = True
                await asyncio.sleep(random.uniform(0, min(0.25, 0.005 * 2**attempt)))
                continue
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
            self.metrics.commits.inc()
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
            await self.store.put_if(write.ref.key, write.checkpoint, None)
            self.metrics.checkpoints.inc()
        return await self.store.put_if(self.key, write.head, etag)

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
        state.dirty = False
        outcomes: list[tuple[bool, Any]] = []
        for request in batch:
            if request.future is not None and request.future.done():
                outcomes.append((False, None))  # cancelled by its caller: not applied
                continue
            try:
                outcomes.append((True, request.fn(state, now)))
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

    async def _freshen(self) -> None:
        if self.state is None or self._stale:
            async with self._lock:
                if self.state is None or self._stale:  # else a load() finished meanwhile
                    await self._reload()
        elif self._refresh:
            self._refresh = False
            try:
                changed = await self.store.get_if_changed(self.key, self.state.etag)
            except NotFound:
                return
            except Exception as exc:
                raise StorageUnavailable(f"could not read {self.key}: {exc}; retry") from exc
            if changed is not None:
                await self._install(changed)

    async def _reload(self) -> None:
        self._refresh = False  # a full read answers any pending refresh
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
        """The stored document; while the one found unusable is unchanged, its error
        (so a broken topic costs each request a conditional read, not a parse)."""
        if self._broken is None:
            return await self.store.get(self.key)
        etag, error = self._broken
        changed = await self.store.get_if_changed(self.key, etag)
        if changed is None:
            raise error
        return changed

    def _unusable(self, exc: DocumentInvalid, etag: str) -> DocumentUnusable:
        """Stop serving the topic: its stored document (ETag `etag`) is unusable."""
        where = self.store.description or type(self.store).__name__
        error = DocumentUnusable(self.name, str(exc), where)
        if self._broken is None or self._broken[0] != etag:
            log.error("topic unusable topic=%s error=%s", self.name, error.message)
        self._broken = (etag, error)
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
