"""The keyspace is the set of topics: DEL (a purge), EXISTS, TYPE, KEYS, SCAN.

A key exists once its topic has a document in storage (its first write). Every topic can
be used both as a list and as a stream; TYPE reports `list`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from common.keys import InvalidTopicName, validate_topic

from ..reply import Simple
from ..session import Context
from .base import Args, Command, fail

TOPIC_TYPE = "list"
SCAN_TYPES = frozenset({"list", "stream"})  # SCAN ... TYPE t finds topics for either


def glob_to_regex(pattern: str) -> re.Pattern[str]:
    """Redis's glob (`*`, `?`, `[abc]`, `[^a-z]`, `\\x`) as an anchored regex."""
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "*":
            out.append(".*")
        elif c == "?":
            out.append(".")
        elif c == "\\" and i + 1 < n:
            i += 1
            out.append(re.escape(pattern[i]))
        elif c == "[":
            end = pattern.find("]", i + 1)
            if end < 0:
                out.append(re.escape(c))
            else:
                body = pattern[i + 1 : end]
                negate = body.startswith("^")
                body = body[1:] if negate else body
                chars = "".join(
                    "-" if ch == "-" and 0 < k < len(body) - 1 else re.escape(ch)
                    for k, ch in enumerate(body)
                )
                out.append(f"[{'^' if negate else ''}{chars}]" if chars else "(?!)")
                i = end
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out), re.DOTALL)


async def existing(ctx: Context, name: str) -> bool:
    try:
        topic = ctx.engine.topic(validate_topic(name))
    except InvalidTopicName:
        return False
    await topic.load()
    return topic.document() is not None


@dataclass
class KeysCommand(Command):
    """A command over any number of keys: `NAME key [key ...]`."""

    arity = -2
    first_key, last_key, key_step = 1, -1, 1

    keys: list[str]

    @classmethod
    def parse(cls, args: Args) -> Command:
        return cls([word.decode("utf-8", "replace") for word in args.rest()])


class Del(KeysCommand):
    name = "del"
    summary = (
        "Purge topics: remove every job of each, in one commit per topic (the topic keeps "
        "its counters, `purged` counts the jobs). Reply: how many of the topics had jobs."
    )
    group = "generic"
    flags = ("write",)

    async def apply(self, ctx: Context) -> Any:
        purged = 0
        for key in self.keys:
            if await existing(ctx, key):
                purged += await ctx.engine.topic(key).purge() > 0
        return purged


class Unlink(Del):
    name = "unlink"


class Exists(KeysCommand):
    name = "exists"
    summary = "How many of the given topics exist (have been written)."
    group = "generic"

    async def apply(self, ctx: Context) -> Any:
        return sum([await existing(ctx, key) for key in self.keys])


@dataclass
class Type(Command):
    name = "type"
    arity = 2
    summary = "`stream` for a topic used as one (XADD, MKSTREAM), `list` for others, else `none`."
    group = "generic"
    first_key, last_key, key_step = 1, 1, 1

    key: str

    @classmethod
    def parse(cls, args: Args) -> Command:
        return cls(args.text())

    async def apply(self, ctx: Context) -> Any:
        if not await existing(ctx, self.key):
            return Simple("none")
        state = ctx.engine.topic(self.key).current_state()
        return Simple("stream" if state is not None and state.stream else TOPIC_TYPE)


@dataclass
class Keys(Command):
    name = "keys"
    arity = 2
    summary = "Topics whose names match a glob pattern."
    group = "generic"

    pattern: str

    @classmethod
    def parse(cls, args: Args) -> Command:
        return cls(args.text())

    async def apply(self, ctx: Context) -> Any:
        regex = glob_to_regex(self.pattern)
        return [name for name in await ctx.engine.topic_names() if regex.fullmatch(name)]


@dataclass
class Scan(Command):
    """The cursor is the position in the sorted topic list."""

    name = "scan"
    arity = -2
    summary = "Iterate over topics: SCAN cursor [MATCH pattern] [COUNT n] [TYPE list|stream]."
    group = "generic"

    cursor: int
    pattern: str | None
    count: int
    type: str | None

    @classmethod
    def parse(cls, args: Args) -> Command:
        cursor = args.integer("ERR invalid cursor")
        pattern: str | None = None
        count = 10
        kind: str | None = None
        while args:
            option = args.keyword()
            if option == "MATCH" and args:
                pattern = args.text()
            elif option == "COUNT" and args:
                count = args.integer()
                if count < 1:
                    fail("ERR syntax error")
            elif option == "TYPE" and args:
                kind = args.text().lower()
            else:
                fail("ERR syntax error")
        if cursor < 0:
            fail("ERR invalid cursor")
        return cls(cursor, pattern, count, kind)

    async def apply(self, ctx: Context) -> Any:
        names = await ctx.engine.topic_names()
        page = names[self.cursor : self.cursor + self.count]
        following = self.cursor + self.count
        next_cursor = str(following) if following < len(names) else "0"
        if self.type is not None and self.type not in SCAN_TYPES:
            page = []
        if self.pattern is not None:
            regex = glob_to_regex(self.pattern)
            page = [name for name in page if regex.fullmatch(name)]
        return [next_cursor, page]


COMMANDS: list[type[Command]] = [Del, Unlink, Exists, Type, Keys, Scan]
