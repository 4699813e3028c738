"""JSON errors `{"error", "code"}`: one table from code to status, and the middleware
that turns engine errors, bad topic names and aiohttp's own errors into them."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from common.keys import InvalidTopicName

from ..errors import BrokerError

log = logging.getLogger("simplequeue.http")

STATUS_BY_CODE = {
    "bad_request": 400,
    "invalid_topic": 400,
    "unauthorized": 401,
    "job_not_found": 404,
    "not_found": 404,
    "empty": 404,
    "method_not_allowed": 405,
    "request_timeout": 408,
    "wrong_state": 409,
    "lease_lost": 409,
    "payload_too_large": 413,
    "storage_unavailable": 503,
    "too_many_connections": 503,  # sent by broker/http/connections.py before any route
    "internal": 500,
}
RETRY_AFTER_SECONDS = "1"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error_response(code: str, message: str) -> web.Response:
    response = web.json_response({"error": message, "code": code}, status=STATUS_BY_CODE[code])
    if code == "storage_unavailable":
        response.headers["Retry-After"] = RETRY_AFTER_SECONDS
    return response


def _from_http_exception(exc: web.HTTPException, request: web.Request) -> web.Response:
    if exc.status == 404:
        return error_response(
            "not_found", f"no route {request.method} {request.path}: see /openapi.json"
        )
    if exc.status == 405:
        return error_response(
            "method_not_allowed", f"{request.method} is not allowed on {request.path}"
        )
    if exc.status == 413:
        return error_response("payload_too_large", f"request body is too large: {exc.text}")
    return error_response("bad_request", exc.text or exc.reason)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except BrokerError as exc:
        return error_response(exc.code, exc.message)
    except InvalidTopicName as exc:
        return error_response("invalid_topic", str(exc))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return _from_http_exception(exc, request)
    except Exception:
        log.exception("request failed method=%s path=%s", request.method, request.path)
        return error_response("internal", "internal error in the broker: see its log")
