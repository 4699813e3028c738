"""Server introspection: INFO, COMMAND (COUNT, DOCS, INFO, LIST), CONFIG GET, DBSIZE."""

from __future__ import annotations

import os
import resource
import time
from dataclasses import dataclass
from typing import Any, ClassVar

from broker.errors import BrokerError
from common import __version__

from ..reply import OK, SetReply, Verbatim
from ..session import Context
from .base import Args, Command, Container, fail
from .connection import REDIS_VERSION

SINCE = "1.0.0"  # COMMAND DOCS wants a version; simplequeue has had every command since 0.1


def _section_server(ctx: Context) -> list[str]:
    uptime = int(time.time() - ctx.server.started)
    return [
        f"redis_version:{REDIS_VERSION}",
        "redis_mode:standalone",
        f"simplequeue_version:{__version__}",
        "arch_bits:64",
        "multiplexing_api:asyncio",
        f"process_id:{os.getpid()}",
        f"uptime_in_seconds:{uptime}",
        f"uptime_in_days:{uptime // 86400}",
    ]


def _section_clients(ctx: Context) -> list[str]:
    return [
        f"connected_clients:{len(ctx.server.sessions)}",
        f"maxclients:{ctx.server.options.max_connections}",
        f"blocked_clients:{ctx.server.blocked_clients}",
    ]


def _section_memory(ctx: Context) -> list[str]:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return [f"used_memory:{rss}", f"used_memory_peak:{rss}", "maxmemory:0"]


def _section_persistence(ctx: Context) -> list[str]:
    # Clients (redis-py's sentinel, some GUIs) wait while `loading:1`; state is always ready.
    return ["loading:0", "async_loading:0", "rdb_changes_since_last_save:0"]


def _section_stats(ctx: Context) -> list[str]:
    return [
        f"total_connections_received:{ctx.server.total_connections}",
        f"total_commands_processed:{ctx.server.total_commands}",
        f"rejected_connections:{ctx.server.cap.refused}",
    ]


def _section_replication(ctx: Context) -> list[str]:
    return ["role:master", "connected_slaves:0"]


SECTIONS = {
    "server": _section_server,
    "clients": _section_clients,
    "memory": _section_memory,
    "persistence": _section_persistence,
    "stats": _section_stats,
    "replication": _section_replication,
}


@dataclass
class Info(Command):
    name = "info"
    arity = -1
    summary = "Server information in Redis's INFO format (redis_version, clients, keyspace)."
    group = "server"

    sections: list[str]

    @classmethod
    def parse(cls, args: Args) -> Command:
        return cls([word.decode("latin-1").lower() for word in args.rest()])

    async def apply(self, ctx: Context) -> Any:
        wanted = set(self.sections) or {"default"}
        everything = bool(wanted & {"all", "everything", "default"})
        blocks: list[str] = []
        for section, lines in SECTIONS.items():
            if everything or section in wanted:
                blocks.append(
                    f"# {section.capitalize()}\r\n" + "".join(f"{x}\r\n" for x in lines(ctx))
                )
        if everything or "keyspace" in wanted:
            blocks.append("# Keyspace\r\n" + await _keyspace(ctx))
        return Verbatim("\r\n".join(blocks))


async def _keyspace(ctx: Context) -> str:
    try:
        count = len(await ctx.engine.topic_names())
    except BrokerError:
        return ""  # storage is down: INFO still answers, without the key count
    return f"db0:keys={count},expires=0,avg_ttl=0\r\n" if count else ""


class DbSize(Command):
    name = "dbsize"
    arity = 1
    summary = "The number of topics."
    group = "server"

    async def apply(self, ctx: Context) -> Any:
        return len(await ctx.engine.topic_names())


# --- COMMAND ------------------------------------------------------------------------------


def _top_level(ctx: Context) -> list[type[Command]]:
    return list(ctx.server.commands.values())


def _subcommands(cmd: type[Command]) -> list[type[Command]]:
    return list(cmd.subcommands.values()) if issubclass(cmd, Container) else []


