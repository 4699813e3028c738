"""The JSON bodies the HTTP routes accept, as pydantic models.

The same models validate every request (`parse_body`) and make the request schemas of
/openapi.json (broker/http/openapi.py), so the two cannot drift. Unknown fields are an
error naming the closest known one: a misspelt `delay_second` must not be dropped
silently. Numbers are checked against their ranges in common.limits.

The bodies of the enqueue → claim → ack cycle are read by a few type and range checks
when they are in the plain form clients send (known fields, strings and numbers of the
right type, in range): the model is then built without running pydantic's validators.
Anything else goes through `model_validate`, which decides and words the error, so
both paths accept the same bodies and give the same values.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    model_validator,
)

from common.limits import (
    BATCH_JOBS,
    CLAIM_COUNT,
    DELAY_SECONDS,
    MAX_ERROR_CHARS,
    MAX_ID_CHARS,
    WAIT_SECONDS,
    Limit,
)

from ..errors import InvalidRequest


def _checked(limit: Limit, *, nullable: bool = False) -> BeforeValidator:
    """Checks a number against `limit` (bools, NaN and strings are refused too); with
    `nullable`, null means "not given"."""

    def check(value: Any, info: ValidationInfo) -> Any:
        if value is None and nullable:
            return None
        return limit.check(info.field_name or "value", value)

    return BeforeValidator(check)


def _range(limit: Limit) -> Any:
    """The range in the field's schema."""
    bounds: dict[str, Any] = {"minimum": limit.low, "maximum": limit.high}
    return Field(description=limit.describe(), json_schema_extra=bounds)


Id = Annotated[str, Field(min_length=1, max_length=MAX_ID_CHARS)]
DelaySeconds = Annotated[
    float | None, _checked(DELAY_SECONDS, nullable=True), _range(DELAY_SECONDS)
]
WaitSeconds = Annotated[float | None, _checked(WAIT_SECONDS, nullable=True), _range(WAIT_SECONDS)]
ClaimCount = Annotated[int, _checked(CLAIM_COUNT), _range(CLAIM_COUNT)]


class RequestBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _null_is_not_given(cls, data: Any) -> Any:
        # README: null for an optional field means "not given", so it takes the field's
        # default (`"count": null` claims one job). A required field's null stays: it is
        # a payload's value, or an error.
        if not isinstance(data, dict):
            return data
        fields = cls.model_fields
        return {
            k: v
            for k, v in data.items()
            if v is not None or k not in fields or fields[k].is_required()
        }


class EnqueueRequest(RequestBody):
    """One job. `payload` is required and may be any JSON value, null included."""

    payload: Any = Field(description="any JSON value; integers must fit in 64 bits")
    id: Id | None = Field(default=None, description="job id; the broker makes a UUID if absent")
    delay_seconds: DelaySeconds = None


class BatchRequest(RequestBody):
    jobs: list[EnqueueRequest] = Field(
        min_length=int(BATCH_JOBS.low), max_length=int(BATCH_JOBS.high)
    )


class ClaimRequest(RequestBody):
    worker_id: Id
    count: ClaimCount = 1
    wait_seconds: WaitSeconds = None


class JobRequest(RequestBody):
    """ack and heartbeat: the job, and (checked when given) the worker holding it."""

    job_id: Id
    worker_id: Id | None = None


class NackRequest(JobRequest):
    delay_seconds: DelaySeconds = None
    error: str | None = Field(
        default=None, max_length=MAX_ERROR_CHARS, description="why it failed, kept on the job"
    )


REQUEST_MODELS: list[type[RequestBody]] = [
    EnqueueRequest,
    BatchRequest,
    ClaimRequest,
    JobRequest,
    NackRequest,
]

B = TypeVar("B", bound=BaseModel)  # a RequestBody, or TopicSettings (PATCH settings)


def _is_id(value: Any) -> bool:
    return type(value) is str and 0 < len(value) <= MAX_ID_CHARS


