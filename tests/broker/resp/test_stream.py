"""RequestStream (hiredis with the Python parser behind it) answers exactly as the Python
parser does on the whole stream: the same requests, the same protocol error, however the
bytes are split into reads."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broker.resp import stream as stream_module
from broker.resp.frame import UNAUTHENTICATED, Incomplete, Limits, ProtocolError, parse_request
from broker.resp.stream import RequestStream
from tests.support.resp import encode_command

LIMITS = Limits()
TINY = Limits(max_bulk_bytes=8, max_array_len=3, max_request_bytes=40, max_inline_bytes=16)

Outcome = tuple[list[list[bytes]], str | None]


def reference(data: bytes, limits: Limits) -> Outcome:
    """Requests and the protocol error (if any) of parse_request over the whole stream."""
    requests: list[list[bytes]] = []
    pos = 0
    try:
        while True:
            parsed = parse_request(data, pos, limits)
            if isinstance(parsed, Incomplete):
                return requests, None
            args, pos = parsed
            requests.append(args)
    except ProtocolError as exc:
        return requests, str(exc)


def streamed(chunks: list[bytes], limits: Limits) -> Outcome:
    requests: list[list[bytes]] = []
    stream = RequestStream()
    try:
        for chunk in chunks:
            stream.feed(chunk)
            while (args := stream.next(limits)) is not None:
                requests.append(args)
    except ProtocolError as exc:
        return requests, str(exc)
    return requests, None


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


PIECES = [
    encode_command("PING"),
    encode_command("LPUSH", "q", "x" * 20),
    encode_command("RPOP", "q"),
    encode_command("SET", "k", ""),
    encode_command("ECHO", "a\r\nb"),
    b"*0\r\n",
    b"*-1\r\n",
    b"PING\r\n",
    b"ECHO 'a b'\n",
    b"\r\n",
    b"*1\r\n+PING\r\n",  # a simple string where a bulk string must be
    b"*1\r\n:1\r\n",
    b"*2\r\n*1\r\n$1\r\na\r\n$1\r\nb\r\n",  # nested
    b"*1\r\n$04\r\nPING\r\n",  # a length with a leading zero (the Python parser takes it)
    b"*01\r\n$4\r\nPING\r\n",
    b"*1\r\n$-1\r\n",
    b"*1\r\n$+4\r\nPING\r\n",
    b"*1\r\n,1.5\r\n",
    b"*1\r\n%1\r\n$1\r\na\r\n$1\r\nb\r\n",
    b"*1\r\n_\r\n",
    b"*1\r\n$4\r\nPINGxx",
    b"*2\r\n$3\r\nabc\r\n",
    b"*",
    b"$",
    b"*99999999999\r\n",
    b"*1\r\n$99999999999\r\n",
    b"*4\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n",  # over TINY's array length
    b"*1\r\n$9\r\n123456789\r\n",  # over TINY's bulk size
]


@settings(max_examples=400, deadline=None)
@given(
    pieces=st.lists(st.one_of(st.sampled_from(PIECES), st.binary(max_size=24)), max_size=12),
    cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=6),
    limits=st.sampled_from([LIMITS, UNAUTHENTICATED, TINY]),
)
def test_any_stream_split_any_way_parses_as_the_python_parser_does(
    pieces: list[bytes], cuts: list[int], limits: Limits
) -> None:
    data = b"".join(pieces)
    assert streamed(split(data, cuts), limits) == reference(data, limits)


@pytest.mark.parametrize("header", [b"*1", b"$4"])
def test_a_line_of_the_longest_length_split_inside_its_crlf_is_not_too_big(header: bytes) -> None:
    """The line before CRLF is exactly max_inline_bytes long; the "\r" arrives first."""
    line = header + b"\x00" * (TINY.max_inline_bytes - len(header))
    data = b"*1\r\n" + line + b"\r\n" if header.startswith(b"$") else line + b"\r\n"
    cut = len(data) - 1  # between "\r" and "\n"
    whole = reference(data, TINY)
    assert streamed([data[:cut], data[cut:]], TINY) == whole
    assert whole[1] is not None and "invalid" in whole[1]  # not "too big"


def test_a_canonical_pipeline_is_parsed_by_hiredis_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refuse(*args: object, **kwargs: object) -> object:
        raise AssertionError("parse_request was called")

    monkeypatch.setattr(stream_module, "parse_request", refuse)
    commands = [encode_command("LPUSH", "q", str(i)) for i in range(100)]
    assert streamed([b"".join(commands)], LIMITS) == (
        [[b"LPUSH", b"q", str(i).encode()] for i in range(100)],
        None,
    )


def test_declared_sizes_are_checked_before_the_bytes_arrive() -> None:
    stream = RequestStream()
    stream.feed(b"*1\r\n$16385\r\n" + b"x" * 100)
    with pytest.raises(ProtocolError, match="invalid bulk length"):
        stream.next(UNAUTHENTICATED)


def test_a_request_over_the_total_limit_is_refused_while_it_arrives() -> None:
    limits = Limits(max_bulk_bytes=1000, max_request_bytes=1500)
    stream = RequestStream()
    data = encode_command("LPUSH", "q", "x" * 900, "y" * 900)
    stream.feed(data[:500])
    assert stream.next(limits) is None
    stream.feed(data[500:950])  # the fourth element's header: 900 more bytes declared
    with pytest.raises(ProtocolError, match="too big request"):
        stream.next(limits)


def test_a_big_request_in_pieces_is_checked_without_copying_its_arguments() -> None:
    data = encode_command("LPUSH", "q", *["v" * 100] * 1000)
    stream = RequestStream()
    for start in range(0, len(data) - 1, 1000):
        stream.feed(data[start : start + 1000])
        if start + 1000 < len(data):
            assert stream.next(LIMITS) is None
            assert stream._checked is not None and stream._checked.args == []
    assert stream.next(LIMITS) == [b"LPUSH", b"q", *[b"v" * 100] * 1000]
    assert stream.buffered == 0
