"""`/healthz` (liveness: the process answers) and `/readyz` (readiness: it can serve
now, see broker/readiness.py). Both are open without the auth token, for probes."""

from __future__ import annotations

import orjson
from aiohttp import web

from .. import __version__
from .appkeys import ENGINE, HEALTH, READINESS

health_routes = web.RouteTableDef()


def _json(data: object, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


@health_routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    engine = request.app[ENGINE]
    reasons = request.app[READINESS]()
    health = {"status": "ok", "version": __version__, **request.app[HEALTH]()}
    health["ready"] = not reasons
    health["reasons"] = reasons
    health["visibility_timeout"] = engine.settings.visibility_timeout
    health["max_attempts"] = engine.settings.max_attempts
    return _json(health)


@health_routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    """200 when ready; 503 with the reasons otherwise."""
    reasons = request.app[READINESS]()
    return _json({"ready": not reasons, "reasons": reasons}, 200 if not reasons else 503)
