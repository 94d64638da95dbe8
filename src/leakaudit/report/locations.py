"""Where things are, as reports print them: repo-relative paths and character columns.

Findings carry paths relative to the scan root and 1-based *byte* columns (tree-sitter's
unit). SARIF viewers and markdown links want paths relative to the repository root, and
GitHub counts columns in UTF-16 code units.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from urllib.parse import quote

from leakaudit import gitrun
from leakaudit.findings import Finding, Location


def repo_prefix(root: str | Path) -> str:
    """The scan root's path inside its git work tree ("" at the top, "svc/orders/" in a
    subfolder), so links and SARIF URIs resolve from the repository root. "" when the
    root is not inside a work tree: paths then stay relative to the scan root."""
    start = Path(root).resolve()
    if start.is_file():
        start = start.parent
    for candidate in (start, *start.parents):
        if (candidate / ".git").exists():
            rel = os.path.relpath(start, candidate).replace(os.sep, "/")
            return "" if rel == "." else rel.rstrip("/") + "/"
    return ""


def git_describe(root: str | Path) -> str | None:
    """What `git describe --tags --always --dirty` says of the work tree holding `root`,
    if any, without writing to the repository."""
    start = Path(root).resolve()
    cwd = start if start.is_dir() else start.parent
    # Not `describe --dirty`: it rewrites .git/index whatever GIT_OPTIONAL_LOCKS says;
    # `status` honors it.
    try:
        done = gitrun.run(["describe", "--tags", "--always"], cwd, timeout=10)
        status = gitrun.run(["status", "--porcelain", "--untracked-files=no"], cwd, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    out = done.stdout.decode("utf-8", "replace").strip()
    if done.returncode != 0 or not out:
        return None
    return out + "-dirty" if status.returncode == 0 and status.stdout.strip() else out


def shown_path(path: str) -> str:
    """A path as one line of text prints it: as is, or quoted with escapes (as Go's
    tools quote odd names) when it holds a newline, another character that is not
    printable, or bytes that are not UTF-8 (`"bad\\xff.go"`), so a file name cannot
    forge a `path:line:col: rule: message` line nor break a UTF-8 report."""
    if path.isprintable():
        return path
    out = []
    for ch in path:
        code = ord(ch)
        if 0xDC80 <= code <= 0xDCFF:  # a byte os.fsdecode could not decode
            out.append(f"\\x{code - 0xDC00:02x}")
        elif ch in '"\\':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif not ch.isprintable():
            out.append(f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def uri_path(path: str) -> str:
    """A path percent-encoded for a URI, from its bytes (a name that is not UTF-8
    keeps its bytes: `bad%FF.go`)."""
    return quote(path.encode("utf-8", "surrogateescape"), safe="/")


# What makes markdown of a name: emphasis, code, links, HTML, table cells. (An
# underscore inside a word is no emphasis in GitHub's markdown: `_test.go` stays.)
_MARKDOWN = re.compile(r"([\\`*\[\]()<>|])")


def markdown_path(path: str) -> str:
    """A path inside markdown text or link text: printable (see shown_path), with the
    characters markdown gives a meaning escaped, so `](…)` in a name adds no link."""
    return _MARKDOWN.sub(r"\\\1", shown_path(path))


def line_text(finding: Finding, path: str, line: int) -> str | None:
    """The source text of a line a location of `finding` touches, if the scan kept it."""
    text = finding.source_lines.get(path, {}).get(line)
    if text is not None:
        return text
    if path == finding.location.path and finding.excerpt:
        index = line - finding.excerpt_start
        if 0 <= index < len(finding.excerpt):
            return finding.excerpt[index]
    return None


def utf16_column(text: str | None, byte_col: int) -> int:
    """1-based UTF-16 column of a 1-based byte column in `text` (the byte column itself
    when the line is unknown: exact for ASCII, which Go source nearly always is)."""
    if text is None or byte_col <= 1:
        return max(1, byte_col)
    raw = text.encode("utf-8")
    head = raw[: byte_col - 1]
    extra = byte_col - 1 - len(head)  # a column past the line's end (its newline)
    return len(head.decode("utf-8", "replace").encode("utf-16-le")) // 2 + extra + 1


def char_span(finding: Finding, loc: Location) -> tuple[int, int]:
    """(startColumn, endColumn) of `loc` in UTF-16 code units, end exclusive."""
    start = utf16_column(line_text(finding, loc.path, loc.line), loc.col)
    end = utf16_column(line_text(finding, loc.path, loc.end_line), loc.end_col)
    if loc.end_line == loc.line and end < start:
        end = start
    return start, end
