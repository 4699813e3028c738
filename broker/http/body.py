"""Reading requests into checked values; every problem is `InvalidRequest`."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from common.limits import Limit, OutOfRange
from common.payload import InexactInteger, check_exact_integers

from ..errors import InvalidRequest
from .requests import B, parse_body


async def json_body(request: web.Request, model: type[B]) -> B:
    """The request's JSON body validated by `model` (broker/http/requests.py)."""
    raw = await request.read()
    try:
        check_exact_integers(raw)
        body = orjson.loads(raw) if raw.strip() else {}
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(
            f"request body is not valid JSON ({exc}): send a JSON object"
        ) from None
    except InexactInteger as exc:
        raise InvalidRequest(str(exc)) from None
    return parse_body(model, body)


def query_number(request: web.Request, name: str, limit: Limit, default: Any) -> Any:
    """A number from the query string, checked against its range."""
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        return limit.parse(f"query parameter {name!r}", raw)
    except OutOfRange as exc:
        raise InvalidRequest(str(exc)) from None
