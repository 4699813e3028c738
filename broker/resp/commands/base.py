"""What every command shares: the Command shape, argument parsing, Redis's error wording.

A command class parses its arguments once (`parse`, pure, raises CommandError with the
exact Redis reply), runs against the engine (`apply`, async) and returns a reply value
(broker/resp/reply.py) that the connection encodes for the client's protocol.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn

from common.keys import InvalidTopicName, validate_topic
from common.limits import Limit

from ..reply import Simple

if TYPE_CHECKING:
    from ..session import Context


OK_REPLY = Simple("OK")
ENQUEUE = "enqueue"
POP = "pop"


class CommandError(Exception):
    """A request that gets an error reply; `text` is the whole reply (`ERR ...`)."""

    def __init__(self, text: str) -> None:
        self.text = text
        super().__init__(text)


def fail(text: str) -> NoReturn:
    raise CommandError(text)


SYNTAX_ERROR = "ERR syntax error"
NOT_INTEGER = "ERR value is not an integer or out of range"
NOT_FLOAT = "ERR value is not a valid float"


def wrong_arity(name: str) -> CommandError:
    return CommandError(f"ERR wrong number of arguments for '{name.lower()}' command")


def unknown_subcommand(container: str, sub: bytes) -> CommandError:
    shown = sub.decode("utf-8", "replace")[:128]
    return CommandError(f"ERR unknown subcommand '{shown}'. Try {container.upper()} HELP.")


class Command(ABC):
    """One Redis command. Class attributes describe it for dispatch and for COMMAND."""

    name: ClassVar[str]
    # Redis's arity: N = exactly N words including the name, -N = at least N.
    arity: ClassVar[int]
    summary: ClassVar[str] = ""
    group: ClassVar[str] = "generic"
    flags: ClassVar[tuple[str, ...]] = ()
    # Index of the first/last key argument (Redis's key spec; 0 = no keys, -1 = last arg).
    first_key: ClassVar[int] = 0
    last_key: ClassVar[int] = 0
    key_step: ClassVar[int] = 0
    # Allowed before AUTH when the broker requires a token.
    no_auth: ClassVar[bool] = False
    # Consecutive commands of one pipeline with the same non-None run are started
    # together (so their writes share group commits) and awaited in order before anything
    # else runs. Only commands that commute within a run share one: ENQUEUE (pushes, XADD,
    # XACK) or POP (list pops, which the connection merges per topic).
    run: ClassVar[str | None] = None
    # May wait for a long time: the connection watches for the client hanging up meanwhile.
    blocking: ClassVar[bool] = False
    # Between MULTI and EXEC the command is queued, not run (all but MULTI, EXEC, DISCARD,
    # QUIT and RESET, as in Redis).
    queued: ClassVar[bool] = True

    @classmethod
    def parse(cls, args: Args) -> Command:
        """Build the command from its arguments (the name already removed). The default
        is for commands without arguments; arity has already rejected extra words."""
        args.rest()
        return cls()

    @abstractmethod
    async def apply(self, ctx: Context) -> Any:
        """Run the command; return the reply value."""

    def begin(self, ctx: Context) -> asyncio.Future[Any] | None:
        """For a command of a run: join the pipeline's batch now, without a task of its
        own, and return the future of its reply; None to run `apply` as a task. What it
        raises becomes the command's error reply."""
        return None

    def without_blocking(self) -> Command:
        """This command as EXEC runs it: Redis never blocks inside a transaction, a
        blocking command acts as if its timeout had already expired."""
        if self.blocking:
            raise NotImplementedError(f"{self.name} must say how it runs without blocking")
        return self


def arity_ok(arity: int, words: int) -> bool:
    """Whether `words` (the name included) satisfies a Redis arity."""
    return words == arity if arity >= 0 else words >= -arity


class Container(Command):
    """A command whose first argument names a subcommand (CLIENT SETNAME, XGROUP CREATE)."""

    arity = -2
    subcommands: ClassVar[dict[str, type[Command]]] = {}

    @classmethod
    def parse(cls, args: Args) -> Command:
        word = args.next()
        sub = cls.subcommands.get(word.decode("latin-1").upper())
        if sub is None:
            raise unknown_subcommand(cls.name, word)
        if not arity_ok(sub.arity, len(args) + 2):
            raise wrong_arity(sub.name)
        args.name = sub.name
        return sub.parse(args)

    async def apply(self, ctx: Context) -> Any:  # pragma: no cover - parse never returns self
        raise NotImplementedError


@dataclass
class TopicCommand(Command):
    """A command whose only argument is one topic (LLEN, XLEN, ...)."""

    first_key, last_key, key_step = 1, 1, 1

    topic: str

    @classmethod
    def parse(cls, args: Args) -> Command:
        return cls(topic_name(args.next()))


class Args:
    """A cursor over a command's arguments with Redis's parsing and error wording."""

    def __init__(self, name: str, words: list[bytes]) -> None:
        self.name = name
        self.words = words
        self.pos = 0

    def __len__(self) -> int:
        return len(self.words) - self.pos

    def __bool__(self) -> bool:
        return self.pos < len(self.words)

    def next(self) -> bytes:
        if self.pos >= len(self.words):
            raise wrong_arity(self.name)
        word = self.words[self.pos]
        self.pos += 1
        return word

    def rest(self) -> list[bytes]:
        words = self.words[self.pos :]
        self.pos = len(self.words)
        return words

    def text(self) -> str:
        return self.next().decode("utf-8", "replace")

    def keyword(self) -> str:
        """The next word, upper-cased, for option matching."""
        return self.next().decode("latin-1").upper()

    def peek_keyword(self) -> str | None:
        if self.pos >= len(self.words):
            return None
        return self.words[self.pos].decode("latin-1").upper()

    def integer(self, error: str = NOT_INTEGER) -> int:
        return parse_int(self.next(), error)

    def number(self, error: str = NOT_FLOAT) -> float:
        return parse_float(self.next(), error)

    def end(self) -> None:
        if self.pos < len(self.words):
            raise CommandError(SYNTAX_ERROR)


def parse_int(word: bytes, error: str = NOT_INTEGER) -> int:
    text = word.decode("latin-1")
    digits = text[1:] if text.startswith("-") else text
    if not digits.isdigit() or not digits.isascii() or len(digits) > 19:
        raise CommandError(error)
    value = int(text)
    if not -(2**63) <= value < 2**63:
        raise CommandError(error)
    return value


def parse_float(word: bytes, error: str = NOT_FLOAT) -> float:
    try:
        value = float(word.decode("latin-1"))
    except ValueError:
        raise CommandError(error) from None
    if value != value:  # NaN
        raise CommandError(error)
    return value


def out_of_range(what: str, limit: Limit, unit: str = "") -> CommandError:
    """Redis's wording for a number outside its range (common.limits), with the range."""
    low, high = round(limit.low), round(limit.high)
    return CommandError(f"ERR {what} is out of range, must be from {low} to {high}{unit}")


def topic_name(word: bytes) -> str:
    """A key as a topic name, or the reply naming what a topic name may contain."""
    try:
        return validate_topic(word.decode("utf-8", "replace"))
    except InvalidTopicName as exc:
        raise CommandError(f"ERR {exc}") from None
