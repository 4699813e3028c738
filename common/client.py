"""The async HTTP client of the broker (one aiohttp session per Client).

Every route of the HTTP API has one method; each returns the models of common.models and
raises a named ClientError subclass chosen by the reply's JSON `code`.

Retries: only failures that cannot have changed anything, or whose repetition is harmless,
are retried, with exponential backoff and jitter:
- a connection that could not be opened (the broker never saw the request), or 503
  `storage_unavailable` (the broker's write failed and nothing changed): every call
  (not 503 `document_invalid`: a broken document stays broken until an operator acts);
- a connection lost mid-request or a timeout (the broker may have acted): only idempotent
  calls - reads, heartbeat, and enqueue, which always carries a job id (generated here when
  the caller gave none) so that a repeated enqueue cannot add the job twice.
claim, ack, nack, requeue and delete are never repeated when their outcome is unknown: the
caller gets BrokerUnavailable and decides.

A client made by `Client.discover(store)` also re-reads the broker registry when its broker
stops answering and moves to the broker registered there (see common.discovery).

Transports: requests go through aiohttp (AiohttpTransport, the default: pooled, concurrent)
or, for a caller that sends one request and exits, through the standard library
(BlockingTransport), which starts in a fraction of the time importing aiohttp takes. Both
raise NotSent or Lost, so the retry policy and the error table above stay the same. This
module imports neither aiohttp nor pydantic until a call needs them.
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, Self
from urllib.parse import quote

import orjson

from common.errors import (
    CODE_BY_STATUS,
    CODES,
    NOT_RETRIED,
    BadRequest,
    BrokerUnavailable,
    ClientError,
    DocumentBroken,
    JobConflict,
    JobNotFound,
    LeaseLost,
    NothingToClaim,
    PayloadTooLarge,
    ResourceNotFound,
    StorageFailed,
    Unauthorized,
)
from common.keys import InvalidTopicName, validate_topic

if TYPE_CHECKING:
    import aiohttp

    from common.models import Job, JobStatus, TopicStats
    from common.store.base import Object, ObjectStore

# The errors are part of this module's API: `from common.client import LeaseLost` works.
__all__ = [
    "AiohttpTransport",
    "BadRequest",
    "BlockingTransport",
    "BrokerUnavailable",
    "Client",
    "ClientError",
    "DocumentBroken",
    "Enqueued",
    "JobConflict",
    "JobNotFound",
    "LeaseLost",
    "NothingToClaim",
    "PayloadTooLarge",
    "ResourceNotFound",
    "StorageFailed",
    "Unauthorized",
    "error_from_reply",
]

log = logging.getLogger("simplequeue.client")

USER_AGENT = "simplequeue-client/0.1"


# --- errors (the classes and the table live in common.errors) ------------------------


def error_from_reply(status: int, body: bytes) -> ClientError:
    """The named error for an HTTP error reply."""
    message, code = "", None
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        data = None
    if isinstance(data, dict):
        message = " ".join(str(data.get("error") or "").split())
        code = str(data["code"]) if data.get("code") else None
    code = code or CODE_BY_STATUS.get(status, "http_error")
    if not message:
        text = body.decode("utf-8", "replace").strip().splitlines()
        message = f"broker replied HTTP {status}" + (f": {text[0][:200]}" if text else "")
    known = CODES.get(code)
    return (known.error if known else ClientError)(message, code=code, status=status)


# --- helpers ----------------------------------------------------------------------------


class Enqueued(NamedTuple):
    id: str
    created: bool  # False when a job with this id already existed (idempotent enqueue)


class Locator(Protocol):
    """Finds the broker to use after the current one stopped answering."""

    async def relocate(self, failed_url: str, probe: Callable[[str], Awaitable[bool]]) -> str:
        """The base URL of a broker that answers `probe`; raises BrokerUnavailable."""
        ...


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    url: str
    data: bytes | None
    params: Mapping[str, str] | None
    headers: Mapping[str, str]
    seconds: float  # the whole exchange
    connect_seconds: float


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    body: bytes
    headers: Mapping[str, str]  # looked up case-insensitively


class NotSent(Exception):
    """The connection could not be opened: the broker never saw the request."""


class Lost(Exception):
    """The connection failed after the request was sent: the broker may have acted."""


class Transport(Protocol):
    """Sends one HTTP request; raises NotSent or Lost when the broker does not answer."""

    async def send(self, request: Request) -> Reply: ...

    async def close(self) -> None: ...


class AiohttpTransport:
    """One pooled aiohttp session: concurrent requests, connections kept alive."""

    def __init__(self, headers: Mapping[str, str]) -> None:
        self._headers = dict(headers)
        self._session: aiohttp.ClientSession | None = None

    def _get_session(self) -> aiohttp.ClientSession:
        import aiohttp

        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(headers=self._headers)
            # aiohttp resends GET/PUT/DELETE once after a dropped connection (RFC 9112 allows
            # it for idempotent methods); our DELETE answers differently the second time,
            # and Client._call already decides which calls may be repeated.
            if hasattr(self._session, "_retry_connection"):
                self._session._retry_connection = False
        return self._session

    async def send(self, request: Request) -> Reply:
        import aiohttp

        r = request
        timeout = aiohttp.ClientTimeout(total=r.seconds, sock_connect=r.connect_seconds)
        try:
            async with self._get_session().request(
                r.method, r.url, data=r.data, params=r.params, headers=r.headers, timeout=timeout
            ) as resp:
                return Reply(resp.status, await resp.read(), resp.headers.copy())
        except (
            aiohttp.ClientConnectorError,
            aiohttp.ConnectionTimeoutError,
            aiohttp.InvalidURL,
        ) as exc:
            raise NotSent(_detail(exc)) from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise Lost(_detail(exc)) from exc

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class BlockingTransport:
    """One request per connection through http.client, blocking the event loop while it
    waits: only for a caller that sends one request at a time and has nothing else to run
    meanwhile (a `simplequeue` command), for which it saves importing aiohttp."""

    def __init__(self, headers: Mapping[str, str]) -> None:
        self._headers = dict(headers)

    async def send(self, request: Request) -> Reply:
        import http.client
        from urllib.parse import urlencode, urlsplit

        parts = urlsplit(request.url)
        connection_class = (
            http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        )
        target = parts.path or "/"
        query = "&".join(q for q in (parts.query, urlencode(request.params or {})) if q)
        try:
            conn = connection_class(parts.netloc, timeout=request.connect_seconds)
            conn.connect()
        except (OSError, http.client.HTTPException) as exc:
            raise NotSent(f"cannot connect to {parts.netloc}: {_detail(exc)}") from exc
        try:
            if conn.sock is not None:  # from here each read may take the whole time
                conn.sock.settimeout(request.seconds)
            try:
                conn.request(
                    request.method,
                    target + (f"?{query}" if query else ""),
                    body=request.data,
                    headers=self._headers | dict(request.headers),
                )
                resp = conn.getresponse()
                return Reply(resp.status, resp.read(), resp.headers)  # type: ignore[arg-type]
            except (OSError, http.client.HTTPException) as exc:
                raise Lost(_detail(exc)) from exc
        finally:
            conn.close()

    async def close(self) -> None:
        pass


def _detail(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def new_job_id() -> str:
    """A job id made on the client, so that retrying an enqueue cannot duplicate the job."""
    return str(uuid.uuid4())


def _topic(topic: str) -> str:
    try:
        return quote(validate_topic(topic), safe="")
    except InvalidTopicName as exc:
        raise BadRequest(str(exc), code="invalid_topic") from None


def _seconds(body: dict[str, Any], name: str, value: float | None) -> None:
    if value is not None:
        body[name] = value


def _retry_after(reply: Reply) -> float | None:
    try:
        return max(0.0, float(reply.headers.get("Retry-After", "")))
    except ValueError:
        return None


# --- the client -------------------------------------------------------------------------


class Client:
    """One broker connection pool. Use `async with Client(url) as client:` or close()."""

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        timeout: float = 10.0,
        retries: int = 3,
        backoff: float = 0.1,
        max_backoff: float = 2.0,
        locator: Locator | None = None,
        transport: Callable[[Mapping[str, str]], Transport] = AiohttpTransport,
    ) -> None:
        """`transport` is called with the headers every request carries."""
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self._locator = locator
        headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._transport = transport(headers)

    @classmethod
    async def discover(
        cls,
        store: ObjectStore,
        *,
        max_age: float = 30.0,
        failover_timeout: float | None = None,
        **kw: Any,
    ) -> Client:
        """A client of the broker registered in `store`'s broker.json, which follows the
        registry to another broker when this one stops answering. The store stays the
        caller's to close, and must stay open while the client is used."""
        from common.discovery import BrokerLocator

        locator = BrokerLocator(store, max_age=max_age, failover_timeout=failover_timeout)
        record = await locator.current()
        return cls(record.http_addr, locator=locator, **kw)

    # --- lifecycle ----------------------------------------------------------------------

    async def close(self) -> None:
        await self._transport.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # --- transport ----------------------------------------------------------------------

    async def _send(
        self,
        method: str,
        url: str,
        *,
        body: Any = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        seconds: float,
    ) -> Reply:
        send_headers = dict(headers or {})
        data = None
        if body is not None:
            data = orjson.dumps(body)
            send_headers["Content-Type"] = "application/json"
        connect_seconds = min(seconds, self.timeout)
        return await self._transport.send(
            Request(method, url, data, params, send_headers, seconds, connect_seconds)
        )

    def _unreachable(self, url: str, exc: BaseException, *, sent: bool) -> BrokerUnavailable:
        detail = str(exc)
        if sent:
            what = "stopped answering mid-request (it may or may not have acted on it)"
        else:
            what = "is unreachable"
        return BrokerUnavailable(
            f"broker {url} {what}: {detail}; check that simplequeued is running "
            "and the broker address points at it"
        )

    def _delay(self, failures: int, retry_after: float | None) -> float:
        ceiling = min(self.max_backoff, self.backoff * 2 ** (failures - 1))
        delay = random.uniform(ceiling / 2, ceiling)  # jitter keeps retrying clients apart
        return max(delay, min(retry_after, self.max_backoff)) if retry_after else delay

    async def _call(
        self,
        method: str,
        path: str,
        *,
        idempotent: bool,
        body: Any = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        wait: float = 0.0,
    ) -> Reply:
        """Send one request, retrying as the module docstring describes."""
        failures = 0
        error: ClientError
        while True:
            retry_after = None
            base_url = self.base_url
            try:
                reply = await self._send(
                    method,
                    base_url + path,
                    body=body,
                    params=params,
                    headers=headers,
                    seconds=self.timeout + wait,
                )
            except NotSent as exc:
                error = self._unreachable(base_url, exc, sent=False)
            except Lost as exc:
                error = self._unreachable(base_url, exc, sent=True)
                if not idempotent:
                    raise error from None
            else:
                if reply.status != 503:
                    return reply
                error = error_from_reply(reply.status, reply.body)
                if error.code in NOT_RETRIED:
                    raise error
                retry_after = _retry_after(reply)
            failures += 1
            if failures > self.retries:
                raise error
            log.info("retrying %s %s (%d/%d): %s", method, path, failures, self.retries, error)
            if self._locator is not None:
                if self.base_url != base_url:
                    continue  # a concurrent call has already moved to another broker
                found = (await self._locator.relocate(base_url, self._probe)).rstrip("/")
                if found != self.base_url:
                    log.warning("switching broker %s -> %s", self.base_url, found)
                    self.base_url = found
                    continue
            await asyncio.sleep(self._delay(failures, retry_after))

    async def _probe(self, base_url: str) -> bool:
        """True if a broker answers /healthz at base_url and is not shutting down."""
        try:
            url = base_url.rstrip("/") + "/healthz"
            reply = await self._send("GET", url, seconds=min(self.timeout, 2.0))
            health = orjson.loads(reply.body) if reply.status == 200 else None
        except (NotSent, Lost, orjson.JSONDecodeError):
            return False
        return isinstance(health, dict) and health.get("state") != "stopping"

    async def _json(
        self, method: str, path: str, *, idempotent: bool, ok: tuple[int, ...] = (200,), **kw: Any
    ) -> dict[str, Any]:
        reply = await self._call(method, path, idempotent=idempotent, **kw)
        if reply.status not in ok:
            raise error_from_reply(reply.status, reply.body)
        try:
            data = orjson.loads(reply.body)
        except orjson.JSONDecodeError:
            data = None
        if not isinstance(data, dict):
            raise ClientError(
                f"broker {self.base_url} sent a reply that is not a JSON object to {path}",
                code="bad_reply",
                status=reply.status,
            )
        return data

    def _model(self, build: Callable[[], Any], path: str) -> Any:
        from pydantic import ValidationError

        try:
            return build()
        except (ValidationError, KeyError, TypeError) as exc:
            raise ClientError(
                f"broker {self.base_url} sent an unexpected reply to {path}: "
                f"{' '.join(str(exc).split())[:300]}",
                code="bad_reply",
            ) from None

    async def _job(self, method: str, path: str, body: Any = None, *, idempotent: bool) -> Job:
        from common.models import Job

        data = await self._json(method, path, idempotent=idempotent, body=body)
        job: Job = self._model(lambda: Job.model_validate(data["job"]), path)
        return job

    # --- jobs ---------------------------------------------------------------------------

    async def enqueue_job(
        self, topic: str, payload: Any, *, id: str | None = None, delay: float | None = None
    ) -> Enqueued:
        """Enqueue and tell whether the job is new (False: that id was already there)."""
        path = f"/topics/{_topic(topic)}/enqueue"
        body: dict[str, Any] = {"payload": payload, "id": id or new_job_id()}
        _seconds(body, "delay_seconds", delay)
        data = await self._json("POST", path, idempotent=True, ok=(200, 201), body=body)
        found: Enqueued = self._model(
            lambda: Enqueued(str(data["id"]), bool(data.get("created"))), path
        )
        return found

    async def enqueue(
        self, topic: str, payload: Any, *, id: str | None = None, delay: float | None = None
    ) -> str:
        """Enqueue one job and return its id (generated here when not given)."""
        return (await self.enqueue_job(topic, payload, id=id, delay=delay)).id

    async def enqueue_many(self, topic: str, jobs: list[dict[str, Any]]) -> list[str]:
        """Enqueue several jobs in one commit. Each dict has `payload` and optionally `id`
        and `delay_seconds`; the ids are returned in order."""
        items = []
        for job in jobs:
            if "payload" not in job:
                raise BadRequest("each job of a batch needs a 'payload' key")
            item = {"payload": job["payload"], "id": job.get("id") or new_job_id()}
            _seconds(item, "delay_seconds", job.get("delay_seconds"))
            items.append(item)
        path = f"/topics/{_topic(topic)}/batch"
        data = await self._json("POST", path, idempotent=True, ok=(200, 201), body={"jobs": items})
        ids: list[str] = self._model(lambda: [str(i) for i in data["ids"]], path)
        return ids

    async def claim(
        self, topic: str, worker_id: str, *, count: int = 1, wait: float | None = None
    ) -> list[Job]:
        """Claim up to `count` jobs, long-polling up to `wait` seconds; [] if none."""
        from common.models import Job

        path = f"/topics/{_topic(topic)}/claim"
        body: dict[str, Any] = {"worker_id": worker_id, "count": count}
        _seconds(body, "wait_seconds", wait)
        try:
            data = await self._json("POST", path, idempotent=False, body=body, wait=wait or 0.0)
        except NothingToClaim:
            return []
        jobs: list[Job] = self._model(
            lambda: [Job.model_validate(j) for j in data.get("jobs") or [data["job"]]], path
        )
        return jobs

    async def claim_one(self, topic: str, worker_id: str, *, wait: float | None = None) -> Job:
        """Claim one job; raises NothingToClaim when there is none."""
        jobs = await self.claim(topic, worker_id, wait=wait)
        if not jobs:
            raise NothingToClaim(f"nothing to claim in topic {topic!r}", status=404)
        return jobs[0]

    async def ack(self, topic: str, job_id: str, *, worker_id: str | None = None) -> Job:
        body = {"job_id": job_id} | ({"worker_id": worker_id} if worker_id else {})
        return await self._job("POST", f"/topics/{_topic(topic)}/ack", body, idempotent=False)

    async def nack(
        self,
        topic: str,
        job_id: str,
        *,
        delay: float | None = None,
        error: str | None = None,
        worker_id: str | None = None,
    ) -> Job:
        body: dict[str, Any] = {"job_id": job_id}
        if worker_id:
            body["worker_id"] = worker_id
        if error is not None:
            body["error"] = error
        _seconds(body, "delay_seconds", delay)
        return await self._job("POST", f"/topics/{_topic(topic)}/nack", body, idempotent=False)

    async def heartbeat(self, topic: str, job_id: str, *, worker_id: str | None = None) -> Job:
        # Extending a lease twice is harmless, so a heartbeat may be repeated.
        body = {"job_id": job_id} | ({"worker_id": worker_id} if worker_id else {})
        return await self._job("POST", f"/topics/{_topic(topic)}/heartbeat", body, idempotent=True)

    # --- inspection and operator actions -------------------------------------------------

    async def status(self, topic: str) -> TopicStats:
        from common.models import TopicStats

        data = await self.status_json(topic)
        path = f"/topics/{_topic(topic)}/status"
        stats: TopicStats = self._model(lambda: TopicStats.model_validate(data), path)
        return stats

    async def status_json(self, topic: str) -> dict[str, Any]:
        """status() as the broker sent it (a TopicStats as JSON), without building the
        model: for a caller that only prints it and should not wait for pydantic."""
        return await self._json("GET", f"/topics/{_topic(topic)}/status", idempotent=True)

    async def topics(self) -> list[TopicStats]:
        from common.models import TopicStats

        data = await self._json("GET", "/topics", idempotent=True)
        found: list[TopicStats] = self._model(
            lambda: [TopicStats.model_validate(t) for t in data["topics"]], "/topics"
        )
        return found

    async def jobs(
        self,
        topic: str,
        *,
        status: JobStatus | str | None = None,
        limit: int = 100,
        after: str | None = None,
    ) -> tuple[list[Job], str | None]:
        """One page of jobs in enqueue order and the cursor of the next page (or None)."""
        from common.models import Job

        path = f"/topics/{_topic(topic)}/jobs"
        params = {"limit": str(limit)}
        if status:
            params["status"] = str(status)
        if after:
            params["after"] = after
        data = await self._json("GET", path, idempotent=True, params=params)
        page: tuple[list[Job], str | None] = self._model(
            lambda: ([Job.model_validate(j) for j in data["jobs"]], data.get("next")), path
        )
        return page

    def _job_path(self, topic: str, job_id: str) -> str:
        return f"/topics/{_topic(topic)}/jobs/{quote(job_id, safe='')}"

    async def job(self, topic: str, job_id: str) -> Job:
        return await self._job("GET", self._job_path(topic, job_id), idempotent=True)

    async def requeue(self, topic: str, job_id: str) -> Job:
        path = self._job_path(topic, job_id) + "/requeue"
        return await self._job("POST", path, idempotent=False)

    async def delete(self, topic: str, job_id: str) -> Job:
        return await self._job("DELETE", self._job_path(topic, job_id), idempotent=False)

    async def workers(self, topic: str) -> list[dict[str, Any]]:
        """Each worker seen on the topic, as `GET /topics/{topic}/workers` lists them."""
        path = f"/topics/{_topic(topic)}/workers"
        data = await self._json("GET", path, idempotent=True)
        rows: list[dict[str, Any]] = self._model(lambda: list(data["workers"]), path)
        return rows

    async def purge(self, topic: str, *, status: str | None = None) -> int:
        """Remove every job of the topic (or every job of `status`) in one commit; returns
        how many. Not retried once sent: a second purge could remove jobs enqueued since."""
        path = f"/topics/{_topic(topic)}"
        params = {"status": status} if status else None
        data = await self._json("DELETE", path, idempotent=False, params=params)
        removed: int = self._model(lambda: int(data["removed"]), path)
        return removed

    async def requeue_dead(self, topic: str, *, error: str | None = None) -> int:
        """Every dead job (whose last error contains `error`) back to pending; how many."""
        path = f"/topics/{_topic(topic)}/requeue-dead"
        params = {"error": error} if error else None
        data = await self._json("POST", path, idempotent=False, params=params)
        requeued: int = self._model(lambda: int(data["requeued"]), path)
        return requeued

    async def settings(self, topic: str) -> dict[str, Any]:
        """The topic's settings in force and which it overrides (a TopicSettingsView as
        JSON: no model, so that the CLI's `settings` stays light)."""
        return await self._json("GET", f"/topics/{_topic(topic)}/settings", idempotent=True)

    async def change_settings(self, topic: str, changes: dict[str, Any]) -> dict[str, Any]:
        """Set the settings in `changes` (None clears one) in one commit; the settings in
        force after it. Idempotent: the same change twice leaves the same settings."""
        path = f"/topics/{_topic(topic)}/settings"
        return await self._json("PATCH", path, idempotent=True, body=changes)

    async def reset_invalid(self, topic: str) -> str:
        """Move the topic's invalid document aside and start the topic empty; returns the
        key the document was kept under. JobConflict (`wrong_state`) when it is valid."""
        path = f"/topics/{_topic(topic)}/reset-invalid"
        data = await self._json("POST", path, idempotent=False)
        moved_to: str = self._model(lambda: str(data["moved_to"]), path)
        return moved_to

    async def document(
        self, topic: str, *, etag: str | None = None, wait: float | None = None
    ) -> Object | None:
        """The topic's committed document; None when it is still `etag` (after waiting up
        to `wait` seconds for a change). Raises ResourceNotFound before the first write."""
        from common.store.base import Object

        path = f"/topics/{_topic(topic)}/document"
        headers = {"If-None-Match": etag} if etag else None
        params = {"wait": str(wait)} if wait else None
        reply = await self._call(
            "GET", path, idempotent=True, headers=headers, params=params, wait=wait or 0.0
        )
        if reply.status == 304:
            return None
        if reply.status != 200:
            raise error_from_reply(reply.status, reply.body)
        return Object(reply.body, reply.headers.get("ETag", ""))

    async def health(self) -> dict[str, Any]:
        """The broker's /healthz answer (state, visibility_timeout, max_attempts, ...)."""
        return await self._json("GET", "/healthz", idempotent=True)
