"""How payload bytes (from RESP) become a JSON value in the document, and back.

The rule (DESIGN.md): bytes that are exactly the compact JSON encoding of an object or an
array are stored as that JSON value; other UTF-8 bytes as a string; anything else as
base64 with `payload_encoding: "base64"`. So a RESP pop returns exactly the bytes that were
pushed, and the document stays readable.
"""

from __future__ import annotations

import base64
from typing import Any

import orjson

BASE64 = "base64"


def payload_from_bytes(data: bytes) -> tuple[Any, str | None]:
    """Return (payload, payload_encoding) for bytes received from a client."""
    if data[:1] in (b"{", b"["):
        try:
            value = orjson.loads(data)
        except orjson.JSONDecodeError:
            value = None
        # Only byte-exact compact JSON is parsed; anything else would not round-trip.
        if isinstance(value, dict | list) and orjson.dumps(value) == data:
            return value, None
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError:
        return base64.b64encode(data).decode("ascii"), BASE64


def payload_to_bytes(payload: Any, encoding: str | None) -> bytes:
    """The bytes a RESP client gets back for a stored payload."""
    if encoding == BASE64:
        return base64.b64decode(payload)
    if isinstance(payload, str):
        return payload.encode("utf-8")
    return orjson.dumps(payload)
