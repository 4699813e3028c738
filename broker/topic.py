"""`Topic`: the API of one topic (broker/DESIGN.md, "The engine"), used by HTTP and RESP.

Mutations go through the topic's GroupCommitter and return after their write landed;
reads come from the in-memory state and never touch storage once the topic is loaded.
Arguments are validated here, before anything is queued, so a bad request never reaches
a batch.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

from common.documents import DocumentReader
from common.limits import (
    CLAIM_COUNT,
    DELAY_SECONDS,
    MAX_ERROR_CHARS,
    MAX_ID_CHARS,
    MAX_PAYLOAD_DEPTH,
    WAIT_SECONDS,
    Limit,
    OutOfRange,
)
from common.models import (
    DocumentInvalid,
    Job,
    JobStatus,
    TopicSettings,
    TopicSettingsView,
    TopicStats,
)
from common.payload import nests_deeper, payload_to_bytes
from common.store import NotFound

from . import mutations
from .committer import GroupCommitter
from .errors import InvalidRequest, PayloadTooLarge, StorageUnavailable
from .mutations import EnqueueResult, NewJob
from .records import job_from_json, now_ms
from .state import TopicState, effective_settings
from .workers import WorkerLog

T = TypeVar("T")

REFRESH_INTERVAL = 1.0  # at most one storage check per second for empty claims


def new_job_id() -> str:
    """A UUIDv7: random, and sorted by creation time like the jobs themselves."""
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & (2**48 - 1)) << 80 | 0x7 << 76 | (rand >> 62 & 0xFFF) << 64
    value |= 0b10 << 62 | (rand & (2**62 - 1))
    # str(uuid.UUID(int=value)), formatted directly: the UUID object costs more than the id.
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _in_range(limit: Limit, name: str, value: Any) -> Any:
    try:
        return limit.check(name, value)
    except OutOfRange as exc:
        raise InvalidRequest(str(exc)) from None


def _text(name: str, value: Any, *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value:
        raise InvalidRequest(f"{name} must be a non-empty string")
    if len(value) > MAX_ID_CHARS:
        raise InvalidRequest(f"{name} must be at most {MAX_ID_CHARS} characters")
    return value


class Topic:
    def __init__(self, name: str, committer: GroupCommitter, max_payload_bytes: int) -> None:
        self.name = name
        self._c = committer
        self._max_payload = max_payload_bytes
        self._last_refresh = 0.0
        self._reader = DocumentReader(committer.store)  # keeps what it read, for documents
        self._merged: tuple[str, bytes] | None = None  # an ETag and its whole document
        self.workers = WorkerLog()  # what this broker saw each worker do (broker/workers.py)

    @property
    def generation(self) -> int:
        return self._c.state.generation if self._c.state is not None else 0

    # --- mutations ----------------------------------------------------------------------

    def _checked(self, job: NewJob) -> tuple[str, NewJob]:
        job_id = new_job_id() if job.id is None else _text("id", job.id)
        assert job_id is not None
        _in_range(DELAY_SECONDS, "delay", job.delay)
        if job.payload_encoding not in (None, "base64"):
            raise InvalidRequest("payload_encoding must be base64 or absent")
        if isinstance(job.payload, dict | list) and nests_deeper(job.payload, MAX_PAYLOAD_DEPTH):
            # Deeper, the job could not be encoded in its document (limits.py).
            raise InvalidRequest(f"payload nests deeper than {MAX_PAYLOAD_DEPTH} levels")
        try:
            # A payload's size is that of the bytes a consumer gets back (RESP pops return
            # text as-is, not JSON-quoted), so both protocols share one limit.
            size = len(payload_to_bytes(job.payload, job.payload_encoding))
        except (TypeError, ValueError) as exc:
            raise InvalidRequest(f"payload is not JSON: {exc}") from None
        if size > self._max_payload:
            raise PayloadTooLarge(size, self._max_payload)
        return job_id, job

    async def enqueue(
        self,
        payload: Any,
        *,
        id: str | None = None,
        delay: float = 0.0,
        payload_encoding: str | None = None,
    ) -> EnqueueResult:
        job_id, job = self._checked(NewJob(payload, id, delay, payload_encoding))
        return await self._c.submit(partial(mutations.enqueue, job_id=job_id, job=job))

    async def enqueue_many(self, items: list[NewJob]) -> list[EnqueueResult]:
        """All items in one write; each is idempotent on its id like enqueue."""
        checked = [self._checked(item) for item in items]

        def apply(state: Any, now: int) -> list[EnqueueResult]:
            return [mutations.enqueue(state, now, job_id, job) for job_id, job in checked]

        return await self._c.submit(apply) if checked else []

    # claim, heartbeat, ack and nack answer each job as stored (its document bytes), one
    # method per operation: `job_from_json` makes the model of it (RESP, tests), `api_json`
    # the HTTP body without building a model.

    async def claim(self, worker: str, *, count: int = 1, wait: float = 0.0) -> list[bytes]:
        _text("worker", worker)
        fn = partial(mutations.claim, worker=worker, count=_in_range(CLAIM_COUNT, "count", count))
        claimed: list[bytes] = await self._take(fn, _in_range(WAIT_SECONDS, "wait", wait))
        self.workers.saw(worker, claimed=len(claimed))
        return claimed

    async def pop(self, *, count: int = 1, wait: float = 0.0) -> list[Job]:
        fn = partial(mutations.pop, count=_in_range(CLAIM_COUNT, "count", count))
        encs = await self._take(fn, _in_range(WAIT_SECONDS, "wait", wait))
        return [job_from_json(enc) for enc in encs]

    async def pop_values(self, *, count: int = 1) -> list[bytes]:
        """`pop` without waiting, each job as its payload's RESP value (what LPOP
        answers), without building models."""
        fn = partial(mutations.pop_values, count=_in_range(CLAIM_COUNT, "count", count))
        return await self._take(fn, 0.0)

    async def _take(self, fn: Any, wait: float) -> list[Any]:
        """Run a claim-like mutation; with `wait`, long-poll until a commit offers jobs."""
        deadline = time.monotonic() + wait
        refreshed = False
        while True:
            jobs: list[Any] = await self._c.submit(fn, early=True)
            if jobs:
                return jobs
            if not refreshed and time.monotonic() - self._last_refresh >= REFRESH_INTERVAL:
                # Another broker may have enqueued: one cheap conditional read, then retry.
                self._last_refresh = time.monotonic()
                refreshed = True
                self._c.request_refresh()
                continue
            remaining = deadline - time.monotonic()
            # With a wait, even an expired one, wait_for_available checks storage before
            # saying no: a wait never ends empty on an old copy.
            if wait <= 0 or not await self.wait_for_available(max(0.0, remaining)):
                self._c.check_open()  # woken by shutdown: say so rather than "empty"
                return []

    async def heartbeat(self, job_id: str, *, worker: str | None = None) -> bytes:
        _text("job_id", job_id)
        holder = self._holder(job_id, worker)
        done = await self._c.submit(partial(mutations.heartbeat, job_id=job_id, worker=worker))
        self.workers.saw(holder)
        return done

    def _holder(self, job_id: str, worker: str | None) -> str | None:
        """Who holds the job, for the worker log: the named worker, else the claim's."""
        state = self._c.state
        rec = state.jobs.get(job_id) if state is not None and worker is None else None
        return worker or (rec.claimed_by if rec is not None else None)

    async def ack(self, job_id: str, *, worker: str | None = None) -> bytes:
        _text("job_id", job_id)
        holder = self._holder(job_id, worker)
        done = await self._c.submit(partial(mutations.ack, job_id=job_id, worker=worker))
        self.workers.saw(holder, acked=1)
        return done

    async def nack(
        self,
        job_id: str,
        *,
        delay: float | None = None,  # None: the retry backoff (mutations.backoff_ms)
        error: str | None = None,
        worker: str | None = None,
    ) -> bytes:
        _text("job_id", job_id)
        if delay is not None:
            delay = _in_range(DELAY_SECONDS, "delay", delay)
        if error is not None and not isinstance(error, str):
            raise InvalidRequest("error must be a string")
        if error is not None and len(error) > MAX_ERROR_CHARS:
            raise InvalidRequest(f"error must be at most {MAX_ERROR_CHARS} characters")
        fn = partial(mutations.nack, job_id=job_id, worker=worker, delay=delay, error=error)
        holder = self._holder(job_id, worker)
        done = await self._c.submit(fn)
        self.workers.saw(holder, nacked=1)
        return done

    async def requeue(self, job_id: str) -> Job:
        _text("job_id", job_id)
        return await self._c.submit(partial(mutations.requeue, job_id=job_id))

    async def purge(self, status: JobStatus | None = None) -> int:
        """Remove every job (or every job of `status`) in one commit; how many."""
        return await self._c.submit(
            partial(mutations.purge, status=status.value if status else None)
        )

    async def requeue_dead(self, error_contains: str | None = None) -> int:
        """Every dead job (whose last error contains the text) back to pending; how many."""
        if error_contains is not None:
            _text("error", error_contains)
        return await self._c.submit(partial(mutations.requeue_dead, error_contains=error_contains))

    async def delete(self, job_id: str) -> Job:
        _text("job_id", job_id)
        return await self._c.submit(partial(mutations.delete, job_id=job_id))

    async def trim_completed(
        self,
        *,
        max_len: int | None = None,
        below: Callable[[str], bool] | None = None,
        limit: int | None = None,
    ) -> int:
        """Remove completed jobs (XTRIM); see mutations.trim_completed."""
        fn = partial(mutations.trim_completed, max_len=max_len, below=below, limit=limit)
        return await self._c.submit(fn)

    def worker_report(self) -> list[dict[str, Any]]:
        """Each worker seen on the topic (broker/workers.py says what the figures rest on)."""
        return self.workers.report(self.claimed())

    async def take_over(
        self,
        job_ids: list[str],
        worker: str,
        *,
        min_idle: float,
        count_delivery: bool = True,
        owned_by: str | None = None,
    ) -> list[Job]:
        _text("worker", worker)
        if isinstance(min_idle, bool) or not isinstance(min_idle, int | float) or min_idle < 0:
            raise InvalidRequest("min_idle must be a number of seconds, 0 or more")
        idle_ms = round(min_idle * 1000)
        fn = partial(
            mutations.take_over,
            job_ids=job_ids,
            worker=worker,
            min_idle_ms=idle_ms,
            count_delivery=count_delivery,
            owned_by=owned_by,
        )
        moved: list[Job] = await self._c.submit(fn)
        self.workers.saw(worker, claimed=len(moved))
        return moved

    async def change_settings(self, changes: TopicSettings) -> TopicSettingsView:
        """Set the settings given in `changes` (null: clear the override) in one commit;
        the settings in force after it."""
        given = {name: getattr(changes, name) for name in changes.model_fields_set}
        await self._c.submit(partial(mutations.change_settings, changes=given))
        return self.settings()

    async def in_group(self, fn: Callable[..., T], **arguments: Any) -> T:
        """Run a consumer-group operation of broker/groups.py (a mutation taking the state
        and the time, then `arguments`) in the topic's next commit."""
        return await self._c.submit(partial(fn, **arguments))

    def current_state(self) -> TopicState | None:
        """The state as this broker holds it, for reads of consumer groups (XINFO,
        XPENDING): not to be changed."""
        return self._c.state

    async def reset_invalid(self) -> str:
        """Move an invalid stored document aside and start the topic empty; returns the
        key the document was moved to (GroupCommitter.reset_invalid)."""
        return await self._c.reset_invalid()

    # --- reads --------------------------------------------------------------------------

    async def load(self) -> None:
        await self._c.load()

    def stats(self) -> TopicStats:
        state = self._c.state
        return TopicStats(topic=self.name) if state is None else state.stats(now_ms())

    def settings(self) -> TopicSettingsView:
        """The settings in force (the topic's, else the broker's flags), and which the
        topic sets."""
        state = self._c.state
        settings = {} if state is None else state.settings
        limits = self._c.limits if state is None else state.limits
        return TopicSettingsView(
            topic=self.name, settings=effective_settings(limits), overridden=list(settings)
        )

    def pending_count(self) -> int:
        """Every pending job, delayed ones included (what LPUSH and LLEN answer: a Redis
        list's length counts every item), without building the stats model."""
        state = self._c.state
        return 0 if state is None else state.counts[JobStatus.PENDING]

    def get_job(self, job_id: str) -> Job | None:
        state = self._c.state
        rec = state.jobs.get(job_id) if state is not None else None
        return rec.to_job() if rec is not None else None

    async def find_job(self, job_id: str) -> Job:
        """The job, or JobNotFound decided on the stored state: a job this broker has not
        seen yet (enqueued through another broker) is looked for in storage."""
        job = self.get_job(job_id)
        if job is not None:
            return job
        return await self._c.submit(partial(mutations.lookup, job_id=job_id))

    def list_jobs(
        self, *, status: JobStatus | None = None, limit: int = 100, after: str | None = None
    ) -> list[Job]:
        state = self._c.state
        if state is None or limit <= 0:
            return []
        records = state.records(status)
        if after is not None:
            if after not in state.jobs:
                return []
            records = itertools.dropwhile(lambda r: r.id != after, records)
            next(records, None)
        return [rec.to_job() for rec in itertools.islice(records, limit)]

    def pending(self, start: int = 0, stop: int = -1) -> list[Job]:
        """Pending jobs in enqueue order, LRANGE-style inclusive indexes (negative from end)."""
        state = self._c.state
        if state is None:
            return []
        size = state.counts[JobStatus.PENDING]
        start = max(0, start + size if start < 0 else start)
        stop = min(size - 1, stop + size if stop < 0 else stop)
        if start > stop:
            return []
        records = itertools.islice(state.records(JobStatus.PENDING), start, stop + 1)
        return [rec.to_job() for rec in records]

    def claimed(self, worker: str | None = None) -> list[Job]:
        state = self._c.state
        if state is None:
            return []
        return [
            rec.to_job()
            for rec in list(state.claimed.values())
            if worker is None or rec.claimed_by == worker
        ]

    async def refresh(self) -> None:
        """Catch up with another broker's writes (one conditional read of storage)."""
        await self._c.refreshed()

    def document(self) -> tuple[bytes, str] | None:
        """The topic document as it landed, and its ETag: a head, for a big topic."""
        stored = self._c.committed()
        return None if stored is None else (stored.data, stored.etag)

    async def whole_document(self, data: bytes, etag: str) -> bytes:
        """The whole (format-1) document of the topic as stored (common/topic_log.py:
        the reader keeps what it read and reads only the log objects added since)."""
        if self._merged is not None and self._merged[0] == etag:
            return self._merged[1]  # long polls of several readers: merge once per version
        try:
            found = await self._reader.get(self.name)
        except NotFound:
            where = self._c.store.description or "the store"
            raise StorageUnavailable(
                f"{self._c.key} does not exist in {where} any more (deleted outside the broker?)"
            ) from None
        except DocumentInvalid:
            raise
        except Exception as exc:
            raise StorageUnavailable(f"could not read {self.name}: {exc}; retry") from exc
        self._merged = (found.etag, found.data)
        return found.data

    async def wait_for_generation(self, after: int, timeout: float) -> bool:  # noqa: ASYNC109
        deadline = time.monotonic() + timeout
        await self._c.load()
        while self.generation <= after:  # another broker's write wakes it too
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not await self._c.wait_changed(remaining):
                return self.generation > after
        return True

    async def wait_for_available(self, timeout: float) -> bool:  # noqa: ASYNC109
        """Wait until a job is available; False at the deadline, decided on what storage
        holds then (one conditional read), not on this broker's copy."""
        deadline = time.monotonic() + timeout
        await self._c.load()
        while self._c.state is not None and not self._c.closing:  # woken by other brokers too
            now = now_ms()
            if self._c.state.peek_ready(now) is not None:
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                await self._c.refreshed()
                state = self._c.state
                return state is not None and state.peek_ready(now_ms()) is not None
            due = self._c.state.next_due()
            if due is not None:
                remaining = min(remaining, max(0.001, (due - now) / 1000))
            await self._c.wait_changed(remaining)
        return False
