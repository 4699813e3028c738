"""Bytes → request frames, with no I/O.

A client sends either a RESP array of bulk strings (`*2\\r\\n$4\\r\\nECHO\\r\\n$2\\r\\nhi\\r\\n`,
what every library sends, RESP2 and RESP3 alike) or an inline command (`ECHO hi\\r\\n`, what
telnet sends). `parse_request` returns the arguments of one request and where it ended, or
`INCOMPLETE` when the buffer holds only the start of one ("read more"), or raises
`ProtocolError` when the bytes can never become a request (the connection is then closed).

`parse_value` decodes any RESP2/RESP3 value (replies included); the listener does not need
it, clients and tests do.

Every declared length is checked against `Limits` before anything is buffered for it, so a
client cannot make a connection hold more than about one request's worth of bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

CRLF: Final = b"\r\n"


@dataclass
class Partial:
    """How far an incomplete multibulk request got, so parsing can resume there instead of
    starting over (a big LPUSH arriving over many reads would otherwise cost quadratic
    time)."""

    args: list[bytes]  # the elements parsed so far
    offset: int  # bytes of the request they took, counted from its `*`
    remaining: int  # elements still to come


class Incomplete:
    """The buffer ends inside a frame: read more bytes and try again, passing `partial`
    (when set) back to `parse_request` along with the same request start."""

    __slots__ = ("partial",)

    def __init__(self, partial: Partial | None = None) -> None:
        self.partial = partial

    def __repr__(self) -> str:
        return "INCOMPLETE" if self.partial is None else f"Incomplete({self.partial})"


INCOMPLETE: Final = Incomplete()


class ProtocolError(Exception):
    """Bytes that are not RESP; `reason` is Redis's wording after "Protocol error: "."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"Protocol error: {reason}")


@dataclass(frozen=True)
class Limits:
    """How much one request may declare. Redis's own limits where it has them."""

    max_bulk_bytes: int = 8 * 1024 * 1024
    max_array_len: int = 1024 * 1024
    # One request (a pipelined LPUSH of many values, say) may not declare more than this.
    max_request_bytes: int = 64 * 1024 * 1024
    # Redis's PROTO_INLINE_MAX_SIZE: an inline line, or a `*`/`$` header, longer than
    # this without a newline is refused instead of buffered.
    max_inline_bytes: int = 64 * 1024


# Before AUTH, Redis accepts only tiny requests so that anyone who can reach the port but
# lacks the password cannot make it buffer megabytes.
UNAUTHENTICATED: Final = Limits(
    max_bulk_bytes=16384, max_array_len=10, max_request_bytes=256 * 1024
)

Request = tuple[list[bytes], int]


def parse_request(
    buf: bytes | bytearray,
    pos: int,
    limits: Limits,
    resume: Partial | None = None,
    *,
    keep: bool = True,
) -> Request | Incomplete:
    """One request starting at `pos`: `(args, end)`, or an Incomplete.

    `args` is empty for requests Redis ignores (an empty inline line, `*0`, `*-1`).
    `resume` is the `partial` of the Incomplete an earlier call returned for this request
    (with the same `keep`). Without `keep`, only the request's form and sizes are checked:
    its arguments are not copied, and `args` is empty.
    """
    if pos >= len(buf):
        return INCOMPLETE
    if buf[pos] == ord("*"):
        return _parse_multibulk(buf, pos, limits, resume, keep)
    return _parse_inline(buf, pos, limits)


def _line_end(buf: bytes | bytearray, pos: int, limit: int, what: str) -> int | Incomplete:
    """Index of the `\\r` ending the line at `pos`, refusing lines longer than `limit`."""
    end = buf.find(CRLF, pos, pos + limit + 2)
    if end < 0:
        # A last "\r" right after `limit` bytes may begin the CRLF of a line of exactly
        # `limit` bytes whose "\n" has not arrived: that is not too big yet.
        waiting = len(buf) - pos == limit + 1 and buf[-1] == CRLF[0]
        if len(buf) - pos > limit and not waiting:
            raise ProtocolError(f"too big {what}")
        return INCOMPLETE
    return end


def _parse_length(raw: bytes | bytearray, lowest: int, highest: int, what: str) -> int:
    # int() accepts "+5", " 5", "5_0"; Redis accepts only an optional minus and digits.
    text = raw.decode("latin-1")
    digits = text[1:] if text.startswith("-") else text
    if not digits.isdigit() or not digits.isascii() or len(digits) > 18:
        raise ProtocolError(f"invalid {what} length")
    value = int(text)
    if value < lowest or value > highest:
        raise ProtocolError(f"invalid {what} length")
    return value


def _parse_multibulk(
    buf: bytes | bytearray, begin: int, limits: Limits, resume: Partial | None, keep: bool
) -> Request | Incomplete:
    if resume is None:
        end = _line_end(buf, begin, limits.max_inline_bytes, "mbulk count string")
        if isinstance(end, Incomplete):
            return end
        count = _parse_length(buf[begin + 1 : end], -1, limits.max_array_len, "multibulk")
        resume = Partial([], end + 2 - begin, max(count, 0))
    args, pos = resume.args, begin + resume.offset
    while resume.remaining:
        resume.offset = pos - begin
        if pos >= len(buf):
            return Incomplete(resume)
        if buf[pos] != ord("$"):
            shown = chr(buf[pos]) if 32 <= buf[pos] < 127 else f"\\x{buf[pos]:02x}"
            raise ProtocolError(f"expected '$', got '{shown}'")
        end = _line_end(buf, pos, limits.max_inline_bytes, "bulk count string")
        if isinstance(end, Incomplete):
            return Incomplete(resume)
        size = _parse_length(buf[pos + 1 : end], 0, limits.max_bulk_bytes, "bulk")
        start = end + 2
        stop = start + size
        if stop - begin > limits.max_request_bytes:
            raise ProtocolError("too big request")
        if len(buf) < stop + 2:
            return Incomplete(resume)
        if buf[stop : stop + 2] != CRLF:
            raise ProtocolError("expected CRLF after bulk string")
        if keep:
            args.append(bytes(buf[start:stop]))
        resume.remaining -= 1
        pos = stop + 2
    return args, pos


