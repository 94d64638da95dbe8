"""On-disk cache of per-directory scan results and of compiled rule sets.

A directory's result is keyed by everything it depends on: the bytes and paths of all
its Go files (package-level facts feed every file's analysis, so one edited file
invalidates its whole package), the rules, the options that change what checks run,
and the code of leakaudit itself. Entries are pickles written atomically (a temporary
file renamed into place), so concurrent workers and interrupted runs never leave a
torn entry; an entry that cannot be read is a miss. Nothing is ever written outside
the cache directory.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
import sys
from functools import lru_cache
from pathlib import Path

from leakaudit import __version__

FORMAT = 1  # bump when the pickled shapes change incompatibly


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
    """A folder of pickled values, one file per key."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.root = self.directory / f"v{FORMAT}"
        self._made: set[Path] = set()  # folders this process created or found

    def _path(self, kind: str, key: str) -> Path:
        return self.root / kind / key[:2] / key

    def get(self, kind: str, key: str) -> object | None:
        try:
            with open(self._path(kind, key), "rb") as handle:
                return pickle.load(handle)
        except FileNotFoundError:
            return None
        except Exception:  # a torn or foreign file is a miss, never an error
            return None

    def put(self, kind: str, key: str, value: object) -> None:
        """Store `value`; a cache that cannot be written only costs speed."""
        path = self._path(kind, key)
        # Named after this process: no other writer uses the name, and a cold scan
        # writes hundreds of entries (a random name and a mkdir each cost as much).
        tmp = path.parent / f".tmp-{os.getpid()}-{key}"
        try:
            if path.parent not in self._made:
                path.parent.mkdir(parents=True, exist_ok=True)
                self._made.add(path.parent)
            try:
                with open(tmp, "wb") as handle:
                    pickle.dump(value, handle, protocol=pickle.HIGHEST_PROTOCOL)
                os.replace(tmp, path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
        except (OSError, pickle.PicklingError):
            pass


def hasher() -> hashlib.blake2b:
    return hashlib.blake2b(digest_size=20)
