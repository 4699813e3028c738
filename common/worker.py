"""A worker loop over the client: claim, keep the lease alive, ack or nack.

    async def handle(job: Job) -> None:
        ...  # raise to fail the attempt

    async with Client("http://127.0.0.1:8080") as client:
        await Worker(client, "orders", "worker-1", handle).run()

For each job the handler runs while a background task heartbeats the lease every third of
the broker's visibility timeout (from /healthz), so a slow handler keeps its job. When the
handler returns, the job is acked; when it raises, the job is nacked with the error text
(the broker retries it until max_attempts, then marks it dead). If a heartbeat finds the
lease lost (reaped, or taken over by another worker), the handler is cancelled and the job
is left to its new owner.

Stopping: `stop()` finishes the current job and returns after the claim in progress;
cancelling `run()` cancels the handler and nacks its job so that it is retried at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum

from common.client import BrokerUnavailable, Client, ClientError, JobConflict, JobNotFound
from common.models import Job

log = logging.getLogger("simplequeue.worker")

Handler = Callable[[Job], Awaitable[object]]

DEFAULT_VISIBILITY_TIMEOUT = 30.0
_MAX_ERROR_CHARS = 2000  # well within the broker's MAX_ERROR_CHARS


class JobFailed(Exception):
    """Raise from a handler to nack with exactly this message (and an optional delay)."""

    def __init__(self, message: str, *, retry_delay: float | None = None) -> None:
        super().__init__(message)
        self.retry_delay = retry_delay


class Outcome(StrEnum):
    ACKED = "acked"  # the handler returned and the ack landed
    NACKED = "nacked"  # the handler raised; the job was returned for a retry (or is dead)
    LOST = "lost"  # the lease was lost, or the broker could not confirm the ack/nack


@dataclass
class WorkerStats:
    acked: int = 0
    nacked: int = 0
    lost: int = 0

    @property
    def processed(self) -> int:
        return self.acked + self.nacked + self.lost


def error_text(exc: BaseException) -> str:
    """The one-line error recorded on a nacked job."""
    text = str(exc) if isinstance(exc, JobFailed) else f"{type(exc).__name__}: {exc}"
    return " ".join(text.split())[:_MAX_ERROR_CHARS]


class Worker:
    """Processes the jobs of one topic, one at a time, as `worker_id`."""

    def __init__(
        self,
        client: Client,
        topic: str,
        worker_id: str,
        handler: Handler,
        *,
        wait: float = 10.0,
        heartbeat_interval: float | None = None,
        nack_delay: float | None = None,
        max_jobs: int | None = None,
        on_done: Callable[[Job, Outcome, str | None], None] | None = None,
        burst: bool = False,
    ) -> None:
        self.client = client
        self.topic = topic
        self.worker_id = worker_id
        self.handler = handler
        self.wait = wait
        self.heartbeat_interval = heartbeat_interval
        self.nack_delay = nack_delay
        self.max_jobs = max_jobs
        self.on_done = on_done
        self.burst = burst  # return once a claim finds nothing, without long-polling
        self.stats = WorkerStats()
        self.busy = False  # True while a claimed job is in hand
        self._stopping = False

    def stop(self) -> None:
        """Finish the job in hand (if any) and return from run()."""
        self._stopping = True

    async def _interval(self) -> float:
        if self.heartbeat_interval is None:
            health = await self.client.health()
            timeout = float(health.get("visibility_timeout") or DEFAULT_VISIBILITY_TIMEOUT)
            self.heartbeat_interval = max(0.05, timeout / 3)
        return self.heartbeat_interval

    def _more(self) -> bool:
        return not self._stopping and (
            self.max_jobs is None or self.stats.processed < self.max_jobs
        )

    async def run(self) -> WorkerStats:
        """Claim and process jobs until stop(), max_jobs, cancellation, or (burst) a claim
        that finds nothing."""
        await self._interval()
        failures = 0
        wait = 0.0 if self.burst else self.wait
        while self._more():
            try:
                jobs = await self.client.claim(self.topic, self.worker_id, wait=wait)
            except BrokerUnavailable as exc:
                # The broker may be restarting or failing over; keep trying.
                failures += 1
                log.warning("claim failed (%d in a row): %s", failures, exc)
                await asyncio.sleep(min(5.0, 0.1 * 2**failures))
                continue
            failures = 0
            if not jobs and self.burst:
                break
            for job in jobs:
                await self.process(job)
        return self.stats

    async def process(self, job: Job) -> Outcome:
        """Run the handler on a claimed job, heartbeating meanwhile; then ack or nack."""
        interval = await self._interval()
        self.busy = True
        try:
            return await self._process(job, interval)
        finally:
            self.busy = False

    async def _process(self, job: Job, interval: float) -> Outcome:
        handler = asyncio.create_task(self._call_handler(job))
        beats = asyncio.create_task(self._keep_alive(job, interval))
        try:
            await asyncio.wait({handler, beats}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            await self._abandon(job, handler, beats)
            raise
        beats.cancel()
        if not handler.done():  # the lease was lost: the job belongs to someone else now
            handler.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await handler
            return self._done(job, Outcome.LOST, "lease lost")
        if handler.cancelled():  # the handler cancelled itself
            return await self._settle(job, JobFailed("handler was cancelled"))
        return await self._settle(job, handler.exception())

    async def _call_handler(self, job: Job) -> None:
        await self.handler(job)

    async def _keep_alive(self, job: Job, interval: float) -> None:
        """Heartbeat until cancelled; return only when the lease is gone."""
        while True:
            await asyncio.sleep(interval)
            try:
                await self.client.heartbeat(self.topic, job.id, worker_id=self.worker_id)
            except (JobConflict, JobNotFound) as exc:
                log.warning("job %s: lease lost: %s", job.id, exc)
                return
            except ClientError as exc:
                log.warning("job %s: heartbeat failed, will retry: %s", job.id, exc)

    async def _settle(self, job: Job, failure: BaseException | None) -> Outcome:
        try:
            if failure is None:
                await self.client.ack(self.topic, job.id, worker_id=self.worker_id)
                return self._done(job, Outcome.ACKED, None)
            delay = failure.retry_delay if isinstance(failure, JobFailed) else None
            error = error_text(failure)
            await self.client.nack(
                self.topic,
                job.id,
                delay=self.nack_delay if delay is None else delay,
                error=error,
                worker_id=self.worker_id,
            )
            return self._done(job, Outcome.NACKED, error)
        except ClientError as exc:
            # The broker redelivers the job after the visibility timeout if this did not land.
            log.warning("job %s: could not confirm the result: %s", job.id, exc)
            return self._done(job, Outcome.LOST, exc.message)

    async def _abandon(
        self, job: Job, handler: asyncio.Task[None], beats: asyncio.Task[None]
    ) -> None:
        """Cancellation: stop the handler and hand the job back for an immediate retry."""
        beats.cancel()
        handler.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await handler
        with contextlib.suppress(ClientError, TimeoutError):
            await asyncio.wait_for(
                self.client.nack(
                    self.topic, job.id, delay=0, error="worker stopped", worker_id=self.worker_id
                ),
                timeout=self.client.timeout,
            )

    def _done(self, job: Job, outcome: Outcome, error: str | None) -> Outcome:
        setattr(self.stats, outcome.value, getattr(self.stats, outcome.value) + 1)
        if self.on_done is not None:
            self.on_done(job, outcome, error)
        return outcome
