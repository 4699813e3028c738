"""Child processes for the localfs tests (run as `python -m tests.common.localfs_procs`).

counter ROOT KEY COUNT GO   wait for the file GO, then add 1 to the integer at KEY, COUNT
                            times, each with a read-increment-CAS loop
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


async def increment(store: LocalFSStore, key: str) -> None:
    while True:
        try:
            current = await store.get(key)
            value, etag = int(current.data), current.etag
        except NotFound:
            value, etag = 0, None
        try:
            await store.put_if(key, str(value + 1).encode(), etag)
            return
        except PreconditionFailed:
            continue


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
    if command == "counter":
        count, go = int(rest[0]), Path(rest[1])
        deadline = time.monotonic() + 30
        while not go.exists() and time.monotonic() < deadline:
            time.sleep(0.005)  # start together so that the processes really race
        asyncio.run(counter(Path(root), key, count))
    elif command == "writer":
        asyncio.run(writer(Path(root), key))
    else:
        raise SystemExit(f"unknown command {command!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
