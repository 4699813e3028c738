"""Failover through the registry, with whole daemons on one localfs directory.

A client made by Client.discover keeps enqueueing, claiming and acking while the active
broker is stopped (SIGTERM: it hands over at once) and then its successor is SIGKILLed
(the next standby takes over when the heartbeat expires). The client is never restarted,
and every job whose enqueue or ack the broker confirmed is in storage at the end.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from common.client import BrokerUnavailable, Client, JobConflict, JobNotFound
from common.keys import topic_key
from common.models import JobStatus, TopicDocument, load_document
from common.store.localfs import LocalFSStore
from common.topic_log import DocumentReader
from tests.support.daemon import Daemon

TOPIC = "orders"
MAX_JOBS = 600  # below the completed-job retention, so every completed job stays visible
# Short registry periods so that a standby takes over a killed broker within seconds, yet
# a live broker stalled for a few seconds on a loaded machine is not taken over.
REGISTRY_FLAGS = ("--heartbeat-period", "0.3", "--takeover-timeout", "5")
# Deadlines for a loaded 2-core machine: the test waits on progress, never asserts speed.
DEADLINE = 120.0


class Traffic:
    """A producer and a consumer sharing one client; records what the broker confirmed."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.enqueued: list[str] = []
        self.acked: set[str] = set()
        self.producing = True
        self.running = True

    async def produce(self) -> None:
        n = 0
        while self.producing and n < MAX_JOBS:
            job_id = f"job-{n}"
            try:
                await self.client.enqueue(TOPIC, {"n": n}, id=job_id)
            except BrokerUnavailable:
                continue  # retried with the same id: idempotent
            self.enqueued.append(job_id)
            n += 1
            await asyncio.sleep(0.02)

    async def consume(self) -> None:
        while self.running:
            try:
                jobs = await self.client.claim(TOPIC, "w1", wait=0.5)
                for job in jobs:
                    await self.client.ack(TOPIC, job.id, worker_id="w1")
                    self.acked.add(job.id)
            except BrokerUnavailable:
                # Claim and ack are never retried blindly; a claim that landed on the
                # dying broker is reaped and delivered again.
                await asyncio.sleep(0.1)
            except (JobConflict, JobNotFound):
                pass  # the job was reaped and re-claimed meanwhile

    async def progress(self, more: int) -> None:
        """Wait (up to DEADLINE) until `more` further jobs have been acked."""
        target = len(self.acked) + more
        deadline = asyncio.get_running_loop().time() + DEADLINE
        while len(self.acked) < target:
            assert asyncio.get_running_loop().time() < deadline, "no progress after failover"
            await asyncio.sleep(0.05)


async def wait_active(daemon: Daemon) -> None:
    deadline = asyncio.get_running_loop().time() + DEADLINE
    while asyncio.get_running_loop().time() < deadline:
        status, body = await asyncio.to_thread(daemon.request, "GET", "/healthz")
        if status == 200 and body.get("active"):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{daemon.http_url} never became active")


@pytest.mark.timeout(900)  # several DEADLINEs in a row
async def test_client_fails_over_on_stop_and_kill_without_losing_jobs(
    daemon_factory: Callable[..., Daemon], tmp_path: Path
) -> None:
    flags = (
        "--backend", "localfs", "--dir", str(tmp_path),
        "--visibility-timeout", "2", "--reaper-period", "0.3", *REGISTRY_FLAGS,
    )  # fmt: skip
    node_a = await asyncio.to_thread(daemon_factory, *flags, "--broker-id", "node-a")
    await wait_active(node_a)
    node_b = await asyncio.to_thread(daemon_factory, *flags, "--broker-id", "node-b")
    store = LocalFSStore(tmp_path)
    client = await Client.discover(store, max_age=30, failover_timeout=DEADLINE, timeout=30)
    assert client.base_url == node_a.http_url
    traffic = Traffic(client)
    tasks = [asyncio.create_task(traffic.produce()), asyncio.create_task(traffic.consume())]
    try:
        await traffic.progress(20)

        await asyncio.to_thread(node_a.stop)  # SIGTERM: a clean hand-over
        await traffic.progress(20)
        assert client.base_url == node_b.http_url

        node_c = await asyncio.to_thread(daemon_factory, *flags, "--broker-id", "node-c")
        await traffic.progress(10)
        await asyncio.to_thread(node_b.kill)  # SIGKILL mid-run
        await traffic.progress(20)
        assert client.base_url == node_c.http_url

        traffic.producing = False
        await tasks[0]
        deadline = asyncio.get_running_loop().time() + DEADLINE
        while not set(traffic.enqueued) <= traffic.acked:
            assert asyncio.get_running_loop().time() < deadline, "jobs left unprocessed"
            await asyncio.sleep(0.1)
    finally:
        traffic.running = False
        await asyncio.gather(*tasks, return_exceptions=True)
        await client.close()

    stored = await DocumentReader(store).get(TOPIC)  # as every reader reads it
    document = load_document(TopicDocument, topic_key(TOPIC), stored.data)
    status = {job.id: job.status for job in document.jobs}
    assert set(traffic.enqueued) <= set(status), "an enqueued job is missing from storage"
    assert {status[job_id] for job_id in traffic.acked} == {JobStatus.COMPLETED}
    assert len(traffic.enqueued) == len(set(traffic.enqueued))
    await store.close()
