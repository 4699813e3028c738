"""The documents simplequeue keeps on storage and the values its API returns.

These models are the contract of broker/DESIGN.md ("Topic document", "Broker registry") and of
the checkpointed topic's head (format 2, `TopicHead`). They validate strictly: a document
that does not match raises `DocumentInvalid` naming the key and the field, and is never
silently repaired.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal, TypeVar

import orjson
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StrictBool,
    ValidationError,
    ValidationInfo,
)

from .limits import (
    LATEST_TIME_TEXT,
    MAX_ATTEMPTS,
    MAX_ID_CHARS,
    MAX_STORED_COUNT,
    RETENTION_JOBS,
    RETRY_SECONDS,
    VISIBILITY_TIMEOUT_SECONDS,
    Limit,
    OutOfRange,
    beyond_latest_time,
)
from .status import JobStatus as JobStatus  # re-exported: the schema names it

FORMAT_VERSION: Literal[1] = 1
#: The format of a checkpointed topic's head (changes since a checkpoint; CHECKPOINT spec).
HEAD_FORMAT: Literal[2] = 2
#: The format of a topic's pointer and of its log objects (common/topic_log.py).
LOG_FORMAT: Literal[3] = 3


# --- time -------------------------------------------------------------------------------


def utc_now() -> datetime:
    return datetime.now(UTC)


def format_time(value: datetime) -> str:
    """ISO 8601 in UTC with milliseconds and a Z, as in `2026-11-28T10:00:00.123Z`."""
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def _require_timezone(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("timestamp must carry a timezone (use Z for UTC)")
    return value.astimezone(UTC)


def _stored_time(value: object) -> object:
    # Stored times are ISO 8601 text; pydantic would also take a number as epoch seconds,
    # which the broker's loader (broker/records.py: parse_ms) rightly refuses.
    if not isinstance(value, str | datetime):
        raise ValueError("timestamp must be an ISO 8601 string")
    # Versions before common.limits stored huge delays as times no datetime can hold
    # (`31690765-06-04T...`); such a time reads as the latest one there is, so that one
    # job cannot make its whole document unreadable (README, "HTTP API").
    return LATEST_TIME_TEXT if beyond_latest_time(value) else value


Timestamp = Annotated[
    datetime,
    BeforeValidator(_stored_time),
    AfterValidator(_require_timezone),
    PlainSerializer(format_time, return_type=str),
]


class _Model(BaseModel):
    # Unknown fields are an error, not something to drop: rewriting a document must never
    # lose data a newer writer put there.
    model_config = ConfigDict(extra="forbid", frozen=False)


# --- jobs -------------------------------------------------------------------------------


#: attempts, counters, generations: bounded so that adding to one never overflows (limits.py)
Count = Annotated[int, Field(ge=0, le=MAX_STORED_COUNT)]


class PayloadEncoding(StrEnum):
    BASE64 = "base64"  # payload is a base64 string of bytes that were not UTF-8


#: How many attempts a job's `history` keeps: the newest, the oldest dropped first.
HISTORY_ATTEMPTS = 10
#: The longest `error` an attempt keeps, in characters: ten full nack errors (up to
#: MAX_ERROR_CHARS each) would make every re-encoding of the job slow; `last_error` keeps
#: the whole text of the last one.
HISTORY_ERROR_CHARS = 1000


class AttemptOutcome(StrEnum):
    ACKED = "acked"  # acked (or popped: claim and completion in one step)
    NACKED = "nacked"  # nacked by its worker, including the nack that made the job dead
    REAPED = "reaped"  # the visibility timeout expired without a heartbeat
    LOST = "lost"  # ended without its worker: taken over by another worker, or requeued


class Attempt(_Model):
    """One claim of a job and how it ended (README, "Semantics"). The attempt in flight
    has no `ended_at` and no `outcome`."""

    worker: str | None = None  # absent for a pop, which names no worker
    claimed_at: Timestamp
    ended_at: Timestamp | None = None
    outcome: AttemptOutcome | None = None
    error: str | None = None  # the nack's error or why it was reaped or lost


class Job(_Model):
    id: str = Field(min_length=1, max_length=MAX_ID_CHARS)
    status: JobStatus
    payload: Any = None
    payload_encoding: PayloadEncoding | None = None
    created_at: Timestamp
    available_at: Timestamp | None = None
    attempts: Count = 0
    claimed_by: str | None = None
    claimed_at: Timestamp | None = None
    last_heartbeat: Timestamp | None = None
    completed_at: Timestamp | None = None
    last_error: str | None = None
    # The last HISTORY_ATTEMPTS attempts, oldest first; absent until the first claim.
    history: list[Attempt] | None = None


def _unique_ids(jobs: list[Job]) -> list[Job]:
    seen: set[str] = set()
    for job in jobs:
        if job.id in seen:
            raise ValueError(f"job id {job.id!r} appears twice")
        seen.add(job.id)
    return jobs


#: A document's jobs: each id once (a job's id is its identity in every operation).
Jobs = Annotated[list[Job], AfterValidator(_unique_ids)]


class Counters(_Model):
    """Lifetime totals; they survive retention trimming."""

    enqueued: Count = 0
    completed: Count = 0
    dead: Count = 0
    reaped: Count = 0
    dropped: Count = 0  # dead jobs dropped by the dead-job cap
    purged: Count = 0  # jobs removed in bulk (purge, Redis DEL), whatever their status


# --- per-topic settings -----------------------------------------------------------------


def _in_limit(limit: Limit, *, positive: bool = False) -> BeforeValidator:
    """A number checked against its range in common.limits (bools, NaN and strings are
    refused, never coerced); null passes (an unset override)."""

    def check(value: Any, info: ValidationInfo) -> Any:
        name = info.field_name or "value"
        if value is None:
            return None
        limit.check(name, value)
        if positive and value <= 0:
            raise OutOfRange(f"{name} must be above 0, got {value!r}")
        return value

    return BeforeValidator(check)


def _range(limit: Limit) -> Any:
    bounds: dict[str, Any] = {"minimum": limit.low, "maximum": limit.high}
    return Field(default=None, description=limit.describe(), json_schema_extra=bounds)


class TopicSettings(_Model):
    """A topic's overrides of the broker's flags, stored with the topic (broker/DESIGN.md,
    "Per-topic settings"); an absent (null) field takes the broker's flag. `paused`: claims
    find nothing, enqueues still land. Stored without nulls, and `paused` only when true.

    The body of `PATCH /topics/{topic}/settings` too: each field given replaces the
    override, null clears it; fields not given stay as they are."""

    visibility_timeout: Annotated[
        float | None, _in_limit(VISIBILITY_TIMEOUT_SECONDS, positive=True)
    ] = _range(VISIBILITY_TIMEOUT_SECONDS)
    max_attempts: Annotated[int | None, _in_limit(MAX_ATTEMPTS)] = _range(MAX_ATTEMPTS)
    completed_retention: Annotated[int | None, _in_limit(RETENTION_JOBS)] = _range(RETENTION_JOBS)
    dead_retention: Annotated[int | None, _in_limit(RETENTION_JOBS)] = _range(RETENTION_JOBS)
    retry_base: Annotated[float | None, _in_limit(RETRY_SECONDS)] = _range(RETRY_SECONDS)
    retry_cap: Annotated[float | None, _in_limit(RETRY_SECONDS)] = _range(RETRY_SECONDS)
    paused: StrictBool | None = Field(
        default=None, description="true: claims find nothing (enqueues still land)"
    )

    def stored(self) -> dict[str, Any]:
        """The stored form: the overrides only (no nulls, `paused` only when true)."""
        found = self.model_dump(exclude_none=True)
        if found.get("paused") is False:
            del found["paused"]
        return found


class EffectiveSettings(_Model):
    """Every setting of a topic as in force: its override, or the broker's flag."""

    visibility_timeout: float
    max_attempts: int
    completed_retention: int
    dead_retention: int
    retry_base: float
    retry_cap: float
    paused: bool


