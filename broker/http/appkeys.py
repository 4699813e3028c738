"""Typed keys of what the HTTP app carries (aiohttp `web.AppKey`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from ..engine import Engine

ENGINE = web.AppKey("engine", Engine)
# Returns the registry's view for /healthz: broker_id, active, state, active_broker.
HealthProvider = Callable[[], dict[str, Any]]
HEALTH: web.AppKey[HealthProvider] = web.AppKey("health")
# Returns why the broker is not ready (empty: ready), for /readyz and /healthz.
ReadinessProvider = Callable[[], list[str]]
READINESS: web.AppKey[ReadinessProvider] = web.AppKey("readiness")
AUTH_TOKEN = web.AppKey("auth_token", str)
