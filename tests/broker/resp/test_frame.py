"""Request parsing, byte by byte: every edge case is a tiny named test."""

from __future__ import annotations

import pytest

from broker.resp.frame import (
    INCOMPLETE,
    UNAUTHENTICATED,
    ErrorValue,
    Incomplete,
    Limits,
    ProtocolError,
    PushValue,
    parse_request,
    parse_value,
    split_inline,
)

LIMITS = Limits()


def parse(data: bytes, limits: Limits = LIMITS) -> object:
    return parse_request(data, 0, limits)


def incomplete(result: object) -> bool:
    return isinstance(result, Incomplete)


def protocol_error(data: bytes, limits: Limits = LIMITS) -> str:
    with pytest.raises(ProtocolError) as info:
        parse_request(data, 0, limits)
    return str(info.value)


def test_multibulk_request_parses_to_arguments_and_end() -> None:
    assert parse(b"*2\r\n$4\r\nECHO\r\n$2\r\nhi\r\n") == ([b"ECHO", b"hi"], 22)


def test_parsing_starts_at_the_given_position() -> None:
    data = b"*1\r\n$4\r\nPING\r\n*1\r\n$4\r\nPING\r\n"
    assert parse_request(data, 14, LIMITS) == ([b"PING"], 28)


def test_bulk_may_contain_crlf_and_binary() -> None:
    assert parse(b"*1\r\n$4\r\n\r\n\x00\xff\r\n") == ([b"\r\n\x00\xff"], 14)


def test_empty_bulk_is_an_empty_argument() -> None:
    assert parse(b"*2\r\n$4\r\nECHO\r\n$0\r\n\r\n") == ([b"ECHO", b""], 20)


@pytest.mark.parametrize("cut", range(1, 22))
def test_every_split_of_a_request_is_incomplete(cut: int) -> None:
    assert incomplete(parse(b"*2\r\n$4\r\nECHO\r\n$2\r\nhi\r\n"[:cut]))


def test_an_incomplete_request_resumes_where_it_stopped() -> None:
    data = b"*3\r\n$5\r\nLPUSH\r\n$1\r\nq\r\n$5\r\nhello\r\n"
    first = parse_request(data[:24], 0, LIMITS)
    assert isinstance(first, Incomplete) and first.partial is not None
    assert first.partial.args == [b"LPUSH", b"q"]
    # The resumed parse continues from the saved offset, even from a re-based buffer.
    assert parse_request(b"junk" + data, 4, LIMITS, first.partial) == (
        [b"LPUSH", b"q", b"hello"],
        4 + len(data),
    )


def test_a_huge_request_arriving_in_pieces_is_parsed_once() -> None:
    data = b"*100001\r\n$5\r\nLPUSH\r\n" + b"$1\r\nx\r\n" * 100_000
    partial = None
    for cut in range(65536, len(data), 65536):
        result = parse_request(data[:cut], 0, LIMITS, partial)
        assert isinstance(result, Incomplete)
        assert result.partial is not None
        partial = result.partial
    assert partial is not None and len(partial.args) > 90_000  # resumed, not restarted
    result = parse_request(data, 0, LIMITS, partial)
    assert not isinstance(result, Incomplete) and len(result[0]) == 100_001


def test_empty_buffer_is_incomplete() -> None:
    assert parse(b"") is INCOMPLETE


def test_zero_and_null_multibulk_are_skipped_as_empty_requests() -> None:
    assert parse(b"*0\r\n") == ([], 4)
    assert parse(b"*-1\r\n") == ([], 5)


def test_negative_multibulk_length_below_minus_one_is_refused() -> None:
    assert protocol_error(b"*-2\r\n") == "Protocol error: invalid multibulk length"


def test_non_numeric_multibulk_length_is_refused() -> None:
    assert protocol_error(b"*x\r\n") == "Protocol error: invalid multibulk length"
    assert protocol_error(b"*+1\r\n") == "Protocol error: invalid multibulk length"
    assert protocol_error(b"* 1\r\n") == "Protocol error: invalid multibulk length"


def test_huge_multibulk_length_is_refused_before_buffering() -> None:
    assert protocol_error(b"*99999999999\r\n") == "Protocol error: invalid multibulk length"


def test_huge_bulk_length_is_refused_before_buffering() -> None:
    assert protocol_error(b"*1\r\n$999999999999\r\n") == "Protocol error: invalid bulk length"


