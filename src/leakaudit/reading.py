"""Reading the files of a scan: regular files only, never more than a limit, with as
few system calls as a warm scan can afford (it reads every file to key its cache)."""

from __future__ import annotations

import os
import stat

MAX_FILE_BYTES = 20 * 1024 * 1024

_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)


def read_file(path: str) -> tuple[bytes | None, int]:
    """(content, size), or (None, size) when the file is over MAX_FILE_BYTES (see
    `_read_regular`)."""
    return _read_regular(path, MAX_FILE_BYTES)


def _read_regular(path: str | os.PathLike[str], limit: int) -> tuple[bytes | None, int]:
    """(content, size), or (None, size) when the file is over `limit` bytes. One open
    and one fstat: non-blocking, so a FIFO or device is refused, not waited on. One
    read, of a byte more than fstat says: what comes back is the whole file when it is
    exactly that size (a second read to see the end, into a 64 KiB buffer, cost a third
    of a warm scan's reading); a file that changed since the fstat is read on, up to
    the limit."""
    fd = os.open(path, _FLAGS)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(0, "not a regular file")
        if info.st_size > limit:
            return None, info.st_size
        content = os.read(fd, info.st_size + 1)
        if len(content) == info.st_size:
            return content, len(content)
        chunks, size = [content], len(content)
        while size <= limit and (chunk := os.read(fd, min(1 << 16, limit + 1 - size))):
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            return None, size
        return b"".join(chunks), size
    finally:
        os.close(fd)


# Inputs leakaudit reads besides Go files, and the most of each it accepts: a config,
# a rule file or a go.mod has no business being larger; a baseline lists findings.
CONFIG_BYTES = 1 << 20
RULES_BYTES = 4 << 20
BASELINE_BYTES = 64 << 20
GOMOD_BYTES = 1 << 20


def read_small(path: str | os.PathLike[str], limit: int) -> bytes:
    """A regular file's bytes, at most `limit` of them. A FIFO, a device or a directory
    is refused without waiting on it, and so is a larger file (`/dev/zero`, an 8 GiB
    sparse file): OSError with a strerror that says which."""
    content, _ = _read_regular(path, limit)
    if content is None:
        raise OSError(0, f"larger than {limit >> 20} MiB")
    return content
