"""Reply encoding for RESP2 and RESP3, compared byte for byte."""

from __future__ import annotations

import pytest

from broker.resp.frame import parse_value
from broker.resp.reply import NULL_ARRAY, OK, Double, Error, SetReply, Simple, Verbatim, encode


@pytest.mark.parametrize(
    ("value", "resp2", "resp3"),
    [
        (OK, b"+OK\r\n", b"+OK\r\n"),
        (Error("ERR bad"), b"-ERR bad\r\n", b"-ERR bad\r\n"),
        (7, b":7\r\n", b":7\r\n"),
        (b"a\r\nb", b"$4\r\na\r\nb\r\n", b"$4\r\na\r\nb\r\n"),
        ("é", b"$2\r\n\xc3\xa9\r\n", b"$2\r\n\xc3\xa9\r\n"),
        (None, b"$-1\r\n", b"_\r\n"),
        (NULL_ARRAY, b"*-1\r\n", b"_\r\n"),
        ([1, b"x"], b"*2\r\n:1\r\n$1\r\nx\r\n", b"*2\r\n:1\r\n$1\r\nx\r\n"),
        ({"k": 1}, b"*2\r\n$1\r\nk\r\n:1\r\n", b"%1\r\n$1\r\nk\r\n:1\r\n"),
        (SetReply(["a"]), b"*1\r\n$1\r\na\r\n", b"~1\r\n$1\r\na\r\n"),
        (Double(1.5), b"$3\r\n1.5\r\n", b",1.5\r\n"),
        (Double(float("inf")), b"$3\r\ninf\r\n", b",inf\r\n"),
        (True, b":1\r\n", b"#t\r\n"),
        (Verbatim("hi"), b"$2\r\nhi\r\n", b"=6\r\ntxt:hi\r\n"),
    ],
)
def test_encoding_per_protocol(value: object, resp2: bytes, resp3: bytes) -> None:
    assert encode(value, 2) == resp2
    assert encode(value, 3) == resp3


def test_simple_strings_and_errors_never_carry_a_newline() -> None:
    assert encode(Simple("a\r\nb"), 2) == b"+a  b\r\n"
    assert encode(Error("ERR x\ny"), 3) == b"-ERR x y\r\n"


def test_nested_reply_round_trips_through_the_decoder() -> None:
    value = {"server": "redis", "modules": [], "ids": [[b"1-0", [b"f", b"v"]]]}
    decoded, _ = parse_value(encode(value, 3))  # type: ignore[misc]
    assert decoded == {b"server": b"redis", b"modules": [], b"ids": [[b"1-0", [b"f", b"v"]]]}


def test_unknown_value_type_is_a_programming_error() -> None:
    with pytest.raises(TypeError):
        encode(object(), 2)
