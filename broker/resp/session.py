"""State a command can see: its connection's session and the listener's shared state."""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from broker.limits import (
    DEFAULT_CONNECTION_CAP,
    DEFAULT_IDLE_SECONDS,
    MAX_QUEUED_COMMANDS,
    ConnectionCap,
    max_batch_bytes,
)

from .frame import UNAUTHENTICATED, Limits

if TYPE_CHECKING:
    from broker.engine import Engine, Topic

    from .batching import PipelineBatcher
    from .commands.base import Command


@dataclass(frozen=True)
class Options:
    """The listener's settings (`start_resp_server(..., **options)`)."""

    auth_token: str | None = None
    max_payload_bytes: int = 1024 * 1024
    max_connections: int = DEFAULT_CONNECTION_CAP
    auth_timeout: float = DEFAULT_IDLE_SECONDS  # to AUTH (with a token), then closed
    max_queued_commands: int = MAX_QUEUED_COMMANDS  # per MULTI

    @property
    def max_queued_bytes(self) -> int:
        """Argument bytes one MULTI may queue: as much as one HTTP batch may carry."""
        return max_batch_bytes(self.max_payload_bytes)

    def limits(self) -> Limits:
        # Room above the payload limit so a slightly oversized value gets a readable
        # "payload too large" reply instead of a protocol error and a closed connection.
        return Limits(max_bulk_bytes=2 * self.max_payload_bytes + 64 * 1024)


@dataclass
class Session:
    """One client connection, as CLIENT INFO and the auth check see it."""

    id: int
    addr: str
    authenticated: bool
    protocol: int = 2
    name: str | None = None
    lib_name: str | None = None
    lib_ver: str | None = None
    closing: bool = False  # QUIT: close after this reply
    transaction: list[Command] | None = None  # commands queued since MULTI
    transaction_failed: bool = False  # a command was refused while queuing: EXEC aborts
    transaction_bytes: int = 0  # argument bytes queued since MULTI
    last_command: str = ""
    created: float = field(default_factory=time.monotonic)

    def describe(self) -> str:
        """One CLIENT LIST line."""
        age = int(time.monotonic() - self.created)
        return (
            f"id={self.id} addr={self.addr} name={self.name or ''} age={age} db=0 "
            f"resp={self.protocol} lib-name={self.lib_name or ''} lib-ver={self.lib_ver or ''} "
            f"cmd={self.last_command or 'NULL'}"
        )


class ServerState:
    """What all connections of one listener share."""

    def __init__(
        self, engine: Engine, options: Options, commands: dict[str, type[Command]]
    ) -> None:
        self.engine = engine
        self.options = options
        self.commands = commands  # the dispatch table, for COMMAND
        self.limits = options.limits()
        self.started = time.time()
        self.sessions: dict[int, Session] = {}
        self.total_connections = 0
        self.total_commands = 0
        self.cap = ConnectionCap(options.max_connections)  # counts the refused ones too
        self.blocked_clients = 0  # connections waiting in BRPOP / XREADGROUP BLOCK
        self._ids = itertools.count(1)

    @property
    def auth_required(self) -> bool:
        return self.options.auth_token is not None

    def new_session(self, addr: str) -> Session:
        session = Session(next(self._ids), addr, authenticated=not self.auth_required)
        self.sessions[session.id] = session
        self.total_connections += 1
        return session

    def end_session(self, session: Session) -> None:
        self.sessions.pop(session.id, None)

    def limits_for(self, session: Session) -> Limits:
        return self.limits if session.authenticated else UNAUTHENTICATED


@dataclass
class Context:
    """Passed to `Command.apply`."""

    server: ServerState
    session: Session
    batcher: PipelineBatcher

    @property
    def engine(self) -> Engine:
        return self.server.engine

    def topic(self, name: str) -> Topic:
        return self.server.engine.topic(name)
