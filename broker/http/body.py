"""Reading JSON request bodies into checked values; every problem is `InvalidRequest`."""

from __future__ import annotations

import math
from typing import Any

import orjson
from aiohttp import web

from ..errors import InvalidRequest

MISSING: Any = object()


async def json_object(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    try:
        body = orjson.loads(raw) if raw.strip() else {}
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(
            f"request body is not valid JSON ({exc}): send a JSON object"
        ) from None
    if not isinstance(body, dict):
        raise InvalidRequest("request body must be a JSON object")
    return body


def text(body: dict[str, Any], name: str, *, required: bool = False) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise InvalidRequest(f"missing field {name!r}: it is required")
        return None
    if not isinstance(value, str) or not value:
        raise InvalidRequest(f"field {name!r} must be a non-empty string")
    return value


def required_text(body: dict[str, Any], name: str) -> str:
    value = text(body, name, required=True)
    assert value is not None
    return value


def seconds(body: dict[str, Any], name: str, *, maximum: float | None = None) -> float:
    value = body.get(name)
    if value is None:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidRequest(f"field {name!r} must be a number of seconds")
    if value < 0:
        raise InvalidRequest(f"field {name!r} must not be negative")
    return float(value) if maximum is None else min(float(value), maximum)


def integer(body: dict[str, Any], name: str, default: int, *, low: int, high: int) -> int:
    value = body.get(name, default)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)  # query strings
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidRequest(f"field {name!r} must be an integer from {low} to {high}")
    return value


def query_seconds(request: web.Request, name: str, maximum: float) -> float:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return 0.0
    try:
        value = float(raw)
    except ValueError:
        raise InvalidRequest(f"query parameter {name!r} must be a number of seconds") from None
    return seconds({name: value}, name, maximum=maximum)
