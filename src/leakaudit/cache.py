"""On-disk cache of per-directory scan results and of compiled rule sets.

A directory's result is keyed by everything it depends on: the bytes and paths of all
its Go files (package-level facts feed every file's analysis, so one edited file
invalidates its whole package), the rules, the options that change what checks run,
and the code of leakaudit itself. Entries are MessagePack in one SQLite file, written in
transactions by the scan's main process: a cold scan stores hundreds of results, and
a file per result cost as much as analyzing a tenth of them. Concurrent scans take
turns (WAL, a busy timeout), an interrupted one leaves no torn entry, and an entry or
a database that cannot be read is a miss, never an error. Nothing is ever written
outside the cache directory.

Plain data, never pickles: a CI cache is restored from storage that anyone with write
access to it controls, and unpickling runs whatever a pickle names. An entry is decoded
into the one type its kind holds (`msgspec`'s typed decoding builds those dataclasses
and named tuples and nothing else); bytes that do not fit that type are a miss.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
import sys
from functools import lru_cache
from pathlib import Path
from typing import TypeVar

import msgspec

from leakaudit import __version__

FORMAT = 3  # bump when the storage changes (3: MessagePack, was pickles)

T = TypeVar("T")


def encode(value: T, shape: type[T]) -> bytes:
    """`value` as MessagePack: dataclasses, named tuples, enums and builtins only,
    after the name of its `shape` (a dataclass decodes from any map, filling in
    defaults: the name tells an entry of another shape, or a foreign one, from it)."""
    return _ENCODER.encode((_name(shape), value))


def decode(data: bytes, shape: type[T]) -> T:
    """`data` as a `shape`; ValueError (msgspec's DecodeError or ValidationError) when it
    is not one."""
    name, value = _decoder(shape).decode(data)
    if name != _name(shape):
        raise msgspec.ValidationError(f"an entry of {name!r}, not {_name(shape)!r}")
    return value  # type: ignore[no-any-return]


def _name(shape: object) -> str:
    return shape.__qualname__ if isinstance(shape, type) else repr(shape)


_ENCODER = msgspec.msgpack.Encoder()


@lru_cache(maxsize=64)
def _decoder(shape: object) -> msgspec.msgpack.Decoder:  # type: ignore[type-arg]
    return msgspec.msgpack.Decoder(tuple[str, shape])  # type: ignore[valid-type]


def default_dir() -> Path:
    """The per-user cache folder: $XDG_CACHE_HOME/leakaudit (~/.cache/leakaudit), or the
    platform's equivalent on macOS and Windows."""
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(base) / "leakaudit" / "Cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "leakaudit"
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "leakaudit"


@lru_cache(maxsize=1)
def code_version() -> str:
    """The leakaudit version plus a fingerprint of its installed modules (name, size,
    mtime), so a development checkout never reads results its old code produced."""
    here = Path(__file__).resolve().parent
    digest = hashlib.blake2b(__version__.encode(), digest_size=16)
    for dirpath, dirnames, filenames in os.walk(here):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for name in sorted(filenames):
            if name.endswith(".py"):
                stat = os.stat(os.path.join(dirpath, name))
                rel = os.path.relpath(os.path.join(dirpath, name), here)
                digest.update(f"{rel}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return f"{__version__}+{digest.hexdigest()}"


class Cache:
    """Values by (kind, key) in one SQLite file, as MessagePack. `put` buffers; `flush`
    (at the end of a scan, or every FLUSH_EVERY entries) writes the buffer in one
    transaction.
    A process opens its own connection (one made before a fork is not used after it)."""

    FLUSH_EVERY = 256

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.root = self.directory / f"v{FORMAT}"
        self.file = self.root / "cache.sqlite3"
        self._db: sqlite3.Connection | None = None
        self._pid = 0
        self._broken = False  # this process could not open or use the database
        self._pending: list[tuple[str, str, bytes]] = []

    def _this_process(self) -> None:
        if self._pid != os.getpid():  # first use, or a forked worker: its own state
            self._db, self._pid, self._broken, self._pending = None, os.getpid(), False, []

    def _connection(self) -> sqlite3.Connection | None:
        self._this_process()
        if self._db is None and not self._broken:
            try:
                self._db = self._open()
            except sqlite3.OperationalError:  # locked past the timeout, unwritable...
                self._broken = True  # (never delete a database another scan is using)
            except (OSError, sqlite3.Error):
                try:  # not a database (damaged, foreign): start a new one, once
                    self.file.unlink(missing_ok=True)
                    self._db = self._open()
                except (OSError, sqlite3.Error):
                    self._broken = True
        return self._db

    def _open(self) -> sqlite3.Connection:
        self.root.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.file, timeout=10, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")  # a lost last write is only a miss
            db.execute(
                "CREATE TABLE IF NOT EXISTS entries"
                " (kind TEXT, key TEXT, value BLOB, PRIMARY KEY (kind, key)) WITHOUT ROWID"
            )
        except sqlite3.Error:
            db.close()
            raise
        return db

    def get(self, kind: str, key: str, shape: type[T]) -> T | None:
        """The entry as a `shape`, or None: missing, damaged, or of another shape."""
        db = self._connection()
        if db is None:
            return None
        try:
            row = db.execute(
                "SELECT value FROM entries WHERE kind = ? AND key = ?", (kind, key)
            ).fetchone()
            return decode(row[0], shape) if row is not None else None
        except Exception:  # a damaged or foreign entry is a miss, never an error
            return None

    def put(self, kind: str, key: str, value: T, shape: type[T]) -> None:
        """Store `value` (at the next flush); a cache that cannot be written only costs
        speed."""
        try:
            data = encode(value, shape)
        except (msgspec.EncodeError, TypeError, OverflowError):
            return
        self.put_encoded(kind, key, data)

    def put_encoded(self, kind: str, key: str, data: bytes) -> None:
        """`put` for a value encoded already (a worker's result, as it arrived)."""
        self._this_process()
        self._pending.append((kind, key, data))
        if len(self._pending) >= self.FLUSH_EVERY:
            self.flush()

    def flush(self) -> None:
        pending, self._pending = self._pending, []
        db = self._connection() if pending else None
        if db is None:
            return
        try:
            with contextlib.closing(db.cursor()) as cursor:
                cursor.execute("BEGIN IMMEDIATE")
                cursor.executemany("INSERT OR REPLACE INTO entries VALUES (?, ?, ?)", pending)
                cursor.execute("COMMIT")
        except sqlite3.Error:
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")


def hasher() -> hashlib._Hash:
    """The content hash of cache keys: SHA-256 (CPUs hash it in hardware, twice as fast
    as BLAKE2 here; a warm scan hashes every file it reads)."""
    return hashlib.sha256()
