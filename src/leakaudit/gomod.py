"""go.mod facts: the module path and the `go` directive, found from the nearest go.mod
above a directory (as the go tool finds it)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from leakaudit.reading import GOMOD_BYTES, read_small

_MODULE = re.compile(r"^module\s+\"?([^\s\"]+)\"?", re.MULTILINE)
_GO = re.compile(r"^go\s+(\d+\.\d+(?:\.\d+)?)", re.MULTILINE)


@dataclass(frozen=True)
class GoMod:
    path: Path
    module: str | None
    go: str | None


@lru_cache(maxsize=4096)
def nearest(directory: Path) -> GoMod | None:
    """The go.mod governing `directory`, or None."""
    return nearest_resolved(str(directory.resolve()))


_NEAREST: dict[str, GoMod | None] = {}
_NEAREST_MAX = 16384


def nearest_resolved(directory: str) -> GoMod | None:
    """`nearest` for an absolute path without `..` (resolving costs a system call per
    path component: a scan resolves its root once and joins its packages to it)."""
    # One folder at a time, upwards, each remembered: sibling packages share their
    # parents' answer. A loop, not a recursion: a file 1,500 folders deep is a path.
    visited: list[str] = []
    current = directory
    while True:
        if current in _NEAREST:
            found = _NEAREST[current]
            break
        visited.append(current)
        gomod = os.path.join(current, "go.mod")
        if os.path.isfile(gomod):
            found = read(Path(gomod))
            break
        parent = os.path.dirname(current)
        if parent == current:
            found = None
            break
        current = parent
    if len(_NEAREST) + len(visited) > _NEAREST_MAX:
        _NEAREST.clear()
    for folder in visited:
        _NEAREST[folder] = found
    return found


def read(path: Path) -> GoMod:
    try:
        content = read_small(path, GOMOD_BYTES).decode("utf-8", "replace")
    except OSError:
        return GoMod(path, None, None)
    module = _MODULE.search(content)
    go = _GO.search(content)
    return GoMod(path, module.group(1) if module else None, go.group(1) if go else None)


def version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split(".") if p.isdigit())
