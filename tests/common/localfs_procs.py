"""Child processes for the localfs tests (run as `python -m tests.common.localfs_procs`).

counter ROOT KEY COUNT GO   wait for the file GO, then add 1 to the integer at KEY, COUNT
                            times, each with a read-increment-CAS loop
cycler ROOT KEY COUNT GO    as counter, but the increment that would make 10 deletes KEY
                            instead (its lock file goes with it); prints the sum of the
                            values it deleted that way
writer ROOT KEY             rewrite the JSON document at KEY forever, raising "generation"
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

from common.store import NotFound, PreconditionFailed
from common.store.localfs import LocalFSStore


async def read_counter(store: LocalFSStore, key: str) -> tuple[int, str | None]:
    try:
        current = await store.get(key)
    except NotFound:
        return 0, None
    return int(current.data), current.etag


async def increment(store: LocalFSStore, key: str) -> None:
    while True:
        value, etag = await read_counter(store, key)
        try:
            await store.put_if(key, str(value + 1).encode(), etag)
            return
        except PreconditionFailed:
            continue


async def cycle(store: LocalFSStore, key: str) -> int:
    """One increment of a counter that is deleted when it reaches 10; returns 10 then."""
    while True:
        value, etag = await read_counter(store, key)
        try:
            if value == 9 and etag is not None:
                await store.delete(key, etag)
                return 10
            await store.put_if(key, str(value + 1).encode(), etag)
            return 0
        except PreconditionFailed:
            continue


async def cycler(root: Path, key: str, count: int) -> None:
    async with LocalFSStore(root) as store:
        deleted = 0
        for _ in range(count):
            deleted += await cycle(store, key)
    print(deleted)


async def counter(root: Path, key: str, count: int) -> None:
    async with LocalFSStore(root) as store:
        for _ in range(count):
            await increment(store, key)


async def writer(root: Path, key: str) -> None:
    # Large documents keep the process inside a write (and its temp file) most of the time.
    padding = "x" * 512 * 1024
    async with LocalFSStore(root) as store:
        try:
            current = await store.get(key)
            generation, etag = json.loads(current.data)["generation"], current.etag
        except NotFound:
            generation, etag = 0, None
        while True:
            generation += 1
            data = json.dumps({"generation": generation, "padding": padding}).encode()
            etag = await store.put_if(key, data, etag)


def main(argv: list[str]) -> None:
    command, root, key, *rest = argv
    if command in ("counter", "cycler"):
        count, go = int(rest[0]), Path(rest[1])
        deadline = time.monotonic() + 30
        while not go.exists() and time.monotonic() < deadline:
            time.sleep(0.005)  # start together so that the processes really race
        run = counter if command == "counter" else cycler
        asyncio.run(run(Path(root), key, count))
    elif command == "writer":
        asyncio.run(writer(Path(root), key))
    else:
        raise SystemExit(f"unknown command {command!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
