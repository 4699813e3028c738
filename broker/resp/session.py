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
    laddr: str = ""  # the listener's address, as the client connected to it
    fd: int = -1
    created: float = field(default_factory=time.monotonic)
    last_active: float = field(default_factory=time.monotonic)

    def ran(self, command: str) -> None:
        self.last_command = command
        self.last_active = time.monotonic()

    def describe(self) -> str:
        """One CLIENT LIST line with every field Redis 7 sends, in its order: clients
        (redis-py's client_info(), for one) read them by name. Buffer and memory figures
        the broker does not track are 0."""
        now = time.monotonic()
        queued = self.transaction
        return (
            f"id={self.id} addr={self.addr} laddr={self.laddr} fd={self.fd} "
            f"name={self.name or ''} age={int(now - self.created)} "
            f"idle={int(now - self.last_active)} flags={'x' if queued is not None else 'N'} "
            f"db=0 sub=0 psub=0 ssub=0 multi={-1 if queued is None else len(queued)} "
            f"qbuf=0 qbuf-free=0 argv-mem=0 multi-mem={self.transaction_bytes} rbs=0 rbp=0 "
            f"obl=0 oll=0 omem=0 tot-mem=0 events=r cmd={self.last_command or 'NULL'} "
            f"user=default redir=-1 resp={self.protocol} "
            f"lib-name={self.lib_name or ''} lib-ver={self.lib_ver or ''}"
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

    def new_session(self, addr: str, laddr: str = "", fd: int = -1) -> Session:
        session = Session(
            next(self._ids), addr, authenticated=not self.auth_required, laddr=laddr, fd=fd
        )
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
