"""Handshake and connection housekeeping: HELLO, AUTH, CLIENT, SELECT, PING, ECHO, QUIT, RESET.

Authentication checks only the password against `--auth-token`; any username is accepted
(clients send `default`), as with Redis's `requirepass`.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Any, ClassVar

from ..reply import OK, PONG, Simple, Verbatim
from ..session import Context, Session
from .base import Args, Command, CommandError, Container, fail, unknown_subcommand, wrong_arity

REDIS_VERSION = "7.2.0"  # what clients see as the server version (HELLO, INFO)

WRONGPASS = "WRONGPASS invalid username-password pair or user is disabled."
NO_PASSWORD = (
    "ERR AUTH <password> called without any password configured for the default user. "
    "Are you sure your configuration is correct?"
)
HELLO_NOAUTH = (
    "NOAUTH HELLO must be called with the client already authenticated, otherwise the "
    "HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and "
    "select the RESP protocol version at the same time"
)


def _password_ok(ctx: Context, password: bytes) -> bool:
    token = ctx.server.options.auth_token
    return token is None or hmac.compare_digest(password, token.encode())


def _valid_name(name: bytes) -> str:
    # Redis refuses names that would break the space-separated CLIENT LIST output.
    if any(byte < 33 or byte > 126 for byte in name):
        fail("ERR Client names cannot contain spaces, newlines or special characters.")
    return name.decode("ascii")


def hello_reply(session: Session) -> dict[str, Any]:
    return {
        "server": "redis",
        "version": REDIS_VERSION,
        "proto": session.protocol,
        "id": session.id,
        "mode": "standalone",
        "role": "master",
        "modules": [],
    }


@dataclass
class Hello(Command):
    name = "hello"
    arity = -1
    summary = "Handshake: choose RESP2 or RESP3, optionally authenticate and name the client."
    group = "connection"
    no_auth = True

    protocol: int | None
    password: bytes | None
    client_name: str | None

    @classmethod
    def parse(cls, args: Args) -> Command:
        protocol = password = client_name = None
        if args:
            protocol = args.integer("ERR Protocol version is not an integer or out of range")
        while args:
            option = args.keyword()
            if option == "AUTH" and len(args) >= 2:
                args.next()  # username: only the password is checked
                password = args.next()
            elif option == "SETNAME" and len(args) >= 1:
                client_name = _valid_name(args.next())
            else:
                fail(f"ERR Syntax error in HELLO option '{option.lower()}'")
        return cls(protocol, password, client_name)

    async def apply(self, ctx: Context) -> Any:
        if self.protocol is not None and self.protocol not in (2, 3):
            fail("NOPROTO unsupported protocol version")
        if self.password is not None:
            if not _password_ok(ctx, self.password):
                fail(WRONGPASS)
            ctx.session.authenticated = True
        elif not ctx.session.authenticated:
            fail(HELLO_NOAUTH)
        if self.protocol is not None:
            ctx.session.protocol = self.protocol
        if self.client_name is not None:
            ctx.session.name = self.client_name or None
        return hello_reply(ctx.session)


@dataclass
class Auth(Command):
    name = "auth"
    arity = -2
    summary = "Authenticate with the broker's --auth-token."
    group = "connection"
    no_auth = True

    password: bytes

    @classmethod
    def parse(cls, args: Args) -> Command:
        if len(args) > 2:
            raise CommandError("ERR syntax error")
        return cls(args.rest()[-1])

    async def apply(self, ctx: Context) -> Any:
        if ctx.server.options.auth_token is None:
            fail(NO_PASSWORD)
        if not _password_ok(ctx, self.password):
            fail(WRONGPASS)
        ctx.session.authenticated = True
        return OK


@dataclass
class Select(Command):
    name = "select"
    arity = 2
    summary = "Select database 0 (the only one: topics are the keys)."
    group = "connection"

    index: int

    @classmethod
    def parse(cls, args: Args) -> Command:
        return cls(args.integer())

    async def apply(self, ctx: Context) -> Any:
        if self.index != 0:
            fail("ERR DB index is out of range")
        return OK


@dataclass
class Ping(Command):
    name = "ping"
    arity = -1
    summary = "PONG, or the message given."
    group = "connection"

    message: bytes | None

    @classmethod
    def parse(cls, args: Args) -> Command:
        if len(args) > 1:
            raise wrong_arity(cls.name)
        return cls(args.next() if args else None)

    async def apply(self, ctx: Context) -> Any:
        return PONG if self.message is None else self.message


@dataclass
class Echo(Command):
    name = "echo"
    arity = 2
    summary = "Return the message."
    group = "connection"

    message: bytes

    @classmethod
    def parse(cls, args: Args) -> Command:
        return cls(args.next())

    async def apply(self, ctx: Context) -> Any:
        return self.message


class Quit(Command):
    name = "quit"
    arity = -1
    summary = "Close the connection after replying OK."
    group = "connection"
    no_auth = True
    queued = False

    async def apply(self, ctx: Context) -> Any:
        ctx.session.closing = True
        return OK


class Reset(Command):
    name = "reset"
    arity = 1
    summary = "Back to a fresh connection: RESP2, no name, authenticated only without a token."
    group = "connection"
    no_auth = True
    queued = False

    async def apply(self, ctx: Context) -> Any:
        session = ctx.session
        session.protocol = 2
        session.name = None
        session.transaction, session.transaction_failed = None, False
        session.authenticated = not ctx.server.auth_required
        return Simple("RESET")


# --- CLIENT -------------------------------------------------------------------------------


@dataclass
class ClientSetname(Command):
    name = "client|setname"
    arity = 3
    summary = "Name this connection."
    group = "connection"

    client_name: str

    @classmethod
    def parse(cls, args: Args) -> Command:
        return cls(_valid_name(args.next()))

    async def apply(self, ctx: Context) -> Any:
        ctx.session.name = self.client_name or None
        return OK


class ClientGetname(Command):
    name = "client|getname"
    arity = 2
    summary = "This connection's name, or nil."
    group = "connection"

    async def apply(self, ctx: Context) -> Any:
        return ctx.session.name


@dataclass
class ClientSetinfo(Command):
    name = "client|setinfo"
    arity = 4
    summary = "Record the client library's name or version (LIB-NAME / LIB-VER)."
    group = "connection"

    attribute: str
    value: str

    @classmethod
    def parse(cls, args: Args) -> Command:
        attribute = args.keyword()
        if attribute not in ("LIB-NAME", "LIB-VER"):
            fail(f"ERR Unrecognized option '{attribute.lower()}'")
        value = args.next()
        if any(byte < 33 or byte > 126 for byte in value):
            fail(f"ERR {attribute} cannot contain spaces, newlines or special characters.")
        return cls(attribute, value.decode("ascii"))

    async def apply(self, ctx: Context) -> Any:
        if self.attribute == "LIB-NAME":
            ctx.session.lib_name = self.value
        else:
            ctx.session.lib_ver = self.value
        return OK


class ClientId(Command):
    name = "client|id"
    arity = 2
    summary = "This connection's id."
    group = "connection"

    async def apply(self, ctx: Context) -> Any:
        return ctx.session.id


class ClientInfo(Command):
    name = "client|info"
    arity = 2
    summary = "This connection as one CLIENT LIST line."
    group = "connection"

    async def apply(self, ctx: Context) -> Any:
        return Verbatim(ctx.session.describe() + "\n")


class ClientList(Command):
    name = "client|list"
    arity = -2
    summary = "Every connection, one line each."
    group = "connection"

    async def apply(self, ctx: Context) -> Any:
        return Verbatim("".join(s.describe() + "\n" for s in ctx.server.sessions.values()))


class ClientNoop(Command):
    """CLIENT NO-EVICT / NO-TOUCH: memory-management hints that mean nothing here."""

    name = "client|no-evict"
    arity = 3
    summary = "Accepted for compatibility; has no effect."
    group = "connection"

    @classmethod
    def parse(cls, args: Args) -> Command:
        word = args.keyword()
        if word not in ("ON", "OFF"):
            fail("ERR syntax error")
        return cls()

    async def apply(self, ctx: Context) -> Any:
        return OK


class ClientNoTouch(ClientNoop):
    name = "client|no-touch"


class Client(Container):
    name = "client"
    summary = "Connection information and naming (SETNAME, GETNAME, SETINFO, ID, INFO, LIST)."
    group = "connection"
    subcommands: ClassVar[dict[str, type[Command]]] = {
        "SETNAME": ClientSetname,
        "GETNAME": ClientGetname,
        "SETINFO": ClientSetinfo,
        "ID": ClientId,
        "INFO": ClientInfo,
        "LIST": ClientList,
        "NO-EVICT": ClientNoop,
        "NO-TOUCH": ClientNoTouch,
    }


COMMANDS: list[type[Command]] = [Hello, Auth, Select, Ping, Echo, Quit, Reset, Client]
__all__ = ["COMMANDS", "REDIS_VERSION", "unknown_subcommand"]
