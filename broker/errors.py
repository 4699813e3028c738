"""Errors the engine raises, each carrying the wire code the HTTP and RESP layers report.

HTTP maps `code` to a status in one table (broker/http/errors.py); RESP turns the message
into an `ERR` reply. Messages say what was wrong and what to do, in one line.
"""

from __future__ import annotations


class BrokerError(Exception):
    """Base of every error a client request can get from the engine."""

    code: str = "internal"
    resp_prefix: str = "ERR"  # the RESP error reply's first word

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


class InvalidRequest(BrokerError):
    """The request itself is malformed (missing field, wrong type, out of range)."""

    code = "bad_request"


class JobNotFound(BrokerError):
    """No job with this id in the topic (never enqueued, deleted, or trimmed by retention)."""

    code = "job_not_found"

    def __init__(self, topic: str, job_id: str) -> None:
        self.topic = topic
        self.job_id = job_id
        super().__init__(f"no job {job_id!r} in topic {topic!r}: check the id")


class JobStateConflict(BrokerError):
    """The job exists but is not in a state the operation accepts."""

    code = "wrong_state"

    def __init__(self, job_id: str, status: str, wanted: str, message: str | None = None) -> None:
        self.job_id = job_id
        self.status = status
        self.wanted = wanted
        super().__init__(message or f"job {job_id!r} is {status}, the operation needs it {wanted}")


class LeaseLost(JobStateConflict):
    """The caller's claim on the job ended: it was reaped, or another worker holds it."""

    code = "lease_lost"

    def __init__(self, job_id: str, status: str, holder: str | None = None) -> None:
        why = f"it is now claimed by {holder!r}" if holder else f"it is now {status}"
        super().__init__(
            job_id,
            status,
            "claimed",
            f"lease on job {job_id!r} was lost ({why}): stop working on it, it will be redelivered",
        )


class PayloadTooLarge(BrokerError):
    code = "payload_too_large"

    def __init__(self, size: int, limit: int) -> None:
        self.size = size
        self.limit = limit
        super().__init__(
            f"payload is {size} bytes, over the limit of {limit}: store large data elsewhere "
            "and enqueue a reference"
        )


class StorageUnavailable(BrokerError):
    """The write could not be made durable; nothing was acknowledged. Safe to retry."""

    code = "storage_unavailable"


class DocumentUnusable(StorageUnavailable):
    """A stored document of the topic is invalid, or names a checkpoint that is gone.

    The broker neither serves nor writes the topic until the document changes (repaired
    by hand) or an operator resets the topic: a write would destroy what is there."""

    code = "document_invalid"

    def __init__(self, topic: str, problem: str, where: str) -> None:
        self.topic = topic
        self.problem = problem
        super().__init__(
            f"{problem} (in {where}): the broker will not write over it; repair it, or "
            f"move it aside and start the topic empty with `simplequeue -topic {topic} "
            "reset-invalid`"
        )


class NothingToReset(BrokerError):
    """`reset-invalid` of a topic whose document is valid or absent."""

    code = "wrong_state"

    def __init__(self, key: str) -> None:
        super().__init__(f"{key} is valid or absent: there is nothing to reset")


class GroupError(BrokerError):
    """A consumer-group command Redis refuses (broker/groups.py), with Redis's reply."""

    code = "wrong_state"

    def __init__(self, prefix: str, message: str) -> None:
        super().__init__(message)
        self.resp_prefix = prefix


class TopicHasGroups(BrokerError):
    """Consuming a fan-out stream's own queue (HTTP claim, RPOP, ...): each of its
    consumer groups has its own, and nothing consumes the topic's directly."""

    code = "topic_has_groups"
    resp_prefix = "WRONGTYPE"

    def __init__(self, topic: str) -> None:
        super().__init__(
            f"topic {topic!r} has consumer groups: read it with XREADGROUP through one of "
            "them (XINFO GROUPS lists them), not by claiming or popping its jobs"
        )
