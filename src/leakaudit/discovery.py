"""Which files a scan reads: walk directories the way the go tool does, and say why
anything is left out."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

SKIP_DIRS = frozenset({"vendor", "testdata", "node_modules"})


@dataclass(frozen=True)
class Target:
    path: str  # as opened (a str: a Path per file cost more than the walk)
    rel: str  # relative to the scan root, forward slashes
    # Read for the package's facts only (a sibling of a file named on the command line):
    # nothing is reported in it.
    context_only: bool = False


class PathError(Exception):
    """A path given on the command line does not exist."""


def skip_dir(name: str) -> bool:
    # The go tool ignores directories starting with "." or "_", and testdata.
    return name in SKIP_DIRS or name.startswith((".", "_"))


def relative(path: str | Path, root: Path) -> str:
    try:
        rel = os.path.relpath(path, root)
    except ValueError:  # another drive on Windows
        rel = str(path)
    return rel.replace(os.sep, "/")


def siblings(paths: list[str], targets: list[Target], root: Path) -> list[Target]:
    """The other Go files of each package a *file* argument belongs to, as context.

    Package-level facts (struct fields, methods, which fields are released) live in any
    file of the package; pre-commit passes only the changed files, so without their
    siblings a cancel stored in a field closed in another file would look leaked."""
    files = [raw for raw in paths if raw.endswith(".go") and not os.path.isdir(raw)]
    if not files:
        return []  # directories only: every file is a target already
    have = {os.path.realpath(t.path) for t in targets}
    out: list[Target] = []
    for path in files:
        folder = os.path.dirname(path) or "."
        try:
            names = sorted(os.listdir(folder))
        except OSError:
            continue
        for name in names:
            sibling = os.path.join(folder, name)
            key = os.path.realpath(sibling)
            if name.endswith(".go") and key not in have and os.path.isfile(sibling):
                have.add(key)
                out.append(Target(sibling, relative(sibling, root), context_only=True))
    return out


def _go_files(
    top: str, rel_top: str, unreadable: list[tuple[str, str]] | None = None
) -> Iterator[tuple[str, str, list[tuple[str, str, bool]]]]:
    """(folder's real path, folder relative to the scan root, sorted (name, path, is a
    symlink) of its .go files) for `top` and the folders below it the go tool would read,
    in pre-order with sorted names. Like os.walk without following folder symlinks, but
    one scandir per folder and no system call per file (os.walk plus islink per file cost
    ten times as much); paths come joined from scandir, and a folder's relative path
    from its parent's (a join and a relpath per file and folder were a third of the walk)."""
    stack = [(top, os.path.realpath(top), rel_top)]
    while stack:
        folder, real, rel = stack.pop()
        files: list[tuple[str, str, bool]] = []
        subfolders: list[tuple[str, str]] = []
        try:
            with os.scandir(folder) as entries:
                for entry in entries:
                    try:
                        name = entry.name
                        is_dir = entry.is_dir()  # through a symlink, as os.walk tells
                        if is_dir and not entry.is_symlink() and not skip_dir(name):
                            subfolders.append((name, entry.path))
                        elif not is_dir and name.endswith(".go"):
                            files.append((name, entry.path, entry.is_symlink()))
                    except OSError:
                        if name.endswith(".go"):
                            # `loop.go -> loop.go`: kept, so reading it says why it fails
                            files.append((name, entry.path, True))
                        continue
        except OSError as exc:
            # An unreadable folder holds Go files nobody can see: the scan says so, as
            # for an unreadable file, instead of losing their leaks without a word.
            if unreadable is not None:
                unreadable.append((rel, exc.strerror or str(exc)))
            continue
        if files:
            yield real, rel, sorted(files)
        for name, path in sorted(subfolders, reverse=True):
            stack.append((path, os.path.join(real, name), name if rel == "." else f"{rel}/{name}"))


def discover(
    paths: list[str], root: Path, unreadable: list[tuple[str, str]] | None = None
) -> list[Target]:
    """Go files under `paths` (directories walked, files taken as given), sorted and
    without duplicates; folders that cannot be read go to `unreadable` as (path
    relative to the root, why). Raises PathError for a path that does not exist."""
    seen: set[tuple[str, str]] = set()  # real (folder, name): the same file named twice
    out: list[Target] = []

    def add(path: str, key: tuple[str, str] | None = None, rel: str | None = None) -> None:
        key = key or os.path.split(os.path.realpath(path))
        if key in seen:
            return
        seen.add(key)
        out.append(Target(path, rel or relative(path, root)))

    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            top = str(path)
            for real_folder, rel_folder, files in _go_files(top, relative(top, root), unreadable):
                for name, file, is_link in files:
                    # A file that is no symlink resolves to its folder's real path plus
                    # its name (realpath per file dominated a cached re-scan).
                    key = os.path.split(os.path.realpath(file)) if is_link else (real_folder, name)
                    add(file, key, name if rel_folder == "." else f"{rel_folder}/{name}")
        elif path.exists() or path.is_symlink():
            if not _in_skipped_dir(relative(path, root)):
                add(str(path))
        else:
            raise PathError(f"{raw}: no such file or directory")
    if not out and any(Path(raw).is_dir() for raw in paths):
        raise PathError(f"{' '.join(paths)}: no Go files")
    out.sort(key=lambda t: t.rel)
    return out


def _in_skipped_dir(rel: str) -> bool:
    """A file named on the command line (pre-commit names every staged file) under a
    folder a directory walk skips: vendor/, testdata/, .hidden/, _build/."""
    folders = rel.split("/")[:-1]
    return bool(folders) and folders[0] != ".." and any(skip_dir(f) for f in folders)
