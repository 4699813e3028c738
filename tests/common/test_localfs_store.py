"""localfs beyond the shared contract: CAS across OS processes, crash safety, key safety."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from common.settings import StorageSettings
from common.store import (
    NotFound,
    PreconditionFailed,
    StoreUnavailable,
    etag_of,
    localfs,
    open_store,
)
from common.store.localfs import InvalidKey, LocalFSStore
from tests.conftest import REPO_ROOT

KEY = "topics/counter.json"


def spawn(*args: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "tests.common.localfs_procs", *args],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def temp_files(root: Path) -> list[Path]:
    return sorted(path for path in root.rglob(".tmp-*"))


def files_under(root: Path) -> list[Path]:
    return [path for path in root.rglob("*") if path.is_file()]


@contextlib.contextmanager
def holding_key_lock(lock_file: Path) -> Iterator[None]:
    """Hold a key's lock as a writer in the middle of its write would."""
    with lock_file.open("rb") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


async def wait_for(
    condition: Callable[[], bool], within: float = 60.0, interval: float = 0.02
) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(interval)


@pytest.mark.slow  # starts processes
async def test_cas_holds_across_processes(tmp_path: Path) -> None:
    processes, increments = 4, 50
    go = tmp_path / "go"
    children = [
        spawn("counter", str(tmp_path / "data"), KEY, str(increments), str(go))
        for _ in range(processes)
    ]
    go.touch()
    for child in children:
        _, stderr = await asyncio.to_thread(child.communicate, timeout=90)
        assert child.returncode == 0, stderr.decode()
    async with LocalFSStore(tmp_path / "data") as store:
        assert int((await store.get(KEY)).data) == processes * increments


def lock_files(root: Path) -> list[Path]:
    return sorted(root.rglob(".lock-*"))


@pytest.mark.slow  # starts processes
async def test_lock_files_go_with_their_key_and_cas_holds_while_they_do(tmp_path: Path) -> None:
    # Every tenth increment deletes the key, and with it the lock file that the other
    # processes are waiting on: a lock on a removed lock file must not count as the lock.
    processes, increments = 4, 100
    go, root = tmp_path / "go", tmp_path / "data"
    children = [spawn("cycler", str(root), KEY, str(increments), str(go)) for _ in range(processes)]
    go.touch()
    deleted = 0
    for child in children:
        stdout, stderr = await asyncio.to_thread(child.communicate, timeout=120)
        assert child.returncode == 0, stderr.decode()
        deleted += int(stdout)
    async with LocalFSStore(root) as store:
        try:
            left = int((await store.get(KEY)).data)
        except NotFound:
            left = 0
        assert deleted + left == processes * increments  # no increment lost
        assert deleted >= 10
        keys = await store.list()
    expected = [root / "topics" / ".lock-counter.json"] if keys else []
    assert lock_files(root) == expected


async def test_a_failed_create_or_delete_leaves_no_lock_file(tmp_path: Path) -> None:
    async with LocalFSStore(tmp_path) as store:
        with pytest.raises(PreconditionFailed):
            await store.put_if("a/b.json", b"1", "no-such-etag")
        with pytest.raises(PreconditionFailed):
            await store.delete("a/b.json", "no-such-etag")
        await store.delete("a/b.json")
        etag = await store.put_if("a/b.json", b"1", None)
        assert lock_files(tmp_path) == [tmp_path / "a" / ".lock-b.json"]
        await store.delete("a/b.json", etag)
        assert lock_files(tmp_path) == []
        await store.put_if("a/b.json", b"2", None)  # a new lock file for the new key
        assert (await store.get("a/b.json")).data == b"2"


async def test_cas_holds_between_store_instances_in_one_process(tmp_path: Path) -> None:
    # Two instances share no asyncio lock: only the file lock keeps them apart.
    stores = [LocalFSStore(tmp_path), LocalFSStore(tmp_path)]

    async def add(store: LocalFSStore, times: int) -> None:
        for _ in range(times):
            while True:
                try:
                    current = await store.get(KEY)
                    await store.put_if(KEY, str(int(current.data) + 1).encode(), current.etag)
                    break
                except PreconditionFailed:
                    continue

    await stores[0].put_if(KEY, b"0", None)
    await asyncio.gather(*(add(store, 30) for store in stores for _ in range(3)))
    assert int((await stores[0].get(KEY)).data) == 2 * 3 * 30


