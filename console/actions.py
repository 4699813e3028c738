"""What each console action asks of the broker, and the one line that reports it.

Every action is a small request object; `perform` sends it through the HTTP client and
returns the success line, or raises `ClientError` (or `ActionFailed`), whose message the
console shows as is.
A failed request changes nothing on the broker, so the console never patches its own view:
the tables change only when the document does. No Textual here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from common.client import Client
from common.limits import DELAY_SECONDS, MAX_ID_CHARS, TOPIC_SETTINGS, OutOfRange


class ActionFailed(Exception):
    """An action the broker answered without doing anything (nothing to claim)."""


@dataclass(frozen=True, slots=True)
class Enqueue:
    topic: str
    payload: Any
    id: str | None = None
    delay: float | None = None


@dataclass(frozen=True, slots=True)
class Claim:
    topic: str
    worker_id: str


@dataclass(frozen=True, slots=True)
class Ack:
    topic: str
    job_id: str


@dataclass(frozen=True, slots=True)
class Nack:
    topic: str
    job_id: str
    error: str | None = None  # the job's last_error; None leaves it as it was
    delay: float | None = None  # seconds before the job is available again; None: backoff


@dataclass(frozen=True, slots=True)
class Requeue:
    topic: str
    job_id: str


@dataclass(frozen=True, slots=True)
class Delete:
    topic: str
    job_id: str


@dataclass(frozen=True, slots=True)
class Purge:
    topic: str
    status: str | None = None  # None: every job of the topic


@dataclass(frozen=True, slots=True)
class RequeueDead:
    topic: str


@dataclass(frozen=True, slots=True)
class ChangeSettings:
    """Set the topic's settings in `changes` (None clears one); `{"paused": ...}` pauses
    or resumes it."""

    topic: str
    changes: dict[str, Any]


Action = Enqueue | Claim | Ack | Nack | Requeue | Delete | Purge | RequeueDead | ChangeSettings


async def perform(client: Client, action: Action) -> str:
    """Run one action; the returned line says what happened."""
    match action:
        case Enqueue(topic, payload, job_id, delay):
            new_id = await client.enqueue(topic, payload, id=job_id, delay=delay)
            later = f" (available in {delay:g}s)" if delay else ""
            return f"Enqueued job {new_id} on {topic}{later}"
        case Claim(topic, worker_id):
            jobs = await client.claim(topic, worker_id)
            if not jobs:
                raise ActionFailed(f"Nothing to claim on {topic}: no pending job is available now")
            return f"Claimed job {jobs[0].id} as {worker_id}"
        case Ack(topic, job_id):
            await client.ack(topic, job_id)
            return f"Acked job {job_id}: completed"
        case Nack(topic, job_id, error, delay):
            job = await client.nack(topic, job_id, error=error, delay=delay)
            later = f", available in {delay:g}s" if delay and job.status.value == "pending" else ""
            return f"Nacked job {job_id}: now {job.status.value}{later}"
        case Requeue(topic, job_id):
            await client.requeue(topic, job_id)
            return f"Requeued job {job_id}: pending again, attempts reset"
        case Delete(topic, job_id):
            await client.delete(topic, job_id)
            return f"Deleted job {job_id} from {topic}"
        case Purge(topic, status):
            removed = await client.purge(topic, status=status)
            return f"Purged {removed:,} {status + ' ' if status else ''}jobs from {topic}"
        case RequeueDead(topic):
            requeued = await client.requeue_dead(topic)
            return f"Requeued {requeued:,} dead jobs of {topic}: pending again, attempts reset"
        case ChangeSettings(topic, {"paused": paused}):
            await client.change_settings(topic, {"paused": paused})
            if paused:
                return f"Paused {topic}: claims find nothing, enqueues still land"
            return f"Resumed {topic}: its jobs can be claimed again"
        case ChangeSettings(topic, changes):
            await client.change_settings(topic, changes)
            said = ", ".join(
                f"{name} {'cleared' if value is None else value}" for name, value in changes.items()
            )
            return f"Settings of {topic}: {said}"
    raise AssertionError(f"unknown action {action!r}")  # pragma: no cover


class FormInvalid(ValueError):
    """A field of the enqueue form that cannot be sent; the message names the field."""


def enqueue_from_form(topic: str, payload: str, job_id: str, delay: str) -> Enqueue:
    """Check the enqueue form's text fields and build the request, or raise FormInvalid."""
    if not payload.strip():
        raise FormInvalid('payload: enter a JSON value, e.g. {"item": "book"} or "text"')
    try:
        value = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise FormInvalid(
            f"payload is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from None
    job_id = job_id.strip()
    if len(job_id) > MAX_ID_CHARS:
        raise FormInvalid(f"id: at most {MAX_ID_CHARS} characters")
    return Enqueue(topic, value, job_id or None, _delay(delay))


def _delay(text: str) -> float | None:
    """A form's delay field: empty (or 0) is no delay."""
    if not text.strip():
        return None
    try:
        return DELAY_SECONDS.parse("delay", text.strip()) or None
    except OutOfRange as exc:
        raise FormInvalid(str(exc)) from None


def nack_from_form(topic: str, job_id: str, error: str, delay: str) -> Nack:
    """Check the nack form (an error text and a delay, both optional) and build the request.
    An empty delay leaves it to the broker's retry backoff; 0 retries at once."""
    if not delay.strip():
        return Nack(topic, job_id, error.strip() or None, None)
    try:
        seconds = DELAY_SECONDS.parse("delay", delay.strip())
    except OutOfRange as exc:
        raise FormInvalid(str(exc)) from None
    return Nack(topic, job_id, error.strip() or None, seconds)


def settings_from_form(topic: str, view: dict[str, Any], texts: dict[str, str]) -> ChangeSettings:
    """Check the settings dialog's fields (setting -> text; empty: the broker's flag) against
    what the topic sets now (`view`: a TopicSettingsView as JSON); the request carries only
    what changes. FormInvalid names a bad field, or says that nothing changes."""
    own = set(view.get("overridden", []))
    changes: dict[str, Any] = {}
    for name, text in texts.items():
        limit = TOPIC_SETTINGS[name]
        assert limit is not None  # `paused` is not a field: it has its key
        text = text.strip()
        if not text:
            if name in own:
                changes[name] = None
            continue
        try:
            value = limit.parse(name, text)
        except OutOfRange as exc:
            raise FormInvalid(str(exc)) from None
        if name not in own or value != view["settings"][name]:
            changes[name] = value
    if not changes:
        raise FormInvalid("nothing changed: edit a value (empty: the broker's flag) or esc")
    return ChangeSettings(topic, changes)
