"""Every storage key is built here; no other module writes a key literal.

Layout (DESIGN.md, "Storage layout"):
    broker.json            the broker registry
    topics/<topic>.json    one document per topic
"""

from __future__ import annotations

import re

BROKER_KEY = "broker.json"
TOPICS_PREFIX = "topics/"
_TOPIC_SUFFIX = ".json"

# Only these characters can reach a key: no "/", no "..", no dots at all, so a topic
# name can neither escape topics/ nor collide with broker.json.
TOPIC_NAME_PATTERN = r"^[A-Za-z0-9_-]{1,128}$"
_TOPIC_NAME_RE = re.compile(TOPIC_NAME_PATTERN)


class InvalidTopicName(ValueError):
    """A topic name that does not match TOPIC_NAME_PATTERN."""

    def __init__(self, name: str) -> None:
        self.name = name
        shown = name if len(name) <= 40 else name[:40] + "..."
        super().__init__(f"invalid topic name {shown!r}: use 1-128 characters from A-Z a-z 0-9 _ -")


def validate_topic(name: str) -> str:
    """Return `name` unchanged if it is a valid topic name, else raise InvalidTopicName."""
    if not isinstance(name, str) or _TOPIC_NAME_RE.fullmatch(name) is None:
        raise InvalidTopicName(str(name))
    return name


def topic_key(name: str) -> str:
    """The storage key of a topic's document."""
    return f"{TOPICS_PREFIX}{validate_topic(name)}{_TOPIC_SUFFIX}"


def topic_from_key(key: str) -> str | None:
    """The topic a key belongs to, or None for keys that are not topic documents."""
    if not key.startswith(TOPICS_PREFIX) or not key.endswith(_TOPIC_SUFFIX):
        return None
    name = key[len(TOPICS_PREFIX) : -len(_TOPIC_SUFFIX)]
    return name if _TOPIC_NAME_RE.fullmatch(name) else None
