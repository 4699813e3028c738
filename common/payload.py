"""How payload bytes (from RESP) become a JSON value in the document, and back.

The rule (broker/DESIGN.md): bytes that are exactly the compact JSON encoding of an object or an
array are stored as that JSON value; other UTF-8 bytes as a string; anything else as
base64 with `payload_encoding: "base64"`. So a RESP pop returns exactly the bytes that were
pushed, and the document stays readable.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import orjson

from .limits import MAX_PAYLOAD_DEPTH, PAYLOAD_INT_MAX, PAYLOAD_INT_MIN

BASE64 = "base64"


def payload_from_bytes(data: bytes) -> tuple[Any, str | None]:
    """Return (payload, payload_encoding) for bytes received from a client."""
    if data[:1] in (b"{", b"["):
        try:
            value = orjson.loads(data)
        except orjson.JSONDecodeError:
            value = None
        # Only byte-exact compact JSON is parsed; anything else would not round-trip. JSON
        # nested too deep for a job (orjson could not even encode it) stays text.
        if (
            isinstance(value, dict | list)
            and not nests_deeper(value, MAX_PAYLOAD_DEPTH)
            and orjson.dumps(value) == data
        ):
            return value, None
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError:
        return base64.b64encode(data).decode("ascii"), BASE64


def nests_deeper(value: Any, levels: int) -> bool:
    """Whether arrays and objects nest more than `levels` deep in a JSON value (`[[1]]`
    is 2). A loop, not recursion: the value may be deeper than Python's recursion limit."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item
        if depth > levels:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def payload_to_bytes(payload: Any, encoding: str | None) -> bytes:
    """The bytes a RESP client gets back for a stored payload."""
    if encoding == BASE64:
        return base64.b64decode(payload)
    if isinstance(payload, str):
        return payload.encode("utf-8")
    return orjson.dumps(payload)


# A run of 19 or more digits may be an integer orjson cannot hold exactly (it reads one
# beyond 64 bits as a float); only then is the text parsed again to look. Finding the run
# in a copy where every digit is "0" and everything else a space is a plain substring
# search, ten times faster than a regular expression on a big body.
_DIGITS_AS_ZEROS = bytes(48 if 48 <= byte <= 57 else 32 for byte in range(256))
_LONG_DIGITS = b"0" * 19


class InexactInteger(ValueError):
    """JSON text holding an integer that would not survive as an integer."""


def check_exact_integers(text: bytes) -> None:
    """Raise InexactInteger if the JSON text holds an integer outside 64 bits (orjson
    would read it as a float and the job would hand back another number)."""
    if text.translate(_DIGITS_AS_ZEROS).find(_LONG_DIGITS) < 0:
        return

    def exact(digits: str) -> int:
        # Length first: int() of thousands of digits is refused (or slow) in itself.
        too_long = len(digits.lstrip("-")) > len(str(PAYLOAD_INT_MAX))
        value = 0 if too_long else int(digits)
        if too_long or not PAYLOAD_INT_MIN <= value <= PAYLOAD_INT_MAX:
            shown = digits if len(digits) <= 30 else digits[:27] + "..."
            raise InexactInteger(
                f"the integer {shown} does not fit in 64 bits and would not come back "
                "exactly: send it as a string"
            )
        return value

    try:
        json.loads(text, parse_int=exact)
    except InexactInteger:
        raise
    except (ValueError, RecursionError):
        return  # not JSON, or nested too deep: the caller's parser (orjson) says so
