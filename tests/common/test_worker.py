"""The worker helper against the daemon: retries up to max_attempts, heartbeats that keep a
slow job's lease past the visibility timeout, and a clean stop."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from common.client import Client
from common.models import Job, JobStatus
from common.worker import Outcome, Worker


def short_lease_daemon(daemon_factory: Any, tmp_path: Path, *, visibility_timeout: int) -> Any:
    """A daemon whose claims expire after a few seconds, reaped five times a second."""
    return daemon_factory(
        "--backend", "localfs", "--dir", str(tmp_path),
        "--visibility-timeout", str(visibility_timeout), "--reaper-period", "0.2",
    )  # fmt: skip


async def test_raising_handler_is_nacked_and_retried_until_dead(
    daemon_factory: Any, tmp_path: Path
) -> None:
    daemon = daemon_factory("--backend", "localfs", "--dir", str(tmp_path), "--max-attempts", "3")
    attempts: list[int] = []

    async def handler(job: Job) -> None:
        attempts.append(job.attempts)
        raise ValueError(f"boom {job.attempts}")

    async with Client(daemon.http_url) as client:
        await client.enqueue("mail", {"to": "x"}, id="m1")
        worker = Worker(client, "mail", "w1", handler, wait=1, max_jobs=3)
        stats = await asyncio.wait_for(worker.run(), 60)
        assert (stats.nacked, stats.acked, stats.lost) == (3, 0, 0)
        assert attempts == [1, 2, 3]
        job = await client.job("mail", "m1")
        assert (job.status, job.attempts) == (JobStatus.DEAD, 3)
        assert job.last_error == "ValueError: boom 3"
        assert await client.claim("mail", "w1") == []


async def test_slow_handler_keeps_its_lease_through_heartbeats(
    daemon_factory: Any, tmp_path: Path
) -> None:
    daemon = short_lease_daemon(daemon_factory, tmp_path, visibility_timeout=2)

    async def slow(job: Job) -> None:
        await asyncio.sleep(5)  # two and a half visibility timeouts

    async with Client(daemon.http_url) as client:
        assert (await client.health())["visibility_timeout"] == 2
        await client.enqueue("slow", 1, id="s1")
        worker = Worker(client, "slow", "w1", slow, wait=1, max_jobs=1)
        stats = await asyncio.wait_for(worker.run(), 60)
        assert stats.acked == 1
        job = await client.job("slow", "s1")
        assert (job.status, job.attempts) == (JobStatus.COMPLETED, 1)
        assert (await client.status("slow")).counters.reaped == 0


async def test_without_heartbeats_the_same_job_is_reaped(
    daemon_factory: Any, tmp_path: Path
) -> None:
    """The control for the test above: the lease really does expire."""
    daemon = short_lease_daemon(daemon_factory, tmp_path, visibility_timeout=1)

    async with Client(daemon.http_url) as client:

        async def slow(job: Job) -> None:
            # Outlive the lease: hold the job until the broker has reaped it.
            deadline = time.monotonic() + 60
            while (await client.status("slow")).counters.reaped == 0:
                assert time.monotonic() < deadline, "the lease never expired"
                await asyncio.sleep(0.1)

        await client.enqueue("slow", 1, id="s1")
        worker = Worker(client, "slow", "w1", slow, heartbeat_interval=3600, wait=1)
        job = (await client.claim("slow", "w1"))[0]
        assert await worker.process(job) == Outcome.LOST
        assert (await client.status("slow")).counters.reaped >= 1


async def test_lost_lease_cancels_the_handler(daemon_factory: Any, tmp_path: Path) -> None:
    daemon = short_lease_daemon(daemon_factory, tmp_path, visibility_timeout=1)
    cancelled = asyncio.Event()

    async def stuck(job: Job) -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async with Client(daemon.http_url) as client:
        await client.enqueue("lost", 1, id="l1")
        job = (await client.claim("lost", "w1"))[0]
        await client.requeue("lost", "l1")  # an operator takes the job away
        worker = Worker(client, "lost", "w1", stuck, heartbeat_interval=0.2)
        assert await asyncio.wait_for(worker.process(job), 30) == Outcome.LOST
        assert cancelled.is_set()


async def test_cancelling_run_nacks_the_job_in_hand(daemon_factory: Any, tmp_path: Path) -> None:
    daemon = daemon_factory("--backend", "localfs", "--dir", str(tmp_path))
    started = asyncio.Event()

    async def forever(job: Job) -> None:
        started.set()
        await asyncio.sleep(3600)

    async with Client(daemon.http_url) as client:
        await client.enqueue("stop", 1, id="x1")
        worker = Worker(client, "stop", "w1", forever, wait=1)
        running = asyncio.create_task(worker.run())
        await asyncio.wait_for(started.wait(), 30)
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        job = await client.job("stop", "x1")
        assert (job.status, job.last_error) == (JobStatus.PENDING, "worker stopped")


async def test_stop_finishes_the_current_job(daemon_factory: Any, tmp_path: Path) -> None:
    daemon = daemon_factory("--backend", "localfs", "--dir", str(tmp_path))
    worker: Worker

    async def handler(job: Job) -> None:
        worker.stop()
        await asyncio.sleep(0.2)

    async with Client(daemon.http_url) as client:
        await client.enqueue_many("stop", [{"payload": 1, "id": "a"}, {"payload": 2, "id": "b"}])
        worker = Worker(client, "stop", "w1", handler, wait=1)
        stats = await asyncio.wait_for(worker.run(), 30)
        assert stats.acked == 1
        assert (await client.job("stop", "a")).status == JobStatus.COMPLETED
        assert (await client.job("stop", "b")).status == JobStatus.PENDING
