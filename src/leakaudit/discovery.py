"""Which files a scan reads: walk directories the way the go tool does, and say why
anything is left out."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

SKIP_DIRS = frozenset({"vendor", "testdata", "node_modules"})


@dataclass(frozen=True)
class Target:
    path: Path  # as opened
    rel: str  # relative to the scan root, forward slashes


class PathError(Exception):
    """A path given on the command line does not exist."""


def _skip_dir(name: str) -> bool:
    # The go tool ignores directories starting with "." or "_", and testdata.
    return name in SKIP_DIRS or name.startswith((".", "_"))


def relative(path: Path, root: Path) -> str:
    try:
        rel = os.path.relpath(path, root)
    except ValueError:  # another drive on Windows
        rel = str(path)
    return rel.replace(os.sep, "/")


def discover(paths: list[str], root: Path) -> list[Target]:
    """Go files under `paths` (directories walked, files taken as given), sorted and
    without duplicates. Raises PathError for a path that does not exist."""
    seen: set[str] = set()
    out: list[Target] = []

    def add(path: Path) -> None:
        key = os.path.realpath(path)
        if key in seen:
            return
        seen.add(key)
        out.append(Target(path, relative(path, root)))

    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for dirpath, dirnames, filenames in os.walk(path, followlinks=False):
                dirnames[:] = sorted(d for d in dirnames if not _skip_dir(d))
                for name in sorted(filenames):
                    if name.endswith(".go"):
                        add(Path(dirpath) / name)
        elif path.exists() or path.is_symlink():
            add(path)
        else:
            raise PathError(f"{raw}: no such file or directory")
    out.sort(key=lambda t: t.rel)
    return out
