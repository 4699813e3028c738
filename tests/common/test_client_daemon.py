"""Every client method against the real daemon (a subprocess on a localfs directory)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson
import pytest

from common.client import (
    Client,
    JobConflict,
    JobNotFound,
    LeaseLost,
    NothingToClaim,
    PayloadTooLarge,
    ResourceNotFound,
    Unauthorized,
)
from common.models import JobStatus
from tests.support.polling import until
from tests.support.resp import metric


@pytest.fixture
def daemon(daemon_factory: Any, tmp_path: Path) -> Any:
    return daemon_factory(
        "--backend", "localfs", "--dir", str(tmp_path), "--max-payload-bytes", "1000"
    )  # fmt: skip


async def test_job_lifecycle_round_trip(daemon: Any) -> None:
    async with Client(daemon.http_url) as client:
        first = await client.enqueue("orders", {"item": "book"})
        assert (await client.enqueue_job("orders", "again", id=first)).created is False
        ids = await client.enqueue_many(
            "orders", [{"payload": 1}, {"payload": 2, "id": "two"}, {"payload": 3}]
        )
        assert len(ids) == 3 and ids[1] == "two"

        jobs = await client.claim("orders", "w1", count=2)
        assert [job.id for job in jobs] == [first, ids[0]]
        assert all(job.status == JobStatus.CLAIMED and job.claimed_by == "w1" for job in jobs)
        assert (await client.heartbeat("orders", first, worker_id="w1")).last_heartbeat
        assert (await client.ack("orders", first)).status == JobStatus.COMPLETED
        nacked = await client.nack("orders", ids[0], error="nope", delay=3600)
        assert (nacked.status, nacked.last_error) == (JobStatus.PENDING, "nope")

        stats = await client.status("orders")
        assert (stats.pending, stats.delayed, stats.completed, stats.total) == (
            2,
            1,
            1,
            4,
        )  # disjoint: 2 + 1 + 1 = 4
        assert [t.topic for t in await client.topics()] == ["orders"]

        page, cursor = await client.jobs("orders", limit=2)
        assert [job.id for job in page] == [first, ids[0]] and cursor is not None
        rest, end = await client.jobs("orders", after=cursor)
        assert [job.id for job in rest] == ids[1:] and end is None
        pending, _ = await client.jobs("orders", status=JobStatus.PENDING)
        assert [job.id for job in pending] == ids

        assert (await client.job("orders", "two")).payload == 2
        assert (await client.delete("orders", "two")).id == "two"
        with pytest.raises(JobNotFound):
            await client.job("orders", "two")

        claimed = await client.claim_one("orders", "w2")
        assert (await client.requeue("orders", claimed.id)).status == JobStatus.PENDING

        health = await client.health()
        assert health["status"] == "ok" and health["visibility_timeout"] > 0


async def test_named_errors_from_the_daemon(daemon: Any) -> None:
    async with Client(daemon.http_url) as client:
        assert await client.claim("empty", "w1") == []
        with pytest.raises(NothingToClaim):
            await client.claim_one("empty", "w1")
        await client.enqueue("t", 1, id="a")
        with pytest.raises(JobConflict):
            await client.ack("t", "a")
        await client.claim_one("t", "w1")
        with pytest.raises(LeaseLost):
            await client.heartbeat("t", "a", worker_id="someone-else")
        with pytest.raises(JobNotFound):
            await client.ack("t", "missing")
        with pytest.raises(PayloadTooLarge):
            await client.enqueue("t", "x" * 5000)
        with pytest.raises(ResourceNotFound):
            await client.document("never-written")


async def test_document_long_polls_with_etags(daemon: Any) -> None:
    async with Client(daemon.http_url) as client:
        await client.enqueue("docs", {"n": 1}, id="one")
        first = await client.document("docs")
        assert first is not None and first.etag
        assert [job["id"] for job in orjson.loads(first.data)["jobs"]] == ["one"]
        assert await client.document("docs", etag=first.etag, wait=0.2) is None

        waiting = asyncio.create_task(client.document("docs", etag=first.etag, wait=60))

        async def parked() -> bool:
            return await asyncio.to_thread(metric, daemon, "sq_long_polls") == 1

        await until(parked, "the document read waits")
        await client.enqueue("docs", {"n": 2}, id="two")
        changed = await waiting
        assert changed is not None and changed.etag != first.etag
        assert orjson.loads(changed.data)["generation"] > orjson.loads(first.data)["generation"]


async def test_bearer_token(daemon_factory: Any, tmp_path: Path) -> None:
    daemon = daemon_factory("--backend", "localfs", "--dir", str(tmp_path), "--auth-token", "k")
    async with Client(daemon.http_url) as anonymous:
        with pytest.raises(Unauthorized):
            await anonymous.status("t")
    async with Client(daemon.http_url, token="k") as client:
        assert (await client.status("t")).total == 0