async def test_concurrent_creates_let_exactly_one_win(tmp_path: Path) -> None:
    stores = [LocalFSStore(tmp_path) for _ in range(4)]
    results = await asyncio.gather(
        *(store.put_if("race.json", str(n).encode(), None) for n, store in enumerate(stores)),
        return_exceptions=True,
    )
    winners = [result for result in results if isinstance(result, str)]
    assert len(winners) == 1
    assert sum(isinstance(result, PreconditionFailed) for result in results) == 3
    assert (await stores[0].get("race.json")).etag == winners[0]


@pytest.mark.slow  # starts processes
async def test_a_writer_killed_mid_write_never_leaves_a_torn_document(tmp_path: Path) -> None:
    root, key = tmp_path / "data", "topics/crash.json"
    store = LocalFSStore(root)
    last = 0
    for _ in range(4):
        child = spawn("writer", str(root), key)

        def mid_write(floor: int = last) -> bool:
            path = root / key
            advanced = path.exists() and json.loads(path.read_bytes())["generation"] >= floor + 3
            return advanced and bool(temp_files(root))

        await wait_for(mid_write, interval=0.001)
        child.send_signal(signal.SIGKILL)
        await asyncio.to_thread(child.wait, 20)
        document = json.loads((await store.get(key)).data)  # parses: never torn
        assert document["generation"] > last
        last = document["generation"]
    # Whatever temp files the kills left, listing shows only the document ...
    assert await store.list() == [key]
    # ... and a store opening the root removes them.
    async with LocalFSStore(root) as reopened:
        assert json.loads((await reopened.get(key)).data)["generation"] == last
    assert temp_files(root) == []


async def test_stale_temp_files_are_ignored_by_list_and_removed_on_open(tmp_path: Path) -> None:
    first = LocalFSStore(tmp_path)
    await first.put_if("topics/a.json", b"{}", None)
    stale = [tmp_path / "topics/.tmp-a.json.999-dead", tmp_path / ".tmp-broker.json.999-beef"]
    for path in stale:
        path.write_bytes(b'{"torn": ')
    assert await first.list() == ["topics/a.json"]
    assert all(path.exists() for path in stale)

    await LocalFSStore(tmp_path).list()
    assert temp_files(tmp_path) == []


async def test_lock_files_of_deleted_keys_are_removed_on_open(tmp_path: Path) -> None:
    # A process killed between deleting a key and its lock file leaves the lock file; the
    # next process to open the store removes it, and keeps the lock files of live keys.
    first = LocalFSStore(tmp_path)
    await first.put_if("topics/a.json", b"{}", None)
    await first.put_if("topics/a/checkpoint-1.json", b"{}", None)
    orphan = tmp_path / "topics/a/.lock-checkpoint-0.json"
    orphan.write_bytes(b"")
    await LocalFSStore(tmp_path).list()
    assert not orphan.exists()
    assert (tmp_path / "topics/.lock-a.json").exists()
    assert (tmp_path / "topics/a/.lock-checkpoint-1.json").exists()
    assert await LocalFSStore(tmp_path).get("topics/a.json")


async def test_a_temp_file_of_a_live_writer_is_kept_until_that_key_is_written(
    tmp_path: Path,
) -> None:
    await LocalFSStore(tmp_path).put_if("topics/a.json", b"1", None)
    temp = tmp_path / "topics/.tmp-a.json.999-live"
    temp.write_bytes(b"partial")
    with holding_key_lock(tmp_path / "topics/.lock-a.json"):
        assert await LocalFSStore(tmp_path).list() == ["topics/a.json"]
        assert temp.exists()
    store = LocalFSStore(tmp_path)
    etag = (await store.get("topics/a.json")).etag
    temp.write_bytes(b"partial")  # left again by a writer that then died
    await store.put_if("topics/a.json", b"2", etag)
    assert temp_files(tmp_path) == []


