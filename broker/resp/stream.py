"""A client's byte stream → its requests, parsed in C where it can be, with no I/O.

`RequestStream` gives the same requests, at the same boundaries, and the same protocol
errors as calling `frame.parse_request` on the whole stream, whatever the stream and
however it is split into reads; it only does it faster. hiredis' C reader parses the
requests every client library sends, a multibulk array of bulk strings written the one
way (`*<n>\\r\\n` then `$<len>\\r\\n<bytes>\\r\\n` per element, lengths without sign or
leading zeros). A request is taken from hiredis only when the buffer holds exactly that
encoding of what it returned, and only within the connection's `Limits`; for anything
else (an inline command, an element that is not a bulk string, a nested array, a length
written another way, a request over a limit, or bytes hiredis refuses) `parse_request`
decides, with Redis's wording for errors, and hiredis restarts at the next request that
starts with `*`.

hiredis buffers whatever it is fed and checks no size, so while a request is incomplete
`parse_request` checks the lengths it declares so far (resuming where it stopped, so a
big request arriving in pieces is not parsed again from its start): no request is
buffered past a limit, as with the Python parser alone.
"""

from __future__ import annotations

from typing import Final, cast

import hiredis

from .frame import Incomplete, Limits, Partial, parse_request

STAR: Final = ord("*")
# After a request hiredis did not parse, it restarts with at most this many bytes, then
# more as it asks for them: a stream alternating inline and multibulk requests costs a
# bounded copy per request, not one of the whole buffer.
RESTART_FEED: Final = 4096


class RequestStream:
    """Feed it what the client sends; take requests with `next()`."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._pos = 0  # start of the next request in _buf
        self._partial: Partial | None = None  # parse_request's progress through it
        self._checked: Partial | None = None  # the same, checking sizes only (for hiredis)
        self._reader: hiredis.Reader | None = None  # fed _buf[_pos:_fed], when set
        self._fed = 0

    def feed(self, data: bytes) -> None:
        self._buf += data

    @property
    def buffered(self) -> int:
        """Bytes received and not yet taken as requests."""
        return len(self._buf) - self._pos

    def next(self, limits: Limits) -> list[bytes] | None:
        """The next complete request's arguments (empty for the requests Redis ignores:
        `*0`, `*-1`, an empty inline line), or None when more bytes are needed.
        Raises ProtocolError when the stream can never become a request."""
        buf, pos = self._buf, self._pos
        if pos >= len(buf):
            self._compact()
            return None
        # A request the Python parser has started is finished by it: hiredis would be
        # fed all of it again on every read.
        if buf[pos] == STAR and self._partial is None:
            args = self._from_hiredis(limits)
            if args is not None:
                return args
            if self._reader is not None:  # incomplete, sizes checked
                return None
        else:
            self._reader = None  # it was fed these bytes: restart past them
        parsed = parse_request(buf, self._pos, limits, self._partial)
        if isinstance(parsed, Incomplete):
            self._partial = parsed.partial
            self._compact()
            return None
        self._partial = None
        args, self._pos = parsed
        return args

    def _from_hiredis(self, limits: Limits) -> list[bytes] | None:
        """The request at _pos as hiredis parsed it, if it is the canonical encoding of
        what it returned and within `limits`. None with the reader kept: incomplete (its
        declared sizes checked); None with the reader dropped: parse_request decides."""
        buf = self._buf
        if self._reader is None:
            self._reader = hiredis.Reader()
            self._fed = self._pos
            end = min(len(buf), self._pos + RESTART_FEED)
            self._reader.feed(_as_bytes(buf), self._fed, end - self._fed)
            self._fed = end
        reader = self._reader
        while True:
            try:
                reply = reader.gets()
            except hiredis.ProtocolError:
                self._reader = None
                return None
            if reply is not False:
                break
            if self._fed < len(buf):
                reader.feed(_as_bytes(buf), self._fed, len(buf) - self._fed)
                self._fed = len(buf)
                continue
            # Incomplete for hiredis: the Python parser checks the sizes declared so far
            # (raising ProtocolError past a limit) and must agree that more is needed.
            parsed = parse_request(buf, self._pos, limits, self._checked, keep=False)
            if isinstance(parsed, Incomplete):
                self._checked = parsed.partial
                self._compact()
                return None
            self._reader = None
            self._checked = None
            return None
        self._checked = None  # the request is complete: parse_request starts it afresh
        if type(reply) is not list or len(reply) > limits.max_array_len:
            self._reader = None
            return None
        args: list[bytes] = reply
        parts = []
        for arg in args:
            if type(arg) is not bytes or len(arg) > limits.max_bulk_bytes:
                self._reader = None
                return None
            parts.append(b"$%d\r\n%s\r\n" % (len(arg), arg))
        encoded = b"*%d\r\n%s" % (len(args), b"".join(parts))
        if len(encoded) - 2 > limits.max_request_bytes or not buf.startswith(encoded, self._pos):
            self._reader = None
            return None
        self._pos += len(encoded)
        self._checked = None
        return args

    def _compact(self) -> None:
        """Drop the bytes of the requests already taken."""
        if self._pos:
            del self._buf[: self._pos]
            self._fed -= self._pos
            self._pos = 0


def _as_bytes(buf: bytearray) -> bytes:
    """Reader.feed copies from any buffer; its stub names only str and bytes."""
    return cast(bytes, buf)
