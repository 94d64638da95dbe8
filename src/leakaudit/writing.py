"""Writing what leakaudit produces (reports, baselines, rule pages): all or nothing,
and never through a symbolic link.

A report written in place and cut short by a full disk looks complete and has already
destroyed the previous one; a baseline that a pull request replaced by a link to
`~/.bashrc` would overwrite that file. So: a temporary file in the same folder, flushed
to disk, renamed over the target; and a target that is a link is refused.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import tempfile
from pathlib import Path
from typing import Any


def json_text(value: Any) -> str:
    """JSON for a report or baseline, readable UTF-8; but a file name that is not UTF-8
    (a lone surrogate from os.fsdecode) cannot be written as UTF-8, so such a document
    is written with every non-ASCII character escaped instead (`"bad\\udcff.go"`, which
    reads back as the same name)."""
    text = json.dumps(value, indent=2, ensure_ascii=False) + "\n"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(value, indent=2) + "\n"
    return text


def write_text(path: Path, text: str) -> None:
    """Replace `path` with `text` (UTF-8) atomically. Raises OSError, with a strerror
    that says why, when it cannot (a link in the way included)."""
    write_bytes(path, text.encode("utf-8"))


def write_bytes(path: Path, data: bytes) -> None:
    """Replace `path` with `data` atomically, keeping its permissions (see write_text)."""
    if path.is_symlink():
        raise OSError(0, "refusing to write through a symbolic link")
    if _special(path):
        # `-o /dev/null`, `-o /dev/stdout`, a FIFO: written into, never replaced (a
        # rename would put a regular file where the device was, as root).
        with open(path, "wb") as out:
            out.write(data)
        return
    mode = _mode_for(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _special(path: Path) -> bool:
    """Is `path` something other than a regular file or a folder: a device, a FIFO, a
    socket?"""
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def _mode_for(path: Path) -> int:
    """The target's permissions when it exists, else what a plain open would give."""
    try:
        return path.stat().st_mode & 0o7777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask
