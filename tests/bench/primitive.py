"""The commit primitive's own cost on the bench's disk: what a localfs commit cannot go
below (write a temporary file, fsync it, rename it over the key, fsync the directory).

Measured in the same run as the broker, on the same disk and with the mean size of the
broker's commits, so that "mean commit time" has something to be compared with."""

from __future__ import annotations

import os
import time
from pathlib import Path

REPEATS = 50


def commit_primitive_ms(directory: Path, size: int, repeats: int = REPEATS) -> float:
    """Mean milliseconds of write+fsync+rename+dir-fsync of `size` bytes in `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    data = os.urandom(max(1, size))
    target = directory / "primitive.json"
    started = time.perf_counter()
    for n in range(repeats):
        temp = directory / f".primitive.{n}.tmp"
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, target)
        dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    elapsed = time.perf_counter() - started
    target.unlink(missing_ok=True)
    return round(1000 * elapsed / repeats, 2)
