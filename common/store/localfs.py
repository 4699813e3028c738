"""Directory-backed store (`--backend localfs`): durable on one machine, safe across processes.

Each key is a file under the root (`topics/orders.json` -> `<root>/topics/orders.json`).

Durability: a write goes to a temp file in the target's directory, is fsynced, renamed over
the target and the directory is fsynced. A crash therefore leaves either the old or the new
document, never a torn one; it may leave a temp file, which `list` ignores and which is
removed by the first write of that key through a store, or when a store next opens the root.

Compare-and-set: every write holds an exclusive `flock` on a per-key lock file while it
compares the current ETag and renames. `flock` locks belong to the open file, so they
exclude other processes and other threads of this process alike. Reads take no lock: the
rename makes a new document visible atomically.

Lock files go with their key: whoever leaves the lock while the key has no file (a
delete, a failed create) removes the lock file first, still holding its lock. A locker
that was waiting on that file then holds the lock of a file that is no longer the key's,
so every locker checks, once it holds the lock, that the lock path still names the inode
it locked, and otherwise locks the path's new file. Only the holder of the current lock
file's lock ever removes it, so two processes can never both pass that check.

ETags without re-reading: a write keeps the new file's descriptor open and remembers its
ETag, and so does a read. A later compare stats the key's path: if it is still the very
inode this store holds open (which therefore cannot have been freed and reused), with the
same size, mtime and ctime, the remembered ETag is current and the file is not read and
hashed again. Any other writer replaces the file by rename (a new inode), so its write is
always seen. At most `KNOWN_KEYS` descriptors are held; others fall back to reading.

Names starting with "." are reserved for the temp (`.tmp-*`) and lock (`.lock-*`) files, so
keys may not have a path component that starts with "." (which also rules out "..").
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import os
import secrets
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

from .base import (
    NotFound,
    Object,
    ObjectStore,
    PreconditionFailed,
    StoreError,
    StoreUnavailable,
    etag_of,
)

TEMP_PREFIX = ".tmp-"
KNOWN_KEYS = 128
LOCK_PREFIX = ".lock-"

#: The errno that means "there is no object at this key" when reading. Not ENOTDIR or
#: EISDIR: a file where a directory of keys belongs (or the reverse) is a damaged store,
#: and taking it for "absent" would answer "no such job" or an empty topic for data that
#: is there.
_ABSENT = frozenset({errno.ENOENT})

T = TypeVar("T")
Ident = tuple[int, int, int, int, int]


def _ident(st: os.stat_result) -> Ident:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


class _Known:
    """A version of a key this store wrote or read: its open descriptor and its ETag."""

    __slots__ = ("etag", "fd", "ident")

    def __init__(self, fd: int, etag: str) -> None:
        self.fd, self.etag = fd, etag
        self.ident = _ident(os.fstat(fd))


class InvalidKey(StoreError, ValueError):
    """A key that cannot name a file under the root (empty, absolute, `..`, reserved)."""

    def __init__(self, key: str, why: str) -> None:
        super().__init__(key, f"{key!r}: invalid key for localfs: {why}")


class LocalFSStore(ObjectStore):
    def __init__(self, root: Path | str) -> None:
        self.root = Path(root).resolve()
        self.description = f"localfs:{self.root}"
        # One waiter per key inside this process, so that a lock held by another process
        # ties up one worker thread rather than the whole default thread pool.
        self._key_locks: dict[str, asyncio.Lock] = {}
        self._swept = False
        self._sweep_lock = threading.Lock()
        self._known: dict[str, _Known] = {}
        self._temps_removed: set[str] = set()  # keys whose dead writers' temps are gone
        self._known_lock = threading.Lock()

    # -- the contract -----------------------------------------------------------------

    async def get(self, key: str) -> Object:
        path = _key_path(self.root, key)
        return await self._run(key, self._read, key, path)

    async def put_if(self, key: str, data: bytes, etag: str | None) -> str:
        path = _key_path(self.root, key)
        data = bytes(data)
        async with self._key_lock(key):
            # Hash the new bytes in another thread while this one writes and fsyncs them.
            new_etag = asyncio.ensure_future(asyncio.to_thread(etag_of, data))
            try:
                fd = await self._run(key, self._put_if, key, path, data, etag)
            finally:
                digest = await new_etag
            self._remember(key, _Known(fd, digest))
            return digest

    async def get_if_changed(self, key: str, etag: str | None) -> Object | None:
        path = _key_path(self.root, key)
        return await self._run(key, self._get_if_changed, key, path, etag)

    async def delete(self, key: str, etag: str | None = None) -> None:
        path = _key_path(self.root, key)
        async with self._key_lock(key):
            await self._run(key, self._delete, key, path, etag)

    async def list_level(self, prefix: str = "") -> list[str]:
        return await self._run(prefix, _list_level, self.root, prefix)

    async def list(self, prefix: str = "") -> list[str]:
        return await self._run(prefix, _list_keys, self.root, prefix)

    async def close(self) -> None:
        with self._known_lock:
            known, self._known = self._known, {}
        for entry in known.values():
            os.close(entry.fd)

    # -- blocking work, run in a thread -----------------------------------------------

    async def _run(self, key: str, func: Callable[..., T], *args: object) -> T:
        try:
            return await asyncio.to_thread(self._with_sweep, func, *args)
        except StoreError:
            raise
        except OSError as exc:
            raise StoreUnavailable(key, f"{key}: localfs {self.root}: {exc}") from exc

    def _with_sweep(self, func: Callable[..., T], *args: object) -> T:
        # The first operation of a store removes temp files that crashed writers left.
        if not self._swept:
            with self._sweep_lock:
                if not self._swept:
                    self._sweep()
                    self._swept = True
        return func(*args)

    def _key_lock(self, key: str) -> asyncio.Lock:
        lock = self._key_locks.get(key)
        if lock is None:
            lock = self._key_locks[key] = asyncio.Lock()
        return lock

    # -- remembered ETags (see the module docstring) -----------------------------------

    def _remember(self, key: str, entry: _Known) -> None:
        with self._known_lock:
            old = self._known.pop(key, None)
            self._known[key] = entry
            evicted = [old] if old is not None else []
            while len(self._known) > KNOWN_KEYS:
                evicted.append(self._known.pop(next(iter(self._known))))
        for stale in evicted:
            os.close(stale.fd)

    def _forget(self, key: str) -> None:
        with self._known_lock:
            old = self._known.pop(key, None)
        if old is not None:
            os.close(old.fd)

    def _known_etag(self, key: str, path: Path) -> str | None:
        """The remembered ETag if the file at `path` is still the version remembered."""
        with self._known_lock:
            entry = self._known.get(key)
            ident = entry.ident if entry is not None else None
        if entry is None:
            return None
        try:
            current = _ident(os.stat(path))
        except OSError:
            return None
        return entry.etag if current == ident else None

    def _load(self, key: str, path: Path) -> Object | None:
        """Read the key's file (None if absent), remembering its version and ETag."""
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as exc:
            if exc.errno in _ABSENT:
                return None
            raise
        try:
            with os.fdopen(os.dup(fd), "rb") as file:
                data = file.read()
            ident = _ident(os.fstat(fd))
            with self._known_lock:
                known = self._known.get(key)
            same = known is not None and known.ident == ident
            entry = _Known(fd, known.etag if same and known else etag_of(data))
        except BaseException:
            os.close(fd)
            raise
        self._remember(key, entry)
        return Object(data, entry.etag)

    def _current_etag(self, key: str, path: Path) -> str | None:
        """The ETag of the key's file now (None if absent), reading it only if unknown."""
        known = self._known_etag(key, path)
        if known is not None:
            return known
        current = self._load(key, path)
        return None if current is None else current.etag

    # -- the operations -------------------------------------------------------------

    def _read(self, key: str, path: Path) -> Object:
        current = self._load(key, path)
        if current is None:
            raise NotFound(key)
        return current

    def _get_if_changed(self, key: str, path: Path, etag: str | None) -> Object | None:
        if etag is not None and self._known_etag(key, path) == etag:
            return None
        current = self._read(key, path)
        return None if current.etag == etag else current

    def _put_if(self, key: str, path: Path, data: bytes, etag: str | None) -> int:
        """Write under the key's lock; returns the new file's open descriptor."""
        _make_dirs(path.parent)
        with _flocked(path):
            if self._current_etag(key, path) != etag:
                raise PreconditionFailed(key, etag)
            if etag is not None and key not in self._temps_removed:
                # We hold the key's lock, so any temp file of this key is a dead writer's.
                # Once per key is enough: a write that fails removes its own temp file, and
                # scanning the directory on every write costs as much as the topics in it.
                # Not for a create: its key is new (a log object, a checkpoint), so the
                # scan would run on every commit, over every object in the directory;
                # a dead creator's temp file is removed when a store next opens the root.
                _remove_temps(path)
                self._temps_removed.add(key)
            return _write_atomically(path, data)

    def _delete(self, key: str, path: Path, etag: str | None) -> None:
        if not path.parent.is_dir():
            if etag is not None:
                raise PreconditionFailed(key, etag)
            return
        with _flocked(path):
            current = self._current_etag(key, path)
            if etag is not None and current != etag:
                raise PreconditionFailed(key, etag)
            self._forget(key)
            if current is None:
                return
            path.unlink()
            _fsync_dir(path.parent)

    def _sweep(self) -> None:
        """Remove temp files whose key is not locked by a live writer, and lock files
        whose key is gone (a process killed between deleting a key and its lock file)."""
        for found in _walk(self.root):
            if found.name.startswith(TEMP_PREFIX):
                target = found.parent / _temp_target(found.name)
                with _flocked(target, blocking=False) as held:
                    if held:
                        found.unlink(missing_ok=True)
            elif found.name.startswith(LOCK_PREFIX):
                target = found.parent / found.name.removeprefix(LOCK_PREFIX)
                with _flocked(target, blocking=False):
                    pass  # leaving the lock of a key without a file removes its lock file


