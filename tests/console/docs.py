"""Topic documents built in tests: deterministic jobs of every status."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from common.models import Counters, Job, JobStatus, TopicDocument

T0 = datetime(2026, 11, 28, 10, 0, 0, tzinfo=UTC)


def job(
    job_id: str,
    status: JobStatus = JobStatus.PENDING,
    *,
    payload: Any = None,
    created: float = 0.0,
    heartbeat: float | None = None,
    attempts: int = 0,
    error: str | None = None,
    worker: str = "worker-1",
) -> Job:
    """A job created `created` seconds after T0; a claimed one beat at `heartbeat`."""
    made = T0 + timedelta(seconds=created)
    fields: dict[str, Any] = {
        "id": job_id,
        "status": status,
        "payload": {"n": job_id} if payload is None else payload,
        "created_at": made,
        "attempts": attempts,
    }
    if status is JobStatus.CLAIMED:
        beat = made if heartbeat is None else T0 + timedelta(seconds=heartbeat)
        fields.update(claimed_by=worker, claimed_at=made, last_heartbeat=beat)
        fields["attempts"] = max(1, attempts)
    if status is JobStatus.DEAD:
        fields["last_error"] = error or "failed"
    return Job(**fields)


def document(
    topic: str, jobs: list[Job], *, generation: int = 1, counters: Counters | None = None
) -> TopicDocument:
    return TopicDocument(
        topic=topic,
        generation=generation,
        writer="test",
        updated_at=T0,
        counters=counters or Counters(enqueued=len(jobs)),
        jobs=jobs,
    )


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)
