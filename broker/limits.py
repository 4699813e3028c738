"""What one broker lets its clients hold: open connections, file descriptors, queued bytes.

Every connection costs a file descriptor, and so does every storage write (a temp file, a
lock file and the directory on localfs; a pooled socket on S3). When clients hold all the
descriptors, writes fail with EMFILE and the broker is alive but useless. So each listener
(HTTP and Redis) has a connection cap, and the default cap is computed from the open-file
limit minus a reserve kept for storage, the event loop and the log.
"""

from __future__ import annotations

import logging
import resource
from dataclasses import dataclass

log = logging.getLogger("simplequeue.daemon")

# Descriptors kept for everything but client connections: localfs holds up to 128 files
# open to skip re-reading them (common/store/localfs.py KNOWN_KEYS), each write in flight
# opens a temp file, a lock file and its directory, S3 keeps a pool of sockets, and the
# process has its loop, log and thread pool, and up to 32 refused HTTP connections linger
# while their client reads the 503 (broker/http/connections.py).
STORAGE_RESERVE_FDS = 512
DEFAULT_CONNECTION_CAP = 10_000  # per listener, when the fd limit allows it
MIN_CONNECTION_CAP = 16  # even under a tiny fd limit, a few clients can connect
LISTENERS = 2  # HTTP and Redis; both may fill up at once

# Batches carry many payloads (each still checked against --max-payload-bytes): the
# largest HTTP request body, and the most bytes one MULTI may queue.
MIN_BATCH_BYTES = 16 * 1024 * 1024
MAX_QUEUED_COMMANDS = 10_000  # commands one MULTI may queue before EXEC
# Seconds a client may hold a connection without getting anywhere: idle HTTP keep-alive,
# HTTP headers or body still arriving, a Redis client yet to AUTH (--idle-timeout).
DEFAULT_IDLE_SECONDS = 30.0


def max_batch_bytes(max_payload_bytes: int) -> int:
    return max(MIN_BATCH_BYTES, 4 * max_payload_bytes)


def raise_fd_limit() -> int:
    """Raise the soft open-file limit to the hard limit (allowed without privileges);
    return the soft limit in force afterwards."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft == resource.RLIM_INFINITY or soft >= hard:
        return soft if soft != resource.RLIM_INFINITY else 1 << 20
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError) as exc:
        log.warning("could not raise the open-file limit soft=%d hard=%d error=%r", soft, hard, exc)
        return soft
    return hard


def default_connection_cap(fd_limit: int) -> int:
    """Connections per listener that leave STORAGE_RESERVE_FDS free with both listeners full."""
    budget = (fd_limit - STORAGE_RESERVE_FDS) // LISTENERS
    return max(MIN_CONNECTION_CAP, min(DEFAULT_CONNECTION_CAP, budget))


def connection_cap(requested: int | None, fd_limit: int) -> int:
    """The cap to use: the requested one, or the default; warn when the requested one
    leaves storage too few descriptors."""
    if requested is None:
        return default_connection_cap(fd_limit)
    if LISTENERS * requested + STORAGE_RESERVE_FDS > fd_limit:
        log.warning(
            "max_connections=%d per listener may exhaust the open-file limit %d "
            "(%d are kept for storage); storage writes can then fail: lower "
            "--max-connections or raise the limit (ulimit -n)",
            requested,
            fd_limit,
            STORAGE_RESERVE_FDS,
        )
    return requested


@dataclass
class ConnectionCap:
    """Open connections of one listener against its cap."""

    limit: int
    open: int = 0
    refused: int = 0

    def try_open(self) -> bool:
        """Count a new connection in; False (and counted as refused) when at the cap."""
        if self.open >= self.limit:
            self.refused += 1
            return False
        self.open += 1
        return True

    def close(self) -> None:
        self.open -= 1

    @property
    def full(self) -> bool:
        return self.open >= self.limit