# -- file helpers (module-level: no store state) ---------------------------------------


def _key_path(root: Path, key: str) -> Path:
    parts = key.split("/")
    if not key or "\0" in key or "\\" in key:
        raise InvalidKey(key, "empty or contains NUL or backslash")
    for part in parts:
        if not part:
            raise InvalidKey(key, "empty path component (leading, trailing or double /)")
        if part.startswith("."):
            raise InvalidKey(key, "path components may not start with '.'")
    return root.joinpath(*parts)


def _list_keys(root: Path, prefix: str) -> list[str]:
    # Walk only the directory the prefix names, when it names one.
    directory, _, _ = prefix.rpartition("/")
    start = root
    if directory:
        try:
            start = _key_path(root, directory)
        except InvalidKey:
            return []  # no key can start with a prefix no key can have
    keys = []
    for path in _walk(start, root, prefix):
        if path.name.startswith("."):
            continue  # temp and lock files
        key = path.relative_to(root).as_posix()
        if key.startswith(prefix):
            keys.append(key)
    return sorted(keys)


def _list_level(root: Path, prefix: str) -> list[str]:
    """The files of the directory the prefix names (not its subdirectories)."""
    directory, _, start = prefix.rpartition("/")
    try:
        where = _key_path(root, directory) if directory else root
        names = os.listdir(where)
    except (InvalidKey, FileNotFoundError):
        return []  # a missing directory holds no keys; a file in its place is an error
    base = directory + "/" if directory else ""
    return sorted(
        base + name
        for name in names
        if name.startswith(start) and not name.startswith(".") and (where / name).is_file()
    )