def command_info(cmd: type[Command]) -> list[Any]:
    """One COMMAND entry, in Redis 7's ten-element shape."""
    return [
        cmd.name,
        cmd.arity,
        SetReply(list(cmd.flags)),
        cmd.first_key,
        cmd.last_key,
        cmd.key_step,
        SetReply([f"@{cmd.group}"]),
        [],
        [],
        [command_info(sub) for sub in _subcommands(cmd)],
    ]


def command_docs(cmd: type[Command]) -> dict[str, Any]:
    docs: dict[str, Any] = {"summary": cmd.summary, "since": SINCE, "group": cmd.group}
    subs = _subcommands(cmd)
    if subs:
        docs["subcommands"] = {sub.name: command_docs(sub) for sub in subs}
    return docs


def _lookup(ctx: Context, names: list[bytes]) -> list[type[Command] | None]:
    table = ctx.server.commands
    return [table.get(name.decode("latin-1").lower()) for name in names]


class CommandCount(Command):
    name = "command|count"
    arity = 2
    summary = "The number of supported commands."
    group = "server"

    async def apply(self, ctx: Context) -> Any:
        return len(ctx.server.commands)


@dataclass
class _ByName(Command):
    """COMMAND INFO / DOCS: about the named commands, or all of them."""

    arity = -2
    group = "server"

    names: list[bytes]

    @classmethod
    def parse(cls, args: Args) -> Command:
        return cls(args.rest())


class CommandInfo(_ByName):
    name = "command|info"
    summary = "Entries for the named commands (nil for unknown ones)."

    async def apply(self, ctx: Context) -> Any:
        if not self.names:
            return [command_info(cmd) for cmd in _top_level(ctx)]
        return [None if c is None else command_info(c) for c in _lookup(ctx, self.names)]


class CommandDocs(_ByName):
    name = "command|docs"
    summary = "Documentation of the named commands, or of all (redis-cli's interactive help)."

    async def apply(self, ctx: Context) -> Any:
        found = _top_level(ctx) if not self.names else _lookup(ctx, self.names)
        return {cmd.name: command_docs(cmd) for cmd in found if cmd is not None}


class CommandNames(Command):
    name = "command|list"
    arity = -2
    summary = "The names of the supported commands."
    group = "server"

    async def apply(self, ctx: Context) -> Any:
        return [cmd.name for cmd in _top_level(ctx)]


class CommandList(Container):
    """COMMAND: every command's entry; COMMAND COUNT|DOCS|INFO|LIST."""

    name = "command"
    arity = -1
    summary = "Describe the commands this broker supports."
    group = "server"
    subcommands: ClassVar[dict[str, type[Command]]] = {
        "COUNT": CommandCount,
        "INFO": CommandInfo,
        "DOCS": CommandDocs,
        "LIST": CommandNames,
    }

    @classmethod
    def parse(cls, args: Args) -> Command:
        return super().parse(args) if args else cls()

    async def apply(self, ctx: Context) -> Any:
        return [command_info(cmd) for cmd in _top_level(ctx)]


# --- CONFIG -------------------------------------------------------------------------------


class ConfigGet(Command):
    name = "config|get"
    arity = -3
    summary = "No settings are exposed: always an empty result."
    group = "server"

    async def apply(self, ctx: Context) -> Any:
        return {}


class ConfigSet(Command):
    name = "config|set"
    arity = -4
    summary = "Refused: the broker is configured with flags and SQ_* variables."
    group = "server"

    @classmethod
    def parse(cls, args: Args) -> Command:
        parameter = args.text()
        fail(f"ERR Unknown option or number of arguments for CONFIG SET - '{parameter}'")

    async def apply(self, ctx: Context) -> Any:  # pragma: no cover - parse always fails
        return OK


class ConfigResetstat(Command):
    name = "config|resetstat"
    arity = 2
    summary = "Accepted; statistics are not reset."
    group = "server"

    async def apply(self, ctx: Context) -> Any:
        return OK


class Config(Container):
    name = "config"
    summary = "CONFIG GET answers empty; settings are flags and SQ_* variables."
    group = "server"
    subcommands: ClassVar[dict[str, type[Command]]] = {
        "GET": ConfigGet,
        "SET": ConfigSet,
        "RESETSTAT": ConfigResetstat,
    }


COMMANDS: list[type[Command]] = [Info, DbSize, CommandList, Config]
