"""Property: no byte stream a client sends can crash the connection handler.

Whatever arrives (garbage, truncated frames, valid commands mixed with junk), every reply
the server sends is well-formed RESP, none is an internal error, the connection either
stays usable or is closed after a protocol error, and the listener keeps serving others.
"""

from __future__ import annotations

import asyncio
import contextlib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from broker.engine import Engine
from broker.resp import start_resp_server
from broker.resp.frame import Incomplete, parse_value
from common.store import MemoryStore
from tests.support.resp import encode_command

TOKENS = [
    b"*",
    b"$",
    b"\r\n",
    b"\n",
    b"-1",
    b"0",
    b"3",
    b"99999999999",
    b'"',
    b"'",
    b"\\x4",
    b"PING",
    b"LPUSH",
    b"RPOP",
    b"XADD",
    b"XREADGROUP",
    b"HELLO",
    b"3",
    b"q",
    b">",
    b"*",
]
VALID = [
    encode_command("PING"),
    encode_command("LPUSH", "fuzz", "x"),
    encode_command("RPOP", "fuzz"),
    encode_command("HELLO", "3"),
    encode_command("HELLO", "2"),
    encode_command("AUTH", "s3cret"),
    encode_command("XADD", "fuzz", "*", "f", "v"),
    encode_command("XREADGROUP", "GROUP", "g", "c", "STREAMS", "fuzz", ">"),
    encode_command("XPENDING", "fuzz", "g", "-", "+", "10"),
    b"PING\r\n",
]
chunks = st.one_of(
    st.binary(max_size=64),
    st.sampled_from(TOKENS),
    st.sampled_from(VALID),
)


async def _exchange(port: int, stream: list[bytes], quiet: float = 0.5) -> bytes:
    """Send `stream` and a PING; read until the PONG, or until the server stays `quiet`
    that long (a random stream may leave it waiting for the rest of a command)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for chunk in stream:
            writer.write(chunk)
        # A PING at the end tells "still serving" apart from "waiting for more bytes".
        writer.write(encode_command("PING"))
        await writer.drain()
    except ConnectionError:
        pass
    received = b""
    with contextlib.suppress(TimeoutError, ConnectionError):
        while b"PONG" not in received:
            chunk = await asyncio.wait_for(reader.read(65536), quiet)
            if not chunk:
                break
            received += chunk
    writer.close()
    with contextlib.suppress(Exception):
        await writer.wait_closed()
    return received


def _replies(data: bytes) -> list[object]:
    values: list[object] = []
    pos = 0
    while pos < len(data):
        parsed = parse_value(data, pos)
        assert not isinstance(parsed, Incomplete), f"truncated reply in {data!r}"
        value, pos = parsed
        values.append(value)
    return values


async def _scenario(stream: list[bytes], token: str | None) -> None:
    crashes: list[dict[str, object]] = []
    asyncio.get_running_loop().set_exception_handler(lambda _, context: crashes.append(context))
    engine = Engine(MemoryStore())
    await engine.start()
    server = await start_resp_server(engine, "127.0.0.1", 0, auth_token=token)
    try:
        received = await _exchange(server.port, stream)
        _replies(received)  # every reply is well-formed RESP
        assert b"internal error" not in received
        # The listener still serves a fresh connection.
        hello = [encode_command("AUTH", token)] if token else []
        assert b"+PONG\r\n" in await _exchange(server.port, hello, quiet=60)
        assert crashes == []  # no task of the listener died with an exception
    finally:
        server.close()
        await server.wait_closed()
        await engine.stop()


# database=None: no .hypothesis directory in the repository (pytest would warn about it).
@settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(st.lists(chunks, max_size=12), st.sampled_from([None, "s3cret"]))
def test_random_byte_streams_never_crash_the_connection_handler(
    stream: list[bytes], token: str | None
) -> None:
    # With a token, the stream mostly exercises the unauthenticated limits and NOAUTH.
    asyncio.run(_scenario(stream, token))
