"""The statuses a stored job can have, in a module of its own so that light callers (the
CLI's argument parser) can name them without importing pydantic."""

from __future__ import annotations

from enum import StrEnum


class JobStatus(StrEnum):
    PENDING = "pending"  # waiting to be claimed (possibly delayed until available_at)
    CLAIMED = "claimed"  # leased to a worker, kept alive by heartbeats
    COMPLETED = "completed"  # acked; kept for inspection until trimmed by retention
    DEAD = "dead"  # failed max_attempts times; stays until requeued or deleted