def _in(limit: Limit, value: Any) -> bool:
    """A number pydantic's field would take as it is (an int for integer limits)."""
    kind = type(value)
    if limit.integer:
        return kind is int and limit.low <= value <= limit.high
    number = kind is int or kind is float
    return number and math.isfinite(value) and limit.low <= value <= limit.high


def _seconds(value: Any) -> float | None:
    return None if value is None else float(value)


_ENQUEUE_FIELDS = frozenset(("payload", "id", "delay_seconds"))
_CLAIM_FIELDS = frozenset(("worker_id", "count", "wait_seconds"))
_JOB_FIELDS = frozenset(("job_id", "worker_id"))


def _plain_enqueue(body: dict[str, Any]) -> EnqueueRequest | None:
    job_id, delay = body.get("id"), body.get("delay_seconds")
    if (
        not body.keys() <= _ENQUEUE_FIELDS
        or "payload" not in body
        or (job_id is not None and not _is_id(job_id))
        or (delay is not None and not _in(DELAY_SECONDS, delay))
    ):
        return None
    return EnqueueRequest.model_construct(
        payload=body["payload"], id=job_id, delay_seconds=_seconds(delay)
    )


def _plain_claim(body: dict[str, Any]) -> ClaimRequest | None:
    count, wait = body.get("count"), body.get("wait_seconds")
    if (
        not body.keys() <= _CLAIM_FIELDS
        or not _is_id(body.get("worker_id"))
        or (count is not None and not _in(CLAIM_COUNT, count))
        or (wait is not None and not _in(WAIT_SECONDS, wait))
    ):
        return None
    return ClaimRequest.model_construct(
        worker_id=body["worker_id"],
        count=1 if count is None else count,
        wait_seconds=_seconds(wait),
    )


def _plain_job(body: dict[str, Any]) -> JobRequest | None:
    worker = body.get("worker_id")
    if (
        not body.keys() <= _JOB_FIELDS
        or not _is_id(body.get("job_id"))
        or (worker is not None and not _is_id(worker))
    ):
        return None
    return JobRequest.model_construct(job_id=body["job_id"], worker_id=worker)


# By exact model (NackRequest, a JobRequest, has fields of its own).
_PLAIN: dict[type[BaseModel], Callable[[dict[str, Any]], RequestBody | None]] = {
    EnqueueRequest: _plain_enqueue,
    ClaimRequest: _plain_claim,
    JobRequest: _plain_job,
}


def parse_body(model: type[B], body: Any) -> B:
    """The validated request, or InvalidRequest saying in one line what was wrong."""
    if not isinstance(body, dict):
        raise InvalidRequest("request body must be a JSON object")
    plain = _PLAIN.get(model)
    if plain is not None:
        found = plain(body)
        if found is not None:
            assert isinstance(found, model)
            return found
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise InvalidRequest(_describe(model, exc)) from None


def _describe(model: type[BaseModel], error: ValidationError) -> str:
    errors = error.errors()
    # An unknown field first: it usually explains a missing one (`id` sent for `job_id`).
    first = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    loc = first["loc"]
    where = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc)[1:]
    more = error.error_count() - 1
    also = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    kind = first["type"]
    if kind == "extra_forbidden":
        known = list(_model_at(model, loc[:-1]).model_fields)
        close = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.4)
        hint = f"did you mean {close[0]!r}? " if close else ""
        return f"unknown field {where!r}: {hint}known fields are {', '.join(known)}{also}"
    if kind == "missing":
        return f"missing field {where!r}: it is required{also}"
    if kind == "value_error":
        # A range check of common.limits, whose message names the field and the range.
        prefix = where.rpartition(".")[0]
        message = str(first["ctx"]["error"])
        return f"{prefix}: {message}{also}" if prefix else f"{message}{also}"
    return f"field {where!r}: {first['msg']}{also}"


def _model_at(model: type[BaseModel], path: tuple[int | str, ...]) -> type[BaseModel]:
    """The model that a validation error's location (less its last part) points into."""
    for part in path:
        if isinstance(part, str):
            annotation = model.model_fields[part].annotation
            inner = getattr(annotation, "__args__", (annotation,))[0]
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                model = inner
    return model