class TopicSettingsView(_Model):
    """What `GET` and `PATCH /topics/{topic}/settings` answer: the settings in force and
    the names of those the topic overrides (the others are the broker's flags)."""

    topic: str
    settings: EffectiveSettings
    overridden: list[str]


# --- consumer groups --------------------------------------------------------------------


class Delivery(_Model):
    """One entry a consumer group delivered and has not acked (broker/groups.py): the
    fields of a job that belong to one group's life of it (no payload, no created_at)."""

    id: str = Field(min_length=1, max_length=MAX_ID_CHARS)
    status: Literal[JobStatus.PENDING, JobStatus.CLAIMED, JobStatus.DEAD]
    available_at: Timestamp | None = None
    attempts: Count = 0
    claimed_by: str | None = None
    claimed_at: Timestamp | None = None
    last_heartbeat: Timestamp | None = None
    last_error: str | None = None
    history: list[Attempt] | None = None  # the entry's attempts in this group


class GroupDocument(_Model):
    """A consumer group of a stream (broker/DESIGN.md, "Consumer groups"): entries after
    `last_id` are new for it; `deliveries` are those it delivered and has not acked."""

    name: str = Field(min_length=1)
    last_id: str = Field(min_length=1)
    created_at: Timestamp
    entries_read: Count | None = None
    consumers: dict[str, Timestamp] = Field(default_factory=dict)
    deliveries: list[Delivery] = Field(default_factory=list)


class GroupChange(GroupDocument):
    """A group as a log object carries it: its whole header, the delivery records the
    commit added or changed, and the ids of those it removed (common/topic_log.py)."""

    removed_deliveries: list[str] | None = None


class TopicDocument(_Model):
    format: Literal[1] = FORMAT_VERSION
    topic: str
    generation: Count
    writer: str
    updated_at: Timestamp
    counters: Counters = Field(default_factory=Counters)
    settings: TopicSettings | None = None  # stored only when the topic has any
    kind: Literal["stream"] | None = None  # set once used as a stream (XADD, MKSTREAM)
    groups: list[GroupDocument] | None = None  # absent: no named consumer group
    jobs: Jobs = Field(default_factory=list)


