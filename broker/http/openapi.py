"""The OpenAPI 3.1 document served at /openapi.json, built from one table of routes.

Request bodies are the schemas of the very models that validate them
(broker/http/requests.py); every schema pydantic makes, with the models it refers to
(`JobStatus`, `Counters`, ...), lands in `components/schemas`, where its `$ref`s point.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from common.limits import PAGE_LIMIT, WAIT_SECONDS, Limit
from common.models import Job, JobStatus, TopicSettings, TopicSettingsView, TopicStats

from .requests import (
    REQUEST_MODELS,
    BatchRequest,
    ClaimRequest,
    EnqueueRequest,
    JobRequest,
    NackRequest,
)

_REF = "#/components/schemas/{model}"


def _ref(model: type) -> dict[str, Any]:
    return {"$ref": _REF.format(model=model.__name__)}


_ERROR = {"$ref": "#/components/schemas/Error"}
_JOB = _ref(Job)
_JOB_RESULT = {"type": "object", "properties": {"job": _JOB}}


def _obj(required: list[str], **props: Any) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": props}
    if required:
        schema["required"] = required
    return schema


_STR = {"type": "string"}

# (method, path, summary, request body schema, success status, success schema, error codes)
ROUTES: list[tuple[str, str, str, dict[str, Any] | None, int, dict[str, Any], list[int]]] = [
    (
        "post",
        "/topics/{topic}/enqueue",
        "Enqueue a job (idempotent on id)",
        _ref(EnqueueRequest),
        201,
        _obj([], id=_STR, created={"type": "boolean"}),
        [400, 413, 503],
    ),
    (
        "post",
        "/topics/{topic}/batch",
        "Enqueue many jobs in one write",
        _ref(BatchRequest),
        201,
        _obj(
            [],
            ids={"type": "array", "items": _STR},
            created={"type": "array", "items": {"type": "boolean"}},
        ),
        [400, 413, 503],
    ),
    (
        "post",
        "/topics/{topic}/claim",
        "Claim the oldest available jobs (long poll with wait)",
        _ref(ClaimRequest),
        200,
        _obj([], job=_JOB, jobs={"type": "array", "items": _JOB}),
        [400, 404, 503],
    ),
    (
        "post",
        "/topics/{topic}/ack",
        "Complete a claimed job",
        _ref(JobRequest),
        200,
        _JOB_RESULT,
        [400, 404, 409, 503],
    ),
    (
        "post",
        "/topics/{topic}/nack",
        "Return a claimed job (or bury it at max attempts)",
        _ref(NackRequest),
        200,
        _JOB_RESULT,
        [400, 404, 409, 503],
    ),
    (
        "post",
        "/topics/{topic}/heartbeat",
        "Extend a claim's lease",
        _ref(JobRequest),
        200,
        _JOB_RESULT,
        [400, 404, 409, 503],
    ),
    (
        "get",
        "/topics/{topic}/status",
        "Topic statistics",
        None,
        200,
        _ref(TopicStats),
        [400],
    ),
    (
        "get",
        "/topics",
        "All topics with statistics",
        None,
        200,
        _obj([], topics={"type": "array", "items": _ref(TopicStats)}),
        [503],
    ),
    (
        "post",
        "/topics/{topic}/reset-invalid",
        "Move an invalid topic document aside (kept under topics/<topic>/), start empty",
        None,
        200,
        _obj([], moved_to=_STR),
        [400, 409, 503],
    ),
    (
        "delete",
        "/topics/{topic}",
        "Purge: remove every job, or every job of ?status=, in one commit (counted as purged)",
        None,
        200,
        _obj(["removed"], removed={"type": "integer"}),
        [400, 503],
    ),
    (
        "post",
        "/topics/{topic}/requeue-dead",
        "Every dead job (?error=: whose last error contains the text) back to pending",
        None,
        200,
        _obj(["requeued"], requeued={"type": "integer"}),
        [400, 503],
    ),
    (
        "get",
        "/topics/{topic}/workers",
        "Workers seen on the topic: claims in flight, oldest claim, last heartbeat, and what "
        "each claimed, acked and nacked through this broker",
        None,
        200,
        _obj(
            ["workers"],
            workers={"type": "array", "items": {"type": "object"}},
            remembered_seconds={"type": "number"},
        ),
        [400],
    ),
    (
        "get",
        "/topics/{topic}/settings",
        "The topic's settings in force (its own, else the broker's flags) and which it sets",
        None,
        200,
        _ref(TopicSettingsView),
        [400, 503],
    ),
    (
        "patch",
        "/topics/{topic}/settings",
        "Set settings in one commit: a field given replaces the topic's own, null clears it "
        '(the broker\'s flag applies again); {"paused": true} pauses claims',
        _ref(TopicSettings),
        200,
        _ref(TopicSettingsView),
        [400, 503],
    ),
    (
        "get",
        "/topics/{topic}/jobs",
        "List jobs in enqueue order (?status=&limit=&after=)",
        None,
        200,
        _obj([], jobs={"type": "array", "items": _JOB}, next={"type": ["string", "null"]}),
        [400],
    ),
    ("get", "/topics/{topic}/jobs/{job_id}", "One job", None, 200, _JOB_RESULT, [404]),
    (
        "delete",
        "/topics/{topic}/jobs/{job_id}",
        "Delete a pending or dead job",
        None,
        200,
        _JOB_RESULT,
        [404, 409, 503],
    ),
    (
        "post",
        "/topics/{topic}/jobs/{job_id}/requeue",
        "Dead or claimed job back to pending",
        None,
        200,
        _JOB_RESULT,
        [404, 409, 503],
    ),
    (
        "get",
        "/topics/{topic}/document",
        "Raw topic document (If-None-Match, ?wait= long poll)",
        None,
        200,
        {"type": "object"},
        [304, 404],
    ),
    ("get", "/healthz", "Health and broker registry state", None, 200, {"type": "object"}, []),
    (
        "get",
        "/readyz",
        "Readiness: {ready, reasons}; the same body with status 503 when not ready",
        None,
        200,
        {"type": "object"},
        [],
    ),
    ("get", "/metrics", "Prometheus metrics", None, 200, {"type": "string"}, []),
]


def _number_query(name: str, limit: Limit, description: str) -> dict[str, Any]:
    kind = "integer" if limit.integer else "number"
    schema = {"type": kind, "minimum": limit.low, "maximum": limit.high}
    return {"name": name, "in": "query", "schema": schema, "description": description}


# Query parameters of the routes that take some.
QUERIES: dict[str, list[dict[str, Any]]] = {
    "/topics/{topic}": [{"name": "status", "in": "query", "schema": _ref(JobStatus)}],
    "/topics/{topic}/requeue-dead": [
        {"name": "error", "in": "query", "schema": _STR, "description": "text the error contains"}
    ],
    "/topics/{topic}/jobs": [
        {"name": "status", "in": "query", "schema": _ref(JobStatus)},
        _number_query("limit", PAGE_LIMIT, "at most this many jobs (default 100)"),
        {"name": "after", "in": "query", "schema": _STR, "description": "the `next` cursor"},
    ],
    "/topics/{topic}/document": [
        _number_query("wait", WAIT_SECONDS, "with If-None-Match: long-poll this many seconds"),
    ],
}


#: The routes that read a JSON body; any other refuses a non-empty one (app.py), so a body
#: sent to the wrong route is not dropped silently.
BODY_ROUTES = frozenset((m.upper(), path) for m, path, _, request, *_ in ROUTES if request)


def query_names(path: str) -> list[str]:
    """The query parameters a route knows (app.py refuses any other)."""
    return [param["name"] for param in QUERIES.get(path, [])]


def _responses(status: int, success: dict[str, Any], errors: list[int]) -> dict[str, Any]:
    responses: dict[str, Any] = {
        str(status): {
            "description": "success",
            "content": {"application/json": {"schema": success}},
        }
    }
    for code in errors:
        if code == 304:
            responses[str(code)] = {"description": "unchanged"}
        else:
            content = {"application/json": {"schema": _ERROR}}
            responses[str(code)] = {"description": "error", "content": content}
    return responses


def _schemas() -> dict[str, Any]:
    """Every model's schema and the schemas they refer to, keyed by model name."""
    models: list[tuple[type[BaseModel], Any]] = [
        (Job, "serialization"),
        (TopicStats, "serialization"),
        (TopicSettingsView, "serialization"),
        (TopicSettings, "validation"),
    ]
    models += [(model, "validation") for model in REQUEST_MODELS]
    _, top = models_json_schema(models, ref_template=_REF)
    schemas: dict[str, Any] = top["$defs"]
    schemas["Error"] = _obj(["error", "code"], error=_STR, code=_STR)
    return schemas


def openapi_document(version: str) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for method, path, summary, request, status, success, errors in ROUTES:
        operation: dict[str, Any] = {
            "summary": summary,
            "responses": _responses(status, success, errors),
        }
        params = [
            {"name": p[1:-1], "in": "path", "required": True, "schema": _STR}
            for p in path.split("/")
            if p.startswith("{")
        ]
        params += QUERIES.get(path, []) if method == "get" else []
        if params:
            operation["parameters"] = params
        if request is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": request}},
            }
        paths.setdefault(path, {})[method] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "simplequeue broker", "version": version},
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": _schemas(),
        },
        "security": [{"bearer": []}],
        "paths": paths,
    }
