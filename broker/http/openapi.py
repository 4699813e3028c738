"""The OpenAPI 3 document served at /openapi.json, built from one table of routes."""

from __future__ import annotations

from typing import Any

from common.models import Job, TopicStats

_ERROR = {"$ref": "#/components/schemas/Error"}
_JOB = {"$ref": "#/components/schemas/Job"}
_JOB_RESULT = {"type": "object", "properties": {"job": _JOB}}


def _obj(required: list[str], **props: Any) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": props}
    if required:
        schema["required"] = required
    return schema


_STR, _NUM, _INT = {"type": "string"}, {"type": "number"}, {"type": "integer"}
_NEW_JOB = _obj(["payload"], payload={}, id=_STR, delay_seconds=_NUM)
_JOB_REF = _obj(["job_id"], job_id=_STR, worker_id=_STR)

# (method, path, summary, request body schema, success status, success schema, error codes)
ROUTES: list[tuple[str, str, str, dict[str, Any] | None, int, dict[str, Any], list[int]]] = [
    (
        "post",
        "/topics/{topic}/enqueue",
        "Enqueue a job (idempotent on id)",
        _NEW_JOB,
        201,
        _obj([], id=_STR, created={"type": "boolean"}),
        [400, 413, 503],
    ),
    (
        "post",
        "/topics/{topic}/batch",
        "Enqueue many jobs in one write",
        _obj(["jobs"], jobs={"type": "array", "items": _NEW_JOB}),
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
        _obj(["worker_id"], worker_id=_STR, count=_INT, wait_seconds=_NUM),
        200,
        _obj([], job=_JOB, jobs={"type": "array", "items": _JOB}),
        [400, 404, 503],
    ),
    (
        "post",
        "/topics/{topic}/ack",
        "Complete a claimed job",
        _JOB_REF,
        200,
        _JOB_RESULT,
        [400, 404, 409, 503],
    ),
    (
        "post",
        "/topics/{topic}/nack",
        "Return a claimed job (or bury it at max attempts)",
        _obj(["job_id"], job_id=_STR, worker_id=_STR, delay_seconds=_NUM, error=_STR),
        200,
        _JOB_RESULT,
        [400, 404, 409, 503],
    ),
    (
        "post",
        "/topics/{topic}/heartbeat",
        "Extend a claim's lease",
        _JOB_REF,
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
        {"$ref": "#/components/schemas/TopicStats"},
        [400],
    ),
    (
        "get",
        "/topics",
        "All topics with statistics",
        None,
        200,
        _obj([], topics={"type": "array", "items": {"$ref": "#/components/schemas/TopicStats"}}),
        [503],
    ),
    (
        "get",
        "/topics/{topic}/jobs",
        "List jobs in enqueue order (?status=&limit=&after=)",
        None,
        200,
        _obj([], jobs={"type": "array", "items": _JOB}, next=_STR),
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


def openapi_document(version: str) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for method, path, summary, request, status, success, errors in ROUTES:
        operation: dict[str, Any] = {
            "summary": summary,
            "responses": {
                str(status): {
                    "description": "success",
                    "content": {"application/json": {"schema": success}},
                },
                **{
                    str(code): {
                        "description": "error" if code != 304 else "unchanged",
                        "content": {"application/json": {"schema": _ERROR}},
                    }
                    for code in errors
                },
            },
        }
        params = [part[1:-1] for part in path.split("/") if part.startswith("{")]
        if params:
            operation["parameters"] = [
                {"name": p, "in": "path", "required": True, "schema": _STR} for p in params
            ]
        if request is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": request}},
            }
        paths.setdefault(path, {})[method] = operation
    return {
        "openapi": "3.0.3",
        "info": {"title": "simplequeue broker", "version": version},
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": _obj(["error", "code"], error=_STR, code=_STR),
                "Job": Job.model_json_schema(),
                "TopicStats": TopicStats.model_json_schema(),
            },
        },
        "security": [{"bearer": []}],
        "paths": paths,
    }
