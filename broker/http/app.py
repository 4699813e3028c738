"""The aiohttp application factory: wiring only (middlewares, routes, app keys)."""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Callable
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Middleware

from ..engine import Engine
from ..errors import InvalidRequest
from ..limits import DEFAULT_IDLE_SECONDS, max_batch_bytes
from .appkeys import AUTH_TOKEN, ENGINE, HEALTH, READINESS
from .errors import Handler, error_middleware, error_response
from .health import health_routes
from .openapi import BODY_ROUTES, query_names
from .routes import routes

log = logging.getLogger("simplequeue.http")

OPEN_PATHS = frozenset({"/healthz", "/readyz"})  # probes need no token


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    token = request.app[AUTH_TOKEN]
    if token and request.path not in OPEN_PATHS:
        # The scheme is case-insensitive (RFC 7235): `bearer` is as good as `Bearer`.
        scheme, _, given = request.headers.get("Authorization", "").strip().partition(" ")
        wrong = not hmac.compare_digest(given.strip().encode(), token.encode())
        if scheme.lower() != "bearer" or wrong:
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


def body_deadline(seconds: float) -> Middleware:
    """Read the request body within `seconds` (handlers then get it from aiohttp's cache),
    so a client that sends headers and then stalls does not hold a handler forever."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        # A body already received whole (the usual small JSON body) has nothing to wait
        # for: no timer is armed for it.
        if request.body_exists and not request.content.is_eof():
            try:
                async with asyncio.timeout(seconds):
                    await request.read()
            except TimeoutError:
                log.warning(
                    "request body timeout method=%s path=%s seconds=%g",
                    request.method,
                    request.path,
                    seconds,
                )
                return error_response(
                    "request_timeout",
                    f"the request body did not arrive within {seconds:g} seconds "
                    "(--idle-timeout): send it whole",
                )
        return await handler(request)

    return middleware


@web.middleware
async def strict_inputs(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse what a route would ignore: a query parameter it does not know (a misspelt
    `?limt=` would silently list 100 jobs) and a body sent to a route that takes none.
    Routes and their inputs come from the /openapi.json tables (openapi.py)."""
    resource = request.match_info.route.resource
    if resource is not None and request.match_info.http_exception is None:
        path = resource.canonical
        known = query_names(path)
        for name in request.query:
            if name not in known:
                hint = f"known ones are {', '.join(known)}" if known else "it takes none"
                raise InvalidRequest(f"unknown query parameter {name!r} for {path}: {hint}")
        if (request.method, path) not in BODY_ROUTES and await request.read():
            raise InvalidRequest(
                f"this route takes no body: send {request.method} {request.path} without one"
            )
    return await handler(request)


def make_app(
    engine: Engine,
    *,
    health: Callable[[], dict[str, Any]] | None = None,
    readiness: Callable[[], list[str]] | None = None,
    auth_token: str | None = None,
    body_seconds: float = DEFAULT_IDLE_SECONDS,
) -> web.Application:
    app = web.Application(
        middlewares=[
            metrics_middleware,
            error_middleware,
            auth_middleware,
            body_deadline(body_seconds),
            strict_inputs,
        ],
        client_max_size=max_batch_bytes(engine.settings.max_payload_bytes),
    )
    app[ENGINE] = engine
    app[HEALTH] = health or _standalone_health
    app[READINESS] = readiness or list
    app[AUTH_TOKEN] = auth_token or ""
    app.add_routes(routes)
    app.add_routes(health_routes)
    return app


def _standalone_health() -> dict[str, Any]:
    return {"broker_id": "", "active": True, "state": "active", "active_broker": None}
