"""What the scheduler reads of each file before anything is parsed: the packages it
imports (module/graph.py), the interfaces and methods it declares
(module/implementations.py), and the methods it starts as goroutines (`go x.Run()`:
the method runs as a goroutine wherever it is declared).

Remembered between scans by path, with the file's size, mtime, ctime and inode (as
git's index trusts a stat): while those match, a warm scan orders its units without
opening the file or running a regex over it. A file modified within the last two
seconds is not remembered (its next write may keep the same times). Only with a
cache; one entry per scan root.
"""

from __future__ import annotations

import os
import re
import sys
import time
from typing import TYPE_CHECKING, NamedTuple

from leakaudit import reading
from leakaudit.module import graph as graph_mod
from leakaudit.module import implementations
from leakaudit.parsing.generated import is_generated

if TYPE_CHECKING:
    from leakaudit.cache import Cache

Stamp = tuple[int, int, int, int]  # size, mtime and ctime in ns, inode
_RACY_NS = 2_000_000_000
KEEP_BYTES = 256 * 1024 * 1024  # what a scan keeps of the files read here, in all
_VERSION = 3  # of what is remembered: a new one forgets the old entries
# `go hub.Run(ctx)`, `go s.srv.Serve(l)`: the last name before the call's parenthesis.
# No leading \b: the regex engine then jumps to each "go" by its literal prefix, and
# the word boundary before it is checked by hand.
_LAUNCHED = re.compile(rb"go[ \t]+[\w.]+\.(\w+)[ \t]*\(")
# (parsing.syntax has the same set, but importing it loads tree-sitter, which a warm
# scan never needs.)
_WORD = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


class FileFacts(NamedTuple):
    imports: tuple[str, ...]  # interned: the same paths recur in every file
    # None for a test or generated file: its types implement nothing the module runs.
    methods: implementations.FileMethods | None
    launched: tuple[str, ...] = ()  # method names started as goroutines here


def launched_names(content: bytes) -> tuple[str, ...]:
    """The method names a file starts with `go x.Name(...)`."""
    if b"go" not in content:
        return ()
    names = {
        sys.intern(m.group(1).decode())
        for m in _LAUNCHED.finditer(content)
        if m.start() == 0 or content[m.start() - 1] not in _WORD
    }
    return tuple(sorted(names))


Known = dict[str, tuple[Stamp, FileFacts]]  # what a memo remembers, by path


class FileFactsMemo:
    def __init__(self, cache: Cache | None, real_root: str) -> None:
        self.cache = cache
        self.key = f"{real_root}\0{_VERSION}"
        loaded = cache.get("file-facts", self.key, Known) if cache is not None else None
        self.known: Known = loaded if loaded is not None else {}
        self.changed = False
        self.now = time.time_ns()
        self.kept = 0

    def facts(self, path: str, whole: dict[str, bytes]) -> FileFacts | None:
        """The file's facts (None: it cannot be read); a file read on the way is put in
        `whole` (up to KEEP_BYTES in all), so that the scan does not read it twice."""
        stamp = _stat(path)
        found = self.known.get(path) if stamp is not None else None
        if found is not None and found[0] == stamp:
            return found[1]
        try:
            content, _ = reading.read_file(path)
        except OSError:
            return None
        if content is None:
            return None  # too large: the scan says so when it reads it
        if self.kept + len(content) <= KEEP_BYTES:
            whole[path] = content
            self.kept += len(content)
        plain = not path.endswith("_test.go") and not is_generated(content)
        made = FileFacts(
            tuple(sorted(sys.intern(i) for i in graph_mod.imports_of(content))),
            implementations.scan(content) if plain else None,
            launched_names(content),
        )
        self._remember(path, stamp, made)
        return made

    def _remember(self, path: str, stamp: Stamp | None, made: FileFacts) -> None:
        if self.cache is None or stamp is None:
            return
        if self.now - stamp[1] >= _RACY_NS:
            self.known[path] = (stamp, made)
        elif self.known.pop(path, None) is None:
            return
        self.changed = True

    def save(self) -> None:
        if self.cache is not None and self.changed:
            self.cache.put("file-facts", self.key, self.known, Known)


def _stat(path: str) -> Stamp | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino
