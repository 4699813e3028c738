"""The range of every number a client may send, and the longest id: written once.

The HTTP request models (broker/http/requests.py), the engine (broker/topic.py), the Redis
commands and the command-line client all check against these, and README's tables list
them. A value outside its range is refused with a message naming the range; nothing is
clamped silently. Without these bounds a delay of 1e15 seconds would store a timestamp no
datetime can read back (year 31690765).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

#: The longest job id (and worker id), in characters.
MAX_ID_CHARS = 256

YEAR_SECONDS = 365 * 24 * 3600

#: The latest time a stored job may carry (the end of year 9999, the last a datetime and
#: ISO 8601 can hold), in milliseconds since the epoch. A stored time beyond it (written
#: by versions before these limits) is read as this time.
LATEST_TIME_MS = 253_402_300_799_999
LATEST_TIME_TEXT = "9999-12-31T23:59:59.999Z"
_YEAR_OF_FIVE_DIGITS = re.compile(
    r"\+?\d{5,}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)"
)


def beyond_latest_time(value: object) -> bool:
    """Whether a stored time is an ISO 8601 time after the year 9999 (what versions before
    these limits stored for a delay of 1e15 seconds: `31690765-06-04T...`)."""
    return isinstance(value, str) and _YEAR_OF_FIVE_DIGITS.fullmatch(value) is not None


class OutOfRange(ValueError):
    """A number that is not in its documented range; the message says which range."""


@dataclass(frozen=True)
class Limit:
    """An inclusive range of integers or of seconds (any finite number)."""

    low: float
    high: float
    integer: bool = False

    def describe(self) -> str:
        """`a number of seconds from 0 to 300`, `an integer from 1 to 1000`."""
        kind = "an integer" if self.integer else "a number of seconds"
        return f"{kind} from {_number(self.low)} to {_number(self.high)}"

    def check(self, name: str, value: Any, *, shown: str | None = None) -> Any:
        """The value if it is in range; OutOfRange naming `name` and the range otherwise.
        Booleans are not numbers here, nor are NaN and the infinities."""
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or (self.integer and not isinstance(value, int))
            or not math.isfinite(value)
            or not self.low <= value <= self.high
        ):
            raise OutOfRange(f"{name} must be {self.describe()}, got {shown or _shown(value)}")
        return value

    def parse(self, name: str, text: str) -> Any:
        """A number written as text (query strings, command lines), checked."""
        try:
            value: Any = int(text) if self.integer else float(text)
        except ValueError:
            value = None
        return self.check(name, value, shown=_shown(text))


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


#: Enqueue and nack `delay_seconds` (CLI `--delay`, `--nack-delay`).
DELAY_SECONDS = Limit(0, YEAR_SECONDS)
#: A long poll: HTTP claim `wait_seconds`, the `document` route's `?wait=`, CLI `--wait`.
WAIT_SECONDS = Limit(0, 300)
#: A Redis blocking timeout: BLPOP/BRPOP `timeout` (seconds) and XREADGROUP `BLOCK`
#: (milliseconds, so up to 1000 times this); 0 blocks forever.
BLOCK_SECONDS = Limit(0, YEAR_SECONDS)
#: Jobs one claim or pop takes: HTTP claim `count`, LPOP/RPOP count (0 there: none),
#: XREADGROUP and XAUTOCLAIM `COUNT`.
CLAIM_COUNT = Limit(1, 1000, integer=True)
#: Jobs one listing returns: HTTP `?limit=`, CLI `jobs --limit`.
PAGE_LIMIT = Limit(1, 1000, integer=True)
#: Jobs one HTTP batch enqueues.
BATCH_JOBS = Limit(1, 10_000, integer=True)
#: Broker flags: `--visibility-timeout` (must also be above 0) and `--max-attempts`.
VISIBILITY_TIMEOUT_SECONDS = Limit(0, YEAR_SECONDS)
MAX_ATTEMPTS = Limit(0, 1_000_000, integer=True)
#: Broker flags `--completed-retention` and `--dead-retention`: jobs kept per topic.
RETENTION_JOBS = Limit(0, 2**53, integer=True)
#: Broker flags `--retry-base` and `--retry-cap`: the backoff of a nack without a delay.
RETRY_SECONDS = DELAY_SECONDS
#: The per-topic settings (common.models.TopicSettings, which checks the same ranges) and
#: the range of each (None: a flag, true or false), in their stored and shown order: a table
#: the CLI reads without importing pydantic.
TOPIC_SETTINGS: dict[str, Limit | None] = {
    "visibility_timeout": VISIBILITY_TIMEOUT_SECONDS,  # must also be above 0
    "max_attempts": MAX_ATTEMPTS,
    "completed_retention": RETENTION_JOBS,
    "dead_retention": RETENTION_JOBS,
    "retry_base": RETRY_SECONDS,
    "retry_cap": RETRY_SECONDS,
    "paused": None,
}
#: Broker flags `--reaper-period`, `--heartbeat-period` (an hour at most, or a crashed
#: broker's claims and registry entry linger for ever; at least 10 ms, or the loops spin)
#: and `--takeover-timeout` (a day at most).
REAPER_PERIOD_SECONDS = Limit(0.01, 3600)
HEARTBEAT_PERIOD_SECONDS = Limit(0.01, 3600)
TAKEOVER_TIMEOUT_SECONDS = Limit(0.01, 24 * 3600)
#: Broker flag `--max-payload-bytes`: 64 MiB at most (a batch body or a MULTI may carry
#: four times as much, and every write of the topic copies the payload).
MAX_PAYLOAD_BYTES = Limit(1, 64 * 1024 * 1024, integer=True)
#: The largest count a stored document may hold: a job's `attempts`, each topic counter,
#: the generation. 2**53 is more than any topic reaches, every JSON reader holds it exactly,
#: and adding to it never overflows orjson's 64-bit integers: a document carrying
#: 18446744073709551615 would be loaded, then fail every write that adds 1 (the topic
#: bricked); it is refused as invalid instead, naming the field.
MAX_STORED_COUNT = 2**53
#: The longest nack `error` (HTTP `error`, CLI `nack --error`), in characters: enough for
#: any traceback's tail; without a bound a 5 MB text would be stored on the job and copied
#: with every write of its topic. The worker loop and `simplequeue work` trim to fit.
MAX_ERROR_CHARS = 65_536
#: How deep arrays and objects may nest in a payload (`[[1]]` is 2 levels). orjson encodes
#: at most 255 levels, and a stored job sits 3 levels inside its document (more inside some
#: answers), so a payload of 254 levels could be accepted and then fail every write of its
#: topic. 128 leaves ample room. A RESP value nested deeper is kept as text (common/payload.py).
MAX_PAYLOAD_DEPTH = 128
#: The exact integers a JSON payload may hold (what orjson encodes: signed and unsigned
#: 64-bit). A bigger one would come back as a float, so it is refused: send it as a string.
PAYLOAD_INT_MIN, PAYLOAD_INT_MAX = -(2**63), 2**64 - 1
