"""The aiohttp application factory: wiring only (middlewares, routes, app keys)."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable
from typing import Any

from aiohttp import web

from ..engine import Engine
from .appkeys import AUTH_TOKEN, ENGINE, HEALTH
from .errors import Handler, error_middleware, error_response
from .routes import routes

log = logging.getLogger("simplequeue.http")

# Batch enqueues carry many payloads; each payload is still checked against the limit.
MIN_BODY_BYTES = 16 * 1024 * 1024
OPEN_PATHS = frozenset({"/healthz"})


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    token = request.app[AUTH_TOKEN]
    if token and request.path not in OPEN_PATHS:
        given = request.headers.get("Authorization", "")
        expected = f"Bearer {token}"
        if not hmac.compare_digest(given.encode(), expected.encode()):
            return error_response(
                "unauthorized", "missing or wrong token: send 'Authorization: Bearer <token>'"
            )
    return await handler(request)


@web.middleware
async def metrics_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await handler(request)
    resource = request.match_info.route.resource
    route = resource.canonical if resource is not None else "unmatched"
    request.app[ENGINE].metrics.requests.inc(
        route=route, method=request.method, status=str(response.status)
    )
    log.debug("request method=%s path=%s status=%s", request.method, request.path, response.status)
    return response


def make_app(
    engine: Engine,
    *,
    health: Callable[[], dict[str, Any]] | None = None,
    auth_token: str | None = None,
) -> web.Application:
    app = web.Application(
        middlewares=[metrics_middleware, error_middleware, auth_middleware],
        client_max_size=max(MIN_BODY_BYTES, 4 * engine.settings.max_payload_bytes),
    )
    app[ENGINE] = engine
    app[HEALTH] = health or _standalone_health
    app[AUTH_TOKEN] = auth_token or ""
    app.add_routes(routes)
    return app


def _standalone_health() -> dict[str, Any]:
    return {"broker_id": "", "active": True, "state": "active", "active_broker": None}
