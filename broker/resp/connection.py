"""One client connection: buffered reads, pipelined execution, buffered replies.

Everything a read returned is parsed before anything is written back, so a pipeline is
answered with one write. Commands run with per-connection sequential semantics: replies
come in request order and every command sees the effects of the ones before it. Within
that, a *run* of consecutive commands that commute (pushes/XADD/XACK, or list pops; see
`Command.run`) is started together and awaited in order, so a pipeline's writes share
group commits instead of paying one storage write each.

Requests are parsed by `RequestStream` (hiredis, with the Python parser for what it does
not take). Memory per connection is bounded: the read buffer holds at most one incomplete
request (whose declared sizes have been checked) plus one read, and replies are flushed,
with backpressure, whenever they pass OUTPUT_FLUSH_BYTES.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from .batching import PipelineBatcher
from .commands import Command, parse_command
from .commands.execute import apply, error_reply
from .frame import ProtocolError
from .reply import Error, Simple, encode
from .session import Context, ServerState, Session
from .stream import RequestStream

QUEUED = Simple("QUEUED")
READ_BYTES = 64 * 1024
OUTPUT_FLUSH_BYTES = 256 * 1024
# While a blocking command waits, keep reading (to notice the client hanging up) but
# never buffer more than this.
MAX_READ_AHEAD = 1024 * 1024


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
        self.requests = RequestStream()
        self.out: list[bytes] = []
        self.out_bytes = 0
        self.inflight: list[asyncio.Future[Any]] = []
        self.inflight_run: str | None = None  # the run the in-flight commands belong to
        self.busy = False  # between reading a batch and flushing its replies
        # With --auth-token, a client has this long (loop time) to authenticate, so
        # strangers cannot hold connections open.
        self.auth_deadline = asyncio.get_running_loop().time() + server.options.auth_timeout

    async def run(self) -> None:
        try:
            while not self.session.closing:
                data = await self._read()
                if not data:
                    break
                self.busy = True
                self.requests.feed(data)
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

    async def _read(self) -> bytes:
        """The next bytes from the client; b"" when it hung up or its time to AUTH ran out."""
        if self.session.authenticated:
            return await self.reader.read(READ_BYTES)
        try:
            async with asyncio.timeout_at(self.auth_deadline):
                return await self.reader.read(READ_BYTES)
        except TimeoutError:
            seconds = self.server.options.auth_timeout
            self._emit(Error(f"ERR not authenticated within {seconds:g} seconds: closing"))
            await self._flush()
            return b""

    async def _process(self) -> None:
        """Run every complete request in the buffer."""
        while not self.session.closing:
            try:
                args = self.requests.next(self.server.limits_for(self.session))
            except ProtocolError as exc:
                # Redis answers the requests before the bad bytes, then the error, then
                # closes: the rest of the stream cannot be trusted to be aligned.
                await self._settle()
                self._emit(Error(f"ERR {exc}"))
                self.session.closing = True
                break
            if args is None:
                break
            if args:
                await self._handle(args)
        await self._settle()

    async def _handle(self, args: list[bytes]) -> None:
        self.server.total_commands += 1
        command = parse_command(args, self.session, self.server.auth_required)
        if self.session.transaction is not None and (isinstance(command, Error) or command.queued):
            self._queue_in_transaction(command, sum(map(len, args)))
            return
        if isinstance(command, Error):
            self._queue(command)
            return
        self.session.ran(command.name)
        if command.run is not None:
            if command.run != self.inflight_run:
                await self._settle()
                self.inflight_run = command.run
            self.inflight.append(self._start(command))
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
        return await apply(command, self.ctx)

    def _start(self, command: Command) -> asyncio.Future[Any]:
        """The future of a run command's reply: joined to the pipeline's batch directly
        when the command can (Command.begin), else its own task."""
        try:
            started = command.begin(self.ctx)
        except Exception as exc:
            started = asyncio.get_running_loop().create_future()
            started.set_result(error_reply(exc))
        return asyncio.ensure_future(self._apply(command)) if started is None else started

    async def _apply_watching(self, command: Command) -> Any:
        """Run a blocking command, cancelling it if the client hangs up meanwhile (so a
        BRPOP of a gone client does not take a job nobody will receive)."""
        self.server.blocked_clients += 1
        try:
            return await self._watch(asyncio.ensure_future(self._apply(command)))
        finally:
            self.server.blocked_clients -= 1

    async def _watch(self, task: asyncio.Future[Any]) -> Any:
        read: asyncio.Future[bytes] | None = None
        try:
            while not task.done():
                if self.requests.buffered >= MAX_READ_AHEAD:
                    await asyncio.wait([task])
                    break
                read = asyncio.ensure_future(self.reader.read(READ_BYTES))
                await asyncio.wait([task, read], return_when=asyncio.FIRST_COMPLETED)
                if not read.done():
                    break  # the command finished first
                data = read.result()
                read = None
                if not data:
                    self.session.closing = True
                    return Error("ERR connection closed")
                self.requests.feed(data)
            return task.result()
        finally:
            # Hung up or shut down: stop waiting, so no job is taken for nobody.
            for future in (task, read):
                if future is not None and not future.done():
                    future.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await future

    def _queue_in_transaction(self, command: Command | Error, size: int) -> None:
        """Between MULTI and EXEC: keep the command for EXEC, or remember it was refused.
        A transaction that outgrows the queue limits is dropped at once (its memory freed)
        and EXEC aborts, as after any refused command."""
        session = self.session
        assert session.transaction is not None
        if isinstance(command, Error):
            session.transaction_failed = True
            self._queue(command)
            return
        if session.transaction_failed:  # EXEC will abort: nothing to keep
            self._queue(QUEUED)
            return
        options = self.server.options
        session.transaction_bytes += size
        if (
            len(session.transaction) >= options.max_queued_commands
            or session.transaction_bytes > options.max_queued_bytes
        ):
            session.transaction.clear()
            session.transaction_failed = True
            self._queue(
                Error(
                    f"ERR MULTI queue is full (at most {options.max_queued_commands} commands "
                    f"and {options.max_queued_bytes} bytes): the transaction is discarded, "
                    "EXEC will abort"
                )
            )
            return
        session.transaction.append(command)
        self._queue(QUEUED)

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
        # LPUSH's length and RPOP's value, the same in RESP2 and RESP3: encoded here.
        kind = type(reply)
        if kind is int:
            data = b":%d\r\n" % reply
        elif kind is bytes:
            data = b"$%d\r\n%s\r\n" % (len(reply), reply)
        else:
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
