"""Every storage key is built here; no other module writes a key literal.

Layout (broker/DESIGN.md, "Storage layout"; checkpoints: the "format 2" spec):
    broker.json                                       the broker registry
    topics/<topic>.json                               the topic's pointer (format 3), or
                                                      its document / head (formats 1, 2)
    topics/<topic>/checkpoint-<generation>-<token>.json
                                                      an immutable checkpoint: the whole
                                                      topic as of a generation (12 digits)
    topics/<topic>/log/<generation>.json              one commit's changes (12 digits),
                                                      immutable, created create-only
    topics/<topic>/invalid-<time>-<token>.json        an invalid document set aside by
                                                      `reset-invalid` (time: UTC, basic
                                                      ISO 8601), kept for the operator

Checkpoints and log objects live one level down, so listing `topics/` and keeping what
`topic_from_key` accepts never mistakes one of them for a topic.
"""

from __future__ import annotations

import re

BROKER_KEY = "broker.json"
TOPICS_PREFIX = "topics/"
_TOPIC_SUFFIX = ".json"
_CHECKPOINT_STEM = "checkpoint-"
_SET_ASIDE_STEM = "invalid-"
_LOG_DIR = "log/"

# Only these characters can reach a key: no "/", no "..", no dots at all, so a topic
# name can neither escape topics/ nor collide with broker.json.
TOPIC_NAME_PATTERN = r"^[A-Za-z0-9_-]{1,128}$"
_TOPIC_NAME_RE = re.compile(TOPIC_NAME_PATTERN)
# The token is random per writer, so two brokers checkpointing the same generation never
# write the same key.
_CHECKPOINT_TOKEN_RE = re.compile(r"^[0-9a-f]{8}$")
_LOG_KEY_RE = re.compile(
    re.escape(TOPICS_PREFIX)
    + TOPIC_NAME_PATTERN.strip("^$")
    + "/"
    + re.escape(_LOG_DIR)
    + r"(\d{12,})"
    + re.escape(_TOPIC_SUFFIX)
)
_CHECKPOINT_KEY_RE = re.compile(
    re.escape(TOPICS_PREFIX)
    + TOPIC_NAME_PATTERN.strip("^$")
    + "/"
    + re.escape(_CHECKPOINT_STEM)
    + r"(\d{12,})-[0-9a-f]{8}"
    + re.escape(_TOPIC_SUFFIX)
)


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


def checkpoint_prefix(name: str) -> str:
    """The prefix under which a topic's checkpoints are stored."""
    return f"{TOPICS_PREFIX}{validate_topic(name)}/"


def checkpoint_key(name: str, generation: int, token: str) -> str:
    """The key of the checkpoint of topic `name` as of `generation`; `token` is 8 lowercase
    hex characters chosen at random by the writer."""
    if _CHECKPOINT_TOKEN_RE.fullmatch(token) is None:
        raise ValueError(f"checkpoint token {token!r}: use 8 lowercase hex characters")
    if generation < 0:
        raise ValueError(f"checkpoint generation {generation}: must be 0 or more")
    return f"{checkpoint_prefix(name)}{_CHECKPOINT_STEM}{generation:012d}-{token}{_TOPIC_SUFFIX}"


def checkpoints_prefix(name: str) -> str:
    """The prefix of every checkpoint key of topic `name` (and of nothing else)."""
    return f"{checkpoint_prefix(name)}{_CHECKPOINT_STEM}"


def set_aside_key(name: str, when: str, token: str) -> str:
    """Where an invalid document of topic `name` is kept when an operator resets the topic:
    beside its checkpoints, so that it is neither a topic nor a checkpoint. `when` is
    the UTC time as `20261201T230000Z`, `token` 8 random hex characters."""
    return f"{checkpoint_prefix(name)}{_SET_ASIDE_STEM}{when}-{token}{_TOPIC_SUFFIX}"


def write_check_key(token: str) -> str:
    """The object a broker creates and removes at start-up to prove storage is writable:
    under topics/ (every key stays under broker.json and topics/) but never a topic, as
    its name does not end in .json. With no token: the prefix of every such key."""
    return f"{TOPICS_PREFIX}write-check-{token}{'.tmp' if token else ''}"


def checkpoint_generation(key: str) -> int | None:
    """The generation in a checkpoint key, or None for keys that are not checkpoints."""
    match = _CHECKPOINT_KEY_RE.fullmatch(key)
    return int(match.group(1)) if match else None


def log_prefix(name: str) -> str:
    """The prefix under which a topic's log objects are stored."""
    return f"{checkpoint_prefix(name)}{_LOG_DIR}"


def log_key(name: str, generation: int) -> str:
    """The key of the log object that makes topic `name` generation `generation`."""
    if generation < 1:
        raise ValueError(f"log generation {generation}: must be 1 or more")
    return f"{log_prefix(name)}{generation:012d}{_TOPIC_SUFFIX}"


def log_generation(key: str) -> int | None:
    """The generation in a log object's key, or None for keys that are not log objects."""
    match = _LOG_KEY_RE.fullmatch(key)
    return int(match.group(1)) if match else None
