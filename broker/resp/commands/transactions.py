"""MULTI / EXEC / DISCARD, so clients that wrap pipelines in transactions (redis-py's
default `pipeline()`) work.

Between MULTI and EXEC the connection queues commands (replying QUEUED); EXEC runs them in
order, with the same write sharing as a pipeline, and replies with all their replies. The
queued commands are not isolated from other clients: another client's command may land
between two of them (there is no WATCH). A command refused while queuing (unknown,
wrong arity) makes EXEC answer EXECABORT, as in Redis; so does a transaction that queues
more than `Options.max_queued_commands` commands or `max_queued_bytes` argument bytes (it
is dropped when it passes the limit, so it cannot grow the broker's memory). As in Redis,
a blocking command (BLPOP, XREADGROUP BLOCK) does not block inside EXEC: it answers as if
its timeout had already expired.
"""

from __future__ import annotations

from typing import Any

from ..reply import Error
from ..session import Context
from .base import OK_REPLY, Command, fail
from .execute import run_in_order

EXECABORT = "EXECABORT Transaction discarded because of previous errors."


class Multi(Command):
    name = "multi"
    arity = 1
    summary = "Start queuing commands until EXEC (no isolation from other clients)."
    group = "transactions"
    queued = False

    async def apply(self, ctx: Context) -> Any:
        if ctx.session.transaction is not None:
            fail("ERR MULTI calls can not be nested")
        ctx.session.transaction = []
        ctx.session.transaction_failed = False
        ctx.session.transaction_bytes = 0
        return OK_REPLY


class Exec(Command):
    name = "exec"
    arity = 1
    summary = "Run the queued commands in order; reply: their replies."
    group = "transactions"
    queued = False

    async def apply(self, ctx: Context) -> Any:
        session = ctx.session
        queued, failed = session.transaction, session.transaction_failed
        session.transaction, session.transaction_failed = None, False
        if queued is None:
            fail("ERR EXEC without MULTI")
        if failed:
            return Error(EXECABORT)
        # Never block inside EXEC (Redis semantics): a BRPOP 0 here would hold the
        # connection (and its slot) with nobody watching for the client hanging up.
        return await run_in_order([command.without_blocking() for command in queued], ctx)


class Discard(Command):
    name = "discard"
    arity = 1
    summary = "Drop the queued commands."
    group = "transactions"
    queued = False

    async def apply(self, ctx: Context) -> Any:
        if ctx.session.transaction is None:
            fail("ERR DISCARD without MULTI")
        ctx.session.transaction, ctx.session.transaction_failed = None, False
        return OK_REPLY


COMMANDS: list[type[Command]] = [Multi, Exec, Discard]