def _parse_inline(buf: bytes | bytearray, pos: int, limits: Limits) -> Request | Incomplete:
    # Inline requests end at "\n"; a preceding "\r" is optional, as in Redis.
    end = buf.find(b"\n", pos, pos + limits.max_inline_bytes + 1)
    if end < 0:
        if len(buf) - pos > limits.max_inline_bytes:
            raise ProtocolError("too big inline request")
        return INCOMPLETE
    line = bytes(buf[pos:end]).rstrip(b"\r")
    return split_inline(line), end + 1


_ESCAPES: Final = {
    ord("n"): b"\n",
    ord("r"): b"\r",
    ord("t"): b"\t",
    ord("b"): b"\b",
    ord("a"): b"\a",
}
_HEX: Final = frozenset(b"0123456789abcdefABCDEF")


def split_inline(line: bytes) -> list[bytes]:
    """Split an inline command the way Redis's sdssplitargs does (quotes and escapes)."""
    args: list[bytes] = []
    i, n = 0, len(line)
    while True:
        while i < n and line[i] in b" \t\r\n\v\f":
            i += 1
        if i >= n:
            return args
        current = bytearray()
        quote = 0
        while True:
            if i >= n:
                if quote:
                    raise ProtocolError("unbalanced quotes in request")
                break
            c = line[i]
            if quote == ord('"'):
                if (
                    c == ord("\\")
                    and i + 3 < n
                    and line[i + 1] == ord("x")
                    and (line[i + 2] in _HEX and line[i + 3] in _HEX)
                ):
                    current.append(int(line[i + 2 : i + 4], 16))
                    i += 3
                elif c == ord("\\") and i + 1 < n:
                    i += 1
                    current += _ESCAPES.get(line[i], bytes([line[i]]))
                elif c == quote:
                    if i + 1 < n and line[i + 1] not in b" \t\r\n\v\f":
                        raise ProtocolError("unbalanced quotes in request")
                    i += 1
                    break
                else:
                    current.append(c)
            elif quote == ord("'"):
                if c == ord("\\") and i + 1 < n and line[i + 1] == ord("'"):
                    i += 1
                    current.append(ord("'"))
                elif c == quote:
                    if i + 1 < n and line[i + 1] not in b" \t\r\n\v\f":
                        raise ProtocolError("unbalanced quotes in request")
                    i += 1
                    break
                else:
                    current.append(c)
            elif c in b" \t\r\n\v\f":
                break
            elif c in b"\"'":
                quote = c
            else:
                current.append(c)
            i += 1
        args.append(bytes(current))


# --- any value (replies) ------------------------------------------------------------------


@dataclass(frozen=True)
class ErrorValue:
    """A decoded `-ERR ...` / `!<len>` error reply."""

    message: str


@dataclass(frozen=True)
class PushValue:
    """A decoded RESP3 `>` push message."""

    items: list[Any]


Value = tuple[Any, int]
_AGGREGATES: Final = frozenset(b"*~>%")


def parse_value(buf: bytes | bytearray, pos: int = 0) -> Value | Incomplete:
    """Decode one RESP2/RESP3 value at `pos`: `(value, end)`, or INCOMPLETE.

    Bulk strings become bytes, simple strings str, errors ErrorValue, maps dict, sets set
    (list when unhashable), doubles float, null None, booleans bool, verbatim strings str.
    """
    end = buf.find(CRLF, pos)
    if end < 0:
        return INCOMPLETE
    kind, line, after = buf[pos], bytes(buf[pos + 1 : end]), end + 2
    if kind == ord("+"):
        return line.decode(), after
    if kind == ord("-"):
        return ErrorValue(line.decode()), after
    if kind in (ord(":"), ord("(")):
        return int(line), after
    if kind == ord(","):
        return float(line.decode()), after
    if kind == ord("_"):
        return None, after
    if kind == ord("#"):
        if line not in (b"t", b"f"):
            raise ProtocolError("invalid boolean")
        return line == b"t", after
    if kind in (ord("$"), ord("="), ord("!")):
        size = _parse_length(line, -1, 1 << 40, "bulk")
        if size < 0:
            return None, after
        if len(buf) < after + size + 2:
            return INCOMPLETE
        data = bytes(buf[after : after + size])
        if kind == ord("!"):
            return ErrorValue(data.decode()), after + size + 2
        if kind == ord("="):
            return data[4:].decode(), after + size + 2
        return data, after + size + 2
    if kind in _AGGREGATES:
        return _parse_aggregate(buf, kind, _parse_length(line, -1, 1 << 32, "multibulk"), after)
    raise ProtocolError(f"unknown type byte {chr(kind)!r}")


def _parse_aggregate(buf: bytes | bytearray, kind: int, count: int, pos: int) -> Value | Incomplete:
    if count < 0:
        return None, pos
    items: list[Any] = []
    for _ in range(count * 2 if kind == ord("%") else count):
        parsed = parse_value(buf, pos)
        if isinstance(parsed, Incomplete):
            return parsed
        item, pos = parsed
        items.append(item)
    if kind == ord("%"):
        return dict(zip(items[::2], items[1::2], strict=True)), pos
    if kind == ord("~"):
        try:
            return set(items), pos
        except TypeError:
            return items, pos
    if kind == ord(">"):
        return PushValue(items), pos
    return items, pos
