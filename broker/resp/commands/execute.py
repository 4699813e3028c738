"""Running commands: exceptions become error replies, and a list of commands runs in
order with runs of commuting writes started together (Command.run)."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from broker.errors import BrokerError, DocumentUnusable, StorageUnavailable
from common.keys import InvalidTopicName

from ..reply import Error
from .base import Command, CommandError

if TYPE_CHECKING:
    from ..session import Context

log = logging.getLogger("simplequeue.resp")


def error_reply(exc: Exception) -> Error:
    """The reply for an exception raised while a command ran."""
    if isinstance(exc, CommandError):
        return Error(exc.text)
    if isinstance(exc, StorageUnavailable) and not isinstance(exc, DocumentUnusable):
        return Error(f"TRYAGAIN {exc.message}")  # a retry may succeed; not for a bad document
    if isinstance(exc, BrokerError):
        return Error(f"{exc.resp_prefix} {exc.message}")
    if isinstance(exc, InvalidTopicName):
        return Error(f"ERR {exc}")
    log.exception("command failed", exc_info=exc)
    return Error(f"ERR internal error ({type(exc).__name__}); see the broker log")


async def apply(command: Command, ctx: Context) -> Any:
    """The command's reply, or the error reply for what it raised."""
    try:
        return await command.apply(ctx)
    except Exception as exc:
        return error_reply(exc)


async def run_in_order(commands: list[Command], ctx: Context) -> list[Any]:
    """Every command's reply, in order, each command seeing the effects of those before it
    (EXEC). Consecutive commands of one run start together to share group commits."""
    replies: list[Any] = []
    started: list[asyncio.Future[Any]] = []
    current: str | None = None
    for command in commands:
        if command.run is None or command.run != current:
            replies += [await future for future in started]
            started = []
            current = command.run
        if command.run is None:
            replies.append(await apply(command, ctx))
        else:
            started.append(asyncio.ensure_future(apply(command, ctx)))
    replies += [await future for future in started]
    return replies
