"""JSON errors `{"error", "code"}` with the status of their code (common/errors.py: one
table for broker and client), and the middleware that turns engine errors, bad topic
names and aiohttp's own errors into them."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.web_protocol import RequestPayloadError

from common.errors import CODES
from common.keys import InvalidTopicName

from ..errors import BrokerError

log = logging.getLogger("simplequeue.http")

RETRY_AFTER_SECONDS = "1"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error_response(code: str, message: str) -> web.Response:
    response = web.json_response({"error": message, "code": code}, status=CODES[code].status)
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
    except (RequestPayloadError, ConnectionResetError) as exc:
        # The client's fault (a body in an encoding it does not have, or a client that hung
        # up mid-body): a warning line, not a traceback anyone can flood the log with.
        log.warning(
            "request body unreadable method=%s path=%s error=%s", request.method, request.path, exc
        )
        request.content.feed_eof()  # aiohttp would drain it again and log a traceback
        response = error_response("bad_request", f"the request body could not be read: {exc}")
        response.force_close()  # what is left of the body cannot be parsed
        return response
    except Exception:
        log.exception("request failed method=%s path=%s", request.method, request.path)
        return error_response("internal", "internal error in the broker: see its log")