class CheckpointRef(_Model):
    """The checkpoint a head builds on: its key, its generation and how many jobs it holds
    (the count is informational, for sanity checks)."""

    key: str = Field(min_length=1)
    generation: Count
    jobs: int = Field(ge=0)


class TopicHead(_Model):
    """The document of a checkpointed topic (format 2): what changed since `checkpoint`.

    The topic it stands for is the checkpoint's jobs minus `removed`, with each job in
    `jobs` replacing the checkpoint's job of the same id in place, then the remaining
    `jobs` appended (common/documents.py: merge_document). Field order is the stored
    order, `jobs` last.
    """

    format: Literal[2] = HEAD_FORMAT
    topic: str
    generation: Count
    writer: str
    updated_at: Timestamp
    counters: Counters = Field(default_factory=Counters)
    checkpoint: CheckpointRef
    removed: list[str] = Field(default_factory=list)
    jobs: Jobs = Field(default_factory=list)


#: A chain token: 16 lowercase hex characters, random per log object (common/topic_log.py).
Token = Annotated[str, Field(pattern=r"^[0-9a-f]{16}$")]


class TopicPointer(_Model):
    """What `topics/<topic>.json` holds in the log layout (format 3): the checkpoint to
    start reading from, the generation it holds and the chain token of that generation."""

    format: Literal[3] = LOG_FORMAT
    topic: str
    generation: Count
    token: Token
    checkpoint: str = Field(min_length=1)


class LogHeader(_Model):
    """A log object (format 3) without its jobs: one commit's changes, the generation it
    makes, its own chain token and its parent's (the token of the generation before)."""

    format: Literal[3] = LOG_FORMAT
    topic: str
    generation: Annotated[int, Field(ge=1, le=MAX_STORED_COUNT)]
    parent: Token
    token: Token
    writer: str
    updated_at: Timestamp
    counters: Counters = Field(default_factory=Counters)
    # Only in the log object of a commit that changed them: the topic's whole set from then on.
    settings: TopicSettings | None = None
    removed: list[Annotated[str, Field(min_length=1, max_length=MAX_ID_CHARS)]] = Field(
        default_factory=list
    )
    kind: Literal["stream"] | None = None
    groups: list[GroupChange] | None = None  # groups changed by this commit
    destroyed_groups: list[str] | None = None  # groups this commit removed
    jobs: list[Any] = Field(default_factory=list)


class TopicStats(_Model):
    """What `GET /topics/{topic}/status` and `GET /topics` report for one topic.

    The counts are disjoint: `pending` jobs can be claimed now, `delayed` ones are pending
    with an `available_at` still ahead (a delayed enqueue, a nack's delay or backoff), and
    pending + delayed + claimed + completed + dead = `total`, the jobs in the document.
    `counters` are lifetime totals.
    """

    topic: str
    pending: int = 0
    delayed: int = 0
    claimed: int = 0
    completed: int = 0
    dead: int = 0
    total: int = 0
    generation: int = 0
    updated_at: Timestamp | None = None
    counters: Counters = Field(default_factory=Counters)
    paused: bool = False  # claims find nothing (TopicSettings.paused)
    # Only in `GET /topics`, for a topic that could not be loaded: what is wrong and where
    # (its counts are then 0). Absent for a healthy topic.
    error: str | None = None


# --- broker registry --------------------------------------------------------------------


class BrokerState(StrEnum):
    ACTIVE = "active"  # this broker is the one clients should use
    STOPPING = "stopping"  # shutting down; any standby may take over at once


class BrokerRecord(_Model):
    format: Literal[1] = FORMAT_VERSION
    generation: Count
    broker_id: str = Field(min_length=1)
    http_addr: str
    redis_addr: str | None = None
    heartbeat: Timestamp
    started_at: Timestamp
    version: str
    state: BrokerState = BrokerState.ACTIVE


# --- loading and dumping ----------------------------------------------------------------

M = TypeVar("M", bound=BaseModel)


class DocumentInvalid(ValueError):
    """A stored document that does not match its model."""

    def __init__(self, key: str, problem: str) -> None:
        self.key = key
        self.problem = problem
        super().__init__(f"{key}: invalid document: {problem}")


def _describe(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "(document)"
    more = f" (and {error.error_count() - 1} more)" if error.error_count() > 1 else ""
    return f"field {where}: {first['msg']}{more}"


def load_document(model: type[M], key: str, data: bytes) -> M:
    """Parse and validate stored bytes, raising DocumentInvalid naming key and field."""
    return validate_document(model, key, parse_json(key, data))


def parse_json(key: str, data: bytes) -> Any:
    """Stored bytes as parsed JSON, raising DocumentInvalid naming the key if they are not."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise DocumentInvalid(key, f"not JSON ({exc})") from None


def validate_document(model: type[M], key: str, raw: Any) -> M:
    """Validate already parsed JSON, raising DocumentInvalid naming key and field."""
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise DocumentInvalid(key, _describe(exc)) from None


def dump_document(model: BaseModel) -> bytes:
    """Compact JSON bytes of a model, leaving out fields that are None."""
    return orjson.dumps(model.model_dump(mode="json", exclude_none=True))
