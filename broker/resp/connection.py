"""One client connection: buffered reads, pipelined execution, buffered replies.

Everything a read returned is parsed before anything is written back, so a pipeline is
answered with one write. Commands run with per-connection sequential semantics: replies
come in request order and every command sees the effects of the ones before it. Within
that, a *run* of consecutive commands that commute (pushes/XADD/XACK, or list pops; see
`Command.run`) is started together and awaited in order, so a pipeline's writes share
group commits instead of paying one storage write each.

Memory per connection is bounded: the read buffer holds at most one incomplete request
(whose declared sizes the frame parser has checked) plus one read, and replies are
flushed, with backpressure, whenever they pass OUTPUT_FLUSH_BYTES.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from broker.errors import BrokerError, StorageUnavailable
from common.keys import InvalidTopicName

from .batching import PipelineBatcher
from .commands import Command, CommandError, parse_command
from .frame import Incomplete, ProtocolError, parse_request
from .reply import Error, encode
from .session import Context, ServerState, Session

log = logging.getLogger("simplequeue.resp")

READ_BYTES = 64 * 1024
OUTPUT_FLUSH_BYTES = 256 * 1024
# While a blocking command waits, keep reading (to notice the client hanging up) but
# never buffer more than this.
MAX_READ_AHEAD = 1024 * 1024


def error_reply(exc: Exception) -> Error:
    """The reply for an exception raised while a command ran."""
    if isinstance(exc, CommandError):
        return Error(exc.text)
    if isinstance(exc, StorageUnavailable):
        return Error(f"TRYAGAIN {exc.message}")
    if isinstance(exc, BrokerError):
        return Error(f"ERR {exc.message}")
    if isinstance(exc, InvalidTopicName):
        return Error(f"ERR {exc}")
    log.exception("command failed", exc_info=exc)
    return Error(f"ERR internal error ({type(exc).__name__}); see the broker log")


class Connection:
    def __init__(
        self,
        server: ServerState,
        session: Session,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        self.server = server
        self.session = session
        self.reader = reader
        self.writer = writer
        self.ctx = Context(server, session, PipelineBatcher())
        self.buf = bytearray()
        self.pos = 0
        self.out: list[bytes] = []
        self.out_bytes = 0
        self.inflight: list[asyncio.Future[Any]] = []
        self.inflight_run: str | None = None  # the run the in-flight commands belong to
        self.busy = False  # between reading a batch and flushing its replies

    async def run(self) -> None:
        try:
            while not self.session.closing:
                data = await self.reader.read(READ_BYTES)
                if not data:
                    break
                self.busy = True
                self.buf += data
                await self._process()
                await self._flush()
                self.busy = False
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            for future in self.inflight:
                future.cancel()
            self.writer.close()
            with contextlib.suppress(Exception):
                await self.writer.wait_closed()

    async def _process(self) -> None:
        """Run every complete request in the buffer."""
        while not self.session.closing:
            try:
                parsed = parse_request(self.buf, self.pos, self.server.limits_for(self.session))
            except ProtocolError as exc:
                # Redis answers the requests before the bad bytes, then the error, then
                # closes: the rest of the stream cannot be trusted to be aligned.
                await self._settle()
                self._emit(Error(f"ERR {exc}"))
                self.session.closing = True
                break
            if isinstance(parsed, Incomplete):
                break
            args, self.pos = parsed
            if args:
                await self._handle(args)
        await self._settle()
        del self.buf[: self.pos]
        self.pos = 0

    async def _handle(self, args: list[bytes]) -> None:
        self.server.total_commands += 1
        command = parse_command(args, self.session, self.server.auth_required)
        if isinstance(command, Error):
            self._queue(command)
            return
        self.session.last_command = command.name
        if command.run is not None:
            if command.run != self.inflight_run:
                await self._settle()
                self.inflight_run = command.run
            self.inflight.append(asyncio.ensure_future(self._apply(command)))
            return
        await self._settle()
        if command.blocking:
            await self._flush()  # the client sees earlier replies while this one waits
            self._emit(await self._apply_watching(command))
        else:
            self._emit(await self._apply(command))
        if self.out_bytes > OUTPUT_FLUSH_BYTES:
            await self._flush()

    async def _apply(self, command: Command) -> Any:
        try:
            return await command.apply(self.ctx)
        except Exception as exc:
            return error_reply(exc)

    async def _apply_watching(self, command: Command) -> Any:
        """Run a blocking command, cancelling it if the client hangs up meanwhile (so a
        BRPOP of a gone client does not take a job nobody will receive)."""
        task = asyncio.ensure_future(self._apply(command))
        while not task.done():
            if len(self.buf) - self.pos >= MAX_READ_AHEAD:
                await asyncio.wait([task])
                break
            read = asyncio.ensure_future(self.reader.read(READ_BYTES))
            await asyncio.wait([task, read], return_when=asyncio.FIRST_COMPLETED)
            if not read.done():
                read.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await read
                continue
            data = read.result()
            if not data:
                task.cancel()
                self.session.closing = True
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                return Error("ERR connection closed")
            self.buf += data
        return task.result()

    def _queue(self, reply: Any) -> None:
        """A reply that is ready now but must follow the in-flight ones."""
        if not self.inflight:
            self._emit(reply)
            return
        future = asyncio.get_running_loop().create_future()
        future.set_result(reply)
        self.inflight.append(future)

    async def _settle(self) -> None:
        """Await in-flight commands in request order and emit their replies."""
        while self.inflight:
            reply = await self.inflight[0]
            self.inflight.pop(0)
            self._emit(reply)
        self.inflight_run = None

    def _emit(self, reply: Any) -> None:
        data = encode(reply, self.session.protocol)
        self.out.append(data)
        self.out_bytes += len(data)

    async def _flush(self) -> None:
        if not self.out:
            return
        self.writer.write(b"".join(self.out))
        self.out.clear()
        self.out_bytes = 0
        await self.writer.drain()
