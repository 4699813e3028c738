"""Reply values and their RESP2 / RESP3 encodings, with no I/O.

Commands return plain Python values and the connection encodes them for the protocol the
client chose with HELLO:

| value                 | RESP3          | RESP2                         |
|-----------------------|----------------|-------------------------------|
| `Simple("OK")`        | `+OK`          | `+OK`                         |
| `Error("ERR ...")`    | `-ERR ...`     | `-ERR ...`                    |
| `int`                 | `:1`           | `:1`                          |
| `bytes` / `str`       | `$3 abc`       | `$3 abc`                      |
| `None`                | `_`            | `$-1` (null bulk)             |
| `NULL_ARRAY`          | `_`            | `*-1` (null array)            |
| `list` / `tuple`      | `*n`           | `*n`                          |
| `dict`                | `%n` (map)     | `*2n` flat key, value, ...    |
| `SetReply([...])`     | `~n`           | `*n`                          |
| `Double(1.5)`         | `,1.5`         | `$3 1.5`                      |
| `bool`                | `#t` / `#f`    | `:1` / `:0`                   |
| `Verbatim("text")`    | `=n txt:text`  | `$n text`                     |
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final


@dataclass(frozen=True)
class Simple:
    text: str


@dataclass(frozen=True)
class Error:
    """An error reply; `text` starts with the Redis error code (`ERR`, `NOAUTH`, ...)."""

    text: str


@dataclass(frozen=True)
class Double:
    value: float


@dataclass(frozen=True)
class SetReply:
    items: Sequence[Any]


@dataclass(frozen=True)
class Verbatim:
    text: str


class NullArray:
    """The "no result" of commands that otherwise return an array (BRPOP, XREADGROUP)."""

    def __repr__(self) -> str:
        return "NULL_ARRAY"


NULL_ARRAY: Final = NullArray()
OK: Final = Simple("OK")
PONG: Final = Simple("PONG")


def encode(value: Any, protocol: int) -> bytes:
    """The bytes of one reply in RESP `protocol` (2 or 3)."""
    out: list[bytes] = []
    _encode(value, protocol == 3, out)
    return b"".join(out)


def _bulk(data: bytes, out: list[bytes]) -> None:
    out.append(b"$%d\r\n" % len(data))
    out.append(data)
    out.append(b"\r\n")


def _format_double(value: float) -> bytes:
    if math.isinf(value):
        return b"inf" if value > 0 else b"-inf"
    if math.isnan(value):
        return b"nan"
    return repr(value).encode()


def _encode(value: Any, resp3: bool, out: list[bytes]) -> None:
    # bytes first: it is by far the most common reply element.
    if isinstance(value, bytes):
        _bulk(value, out)
    elif isinstance(value, str):
        _bulk(value.encode(), out)
    elif isinstance(value, bool):
        out.append((b"#t\r\n" if value else b"#f\r\n") if resp3 else b":%d\r\n" % value)
    elif isinstance(value, int):
        out.append(b":%d\r\n" % value)
    elif isinstance(value, list | tuple):
        out.append(b"*%d\r\n" % len(value))
        for item in value:
            _encode(item, resp3, out)
    elif value is None:
        out.append(b"_\r\n" if resp3 else b"$-1\r\n")
    elif isinstance(value, Simple):
        out.append(b"+%s\r\n" % _one_line(value.text))
    elif isinstance(value, Error):
        out.append(b"-%s\r\n" % _one_line(value.text))
    elif isinstance(value, dict):
        out.append((b"%%%d\r\n" if resp3 else b"*%d\r\n") % (len(value) * (1 if resp3 else 2)))
        for key, item in value.items():
            _encode(key, resp3, out)
            _encode(item, resp3, out)
    elif isinstance(value, NullArray):
        out.append(b"_\r\n" if resp3 else b"*-1\r\n")
    elif isinstance(value, SetReply):
        out.append((b"~%d\r\n" if resp3 else b"*%d\r\n") % len(value.items))
        for item in value.items:
            _encode(item, resp3, out)
    elif isinstance(value, Double):
        text = _format_double(value.value)
        if resp3:
            out.append(b",%s\r\n" % text)
        else:
            _bulk(text, out)
    elif isinstance(value, Verbatim):
        data = value.text.encode()
        if resp3:
            out.append(b"=%d\r\ntxt:" % (len(data) + 4))
            out.append(data)
            out.append(b"\r\n")
        else:
            _bulk(data, out)
    else:
        raise TypeError(f"cannot encode {type(value).__name__} as a RESP reply")


def _one_line(text: str) -> bytes:
    # Simple strings and errors cannot carry CR or LF; a message that did would
    # desynchronise the client.
    return text.replace("\r", " ").replace("\n", " ").encode()