def test_negative_bulk_length_is_refused() -> None:
    assert protocol_error(b"*1\r\n$-1\r\n") == "Protocol error: invalid bulk length"


def test_element_that_is_not_a_bulk_is_refused() -> None:
    assert protocol_error(b"*1\r\n:1\r\n") == "Protocol error: expected '$', got ':'"


def test_unprintable_type_byte_is_shown_escaped() -> None:
    assert protocol_error(b"*1\r\n\x00") == "Protocol error: expected '$', got '\\x00'"


def test_bulk_not_followed_by_crlf_is_refused() -> None:
    assert protocol_error(b"*1\r\n$2\r\nhiXY") == "Protocol error: expected CRLF after bulk string"


def test_header_line_without_newline_past_the_limit_is_refused() -> None:
    limits = Limits(max_inline_bytes=16)
    assert protocol_error(b"*" + b"1" * 20, limits) == "Protocol error: too big mbulk count string"
    assert protocol_error(b"*1\r\n$" + b"1" * 20, limits) == (
        "Protocol error: too big bulk count string"
    )


def test_request_whose_declared_total_passes_the_limit_is_refused() -> None:
    limits = Limits(max_bulk_bytes=100, max_request_bytes=150)
    data = b"*3\r\n$100\r\n" + b"x" * 100 + b"\r\n$100\r\n"
    assert protocol_error(data, limits) == "Protocol error: too big request"


def test_unauthenticated_limits_refuse_big_requests() -> None:
    many = b"*11\r\n" + b"$1\r\na\r\n" * 11
    assert protocol_error(many, UNAUTHENTICATED) == "Protocol error: invalid multibulk length"
    big = b"*1\r\n$16385\r\n"
    assert protocol_error(big, UNAUTHENTICATED) == "Protocol error: invalid bulk length"


def test_inline_command_splits_on_whitespace() -> None:
    assert parse(b"SET  a   b\r\n") == ([b"SET", b"a", b"b"], 12)


def test_inline_command_accepts_bare_newline() -> None:
    assert parse(b"PING\n") == ([b"PING"], 5)


def test_inline_without_newline_is_incomplete() -> None:
    assert parse(b"PING") is INCOMPLETE


def test_empty_inline_line_is_an_empty_request() -> None:
    assert parse(b"\r\n") == ([], 2)


def test_too_long_inline_request_is_refused() -> None:
    limits = Limits(max_inline_bytes=8)
    assert protocol_error(b"PING" * 10, limits) == "Protocol error: too big inline request"


def test_inline_double_quotes_and_escapes() -> None:
    assert split_inline(b'LPUSH q "a b" "\\x41\\n\\"" \'it\\\'s\'') == [
        b"LPUSH",
        b"q",
        b"a b",
        b'A\n"',
        b"it's",
    ]


def test_inline_empty_quoted_argument() -> None:
    assert split_inline(b'ECHO ""') == [b"ECHO", b""]


def test_inline_unbalanced_quotes_are_refused() -> None:
    with pytest.raises(ProtocolError, match="unbalanced quotes"):
        split_inline(b'ECHO "abc')


def test_inline_closing_quote_must_be_followed_by_space() -> None:
    with pytest.raises(ProtocolError, match="unbalanced quotes"):
        split_inline(b'ECHO "a"b')


def test_parse_value_decodes_resp2_and_resp3_types() -> None:
    data = (
        b"*9\r\n+OK\r\n-ERR no\r\n:5\r\n$3\r\nabc\r\n$-1\r\n_\r\n,1.5\r\n#t\r\n"
        b"%1\r\n+k\r\n~1\r\n:1\r\n"
    )
    value, end = parse_value(data)  # type: ignore[misc]
    assert value == ["OK", ErrorValue("ERR no"), 5, b"abc", None, None, 1.5, True, {"k": {1}}]
    assert end == len(data)


def test_parse_value_decodes_verbatim_push_and_null_array() -> None:
    assert parse_value(b"=8\r\ntxt:abcd\r\n") == ("abcd", 14)
    assert parse_value(b">1\r\n+x\r\n") == (PushValue(["x"]), 8)
    assert parse_value(b"*-1\r\n") == (None, 5)


def test_parse_value_reports_incomplete_aggregates() -> None:
    assert parse_value(b"*2\r\n:1\r\n") is INCOMPLETE
    assert parse_value(b"$5\r\nab") is INCOMPLETE
