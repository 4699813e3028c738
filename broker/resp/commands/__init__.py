"""The dispatch table: command name → command class, and turning a request into a command.

Checks run in Redis's order: unknown command, wrong number of arguments, authentication,
then the command's own parsing. Each failure is an error reply, never an exception.
"""

from __future__ import annotations

from ..reply import Error
from ..session import Session
from . import connection, groups, keyspace, lists, server, streams, transactions
from .base import Args, Command, CommandError, arity_ok, wrong_arity

TABLE: dict[str, type[Command]] = {
    cmd.name: cmd
    for module in (connection, server, keyspace, lists, streams, groups, transactions)
    for cmd in module.COMMANDS
}

NOAUTH = "NOAUTH Authentication required."


def unknown_command(args: list[bytes]) -> Error:
    # Redis quotes the arguments until the list passes 128 characters.
    shown = ""
    for arg in args[1:]:
        if len(shown) >= 128:
            break
        shown += "'" + arg.decode("utf-8", "replace")[: 128 - len(shown)] + "' "
    name = args[0].decode("utf-8", "replace")[:128]
    return Error(f"ERR unknown command '{name}', with args beginning with: {shown}")


def parse_command(args: list[bytes], session: Session, auth_required: bool) -> Command | Error:
    """The command for one request (a non-empty argument list), or its error reply."""
    cls = TABLE.get(args[0].decode("latin-1").lower())
    if cls is None:
        return unknown_command(args)
    if not arity_ok(cls.arity, len(args)):
        return Error(wrong_arity(cls.name).text)
    if auth_required and not session.authenticated and not cls.no_auth:
        return Error(NOAUTH)
    try:
        return cls.parse(Args(cls.name, args[1:]))
    except CommandError as exc:
        return Error(exc.text)


__all__ = ["TABLE", "Command", "CommandError", "parse_command"]