async def test_each_key_is_a_file_under_the_root_holding_exactly_the_bytes(
    tmp_path: Path,
) -> None:
    store = LocalFSStore(tmp_path / "data")
    await store.put_if("topics/orders.json", b'{"a": 1}', None)
    await store.put_if("broker.json", b"{}", None)
    assert (tmp_path / "data/topics/orders.json").read_bytes() == b'{"a": 1}'
    assert (tmp_path / "data/broker.json").read_bytes() == b"{}"
    assert temp_files(tmp_path) == []


@pytest.mark.parametrize(
    "key",
    ["../x", "/etc/passwd", "a/../../x", "a//b", "a/", ".tmp-a.json.1-2", "topics/.lock-a", ""],
)
async def test_keys_that_could_escape_the_root_or_hit_reserved_names_are_rejected(
    tmp_path: Path, key: str
) -> None:
    store = LocalFSStore(tmp_path / "data")
    with pytest.raises(InvalidKey):
        await store.put_if(key, b"x", None)
    with pytest.raises(InvalidKey):
        await store.get(key)
    with pytest.raises(InvalidKey):
        await store.delete(key)
    assert files_under(tmp_path) == []


async def test_os_errors_become_store_unavailable(tmp_path: Path) -> None:
    root = tmp_path / "not-a-dir"
    root.write_bytes(b"")
    with pytest.raises(StoreUnavailable, match="localfs"):
        await LocalFSStore(root).put_if("topics/a.json", b"{}", None)


async def test_a_missing_root_is_an_empty_store_until_the_first_write(tmp_path: Path) -> None:
    store = LocalFSStore(tmp_path / "later/queues")
    assert await store.list() == []
    with pytest.raises(NotFound):
        await store.get("topics/a.json")
    await store.delete("topics/a.json")
    assert not (tmp_path / "later").exists()
    await store.put_if("topics/a.json", b"{}", None)
    assert await store.list("topics/") == ["topics/a.json"]


def test_open_store_builds_localfs_for_the_configured_dir(tmp_path: Path) -> None:
    store = open_store(StorageSettings(backend="localfs", dir=tmp_path))
    assert isinstance(store, LocalFSStore)
    assert store.root == tmp_path.resolve()
    assert store.description == StorageSettings(backend="localfs", dir=tmp_path).location()


async def test_a_remembered_etag_is_not_trusted_after_another_writer_replaced_the_file(
    tmp_path: Path,
) -> None:
    # The writer keeps the ETag of what it wrote; a same-size write by another store in
    # the same clock tick must still make its next compare fail and its poll see a change.
    async with LocalFSStore(tmp_path) as mine, LocalFSStore(tmp_path) as other:
        first = await mine.put_if(KEY, b"version-1", None)
        second = await other.put_if(KEY, b"version-2", first)
        with pytest.raises(PreconditionFailed):
            await mine.put_if(KEY, b"version-3", first)
        changed = await mine.get_if_changed(KEY, first)
        assert changed is not None and changed.data == b"version-2"
        assert await mine.get_if_changed(KEY, second) is None
        await other.delete(KEY, second)
        with pytest.raises(PreconditionFailed):
            await mine.delete(KEY, second)
        assert await mine.put_if(KEY, b"version-4", None)


async def test_a_remembered_etag_lets_the_next_write_skip_reading_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with LocalFSStore(tmp_path) as store:
        etag = await store.put_if(KEY, b"x" * 1000, None)
        hashed: list[int] = []

        def counting_etag_of(data: bytes) -> str:
            hashed.append(len(data))
            return etag_of(data)

        monkeypatch.setattr(localfs, "etag_of", counting_etag_of)
        await store.put_if(KEY, b"y" * 10, etag)
        assert hashed == [10]  # only the new bytes, not the 1000 on disk