def _lock_path(path: Path) -> Path:
    return path.with_name(LOCK_PREFIX + path.name)


def _temp_name(target: str) -> str:
    return f"{TEMP_PREFIX}{target}.{os.getpid()}-{secrets.token_hex(4)}"


def _temp_target(temp_name: str) -> str:
    return temp_name.removeprefix(TEMP_PREFIX).rpartition(".")[0]


@contextlib.contextmanager
def _flocked(path: Path, *, blocking: bool = True) -> Iterator[bool]:
    """Hold the exclusive lock of `path`'s key; yields False if non-blocking and busy.
    On leaving, a key without a file loses its lock file too (module docstring)."""
    lock = _lock_path(path)
    fd = _lock(lock, blocking)
    if fd is None:
        yield False
        return
    try:
        yield True
    finally:
        try:
            if not os.path.lexists(path):
                lock.unlink(missing_ok=True)
        finally:
            os.close(fd)  # releases the lock


def _lock(lock: Path, blocking: bool) -> int | None:
    """The descriptor of `lock`, locked, once it is still the file at that path; None if
    non-blocking and busy."""
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
            if _same_file(fd, lock):
                return fd
        except BlockingIOError:
            os.close(fd)
            return None
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)  # removed by the holder we waited for: lock the path's new file


def _same_file(fd: int, path: Path) -> bool:
    try:
        named = os.stat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (named.st_dev, named.st_ino) == (held.st_dev, held.st_ino)


def _write_atomically(path: Path, data: bytes) -> int:
    """Write `data` as `path` durably; returns the (open) descriptor of the new file."""
    temp = path.with_name(_temp_name(path.name))
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
        os.replace(temp, path)
        _fsync_dir(path.parent)
    except BaseException:
        os.close(fd)
        temp.unlink(missing_ok=True)
        raise
    return fd


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _make_dirs(directory: Path) -> None:
    """`mkdir -p`, making each new directory's entry durable in its parent."""
    missing: list[Path] = []
    while not directory.is_dir():
        missing.append(directory)
        directory = directory.parent
    for new in reversed(missing):
        new.mkdir(exist_ok=True)
        _fsync_dir(new.parent)


def _remove_temps(path: Path) -> None:
    marker = f"{TEMP_PREFIX}{path.name}."
    with os.scandir(path.parent) as entries:
        for entry in entries:
            if entry.name.startswith(marker) and _temp_target(entry.name) == path.name:
                Path(entry.path).unlink(missing_ok=True)


def _walk(start: Path, root: Path | None = None, prefix: str = "") -> Iterator[Path]:
    """Every file under `start`, not descending into reserved (dot) directories, nor,
    given the `root` keys are relative to, into directories no key with `prefix` can be
    in (listing a topic's checkpoints skips its log)."""
    for directory, dirnames, filenames in os.walk(start, onerror=_raise):
        kept = []
        for name in dirnames:
            if name.startswith("."):
                continue
            if root is not None and prefix:
                inner = Path(directory, name).relative_to(root).as_posix() + "/"
                if not (inner.startswith(prefix) or prefix.startswith(inner)):
                    continue
            kept.append(name)
        dirnames[:] = kept
        for name in filenames:
            yield Path(directory, name)


def _raise(exc: OSError) -> None:
    # A missing directory holds no keys; anything else (a file where the directory
    # belongs included) is a storage failure.
    if exc.errno not in _ABSENT:
        raise exc
