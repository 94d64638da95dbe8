"""`--new-from-rev REV`: keep only findings in functions changed since REV.

The work tree is compared with REV (`git diff -U0 REV`, so staged and unstaged edits both
count), and untracked Go files count as wholly new. A finding is kept when a changed line
falls inside the outermost function around it: a leak is a property of the whole function
(removing a `defer` ten lines away creates one), so a changed line anywhere in the function
brings all of its findings into scope.
"""

from __future__ import annotations

import codecs
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from leakaudit import gitrun

_HUNK = re.compile(rb"^@@ -\d+(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


class GitError(Exception):
    """git is missing, the path is not in a repository, or REV does not exist."""


@dataclass
class Changes:
    """What changed in one file, in the work tree's line numbers."""

    lines: list[tuple[int, int]] = field(default_factory=list)  # inclusive ranges
    gaps: list[int] = field(default_factory=list)  # lines were deleted right after this one
    whole: bool = False  # new or untracked file

    def touches(self, start: int, end: int) -> bool:
        """True when a change falls in lines start..end (inclusive)."""
        if self.whole:
            return True
        if any(a <= end and b >= start for a, b in self.lines):
            return True
        # A deletion between lines g and g+1 is inside the span only if both are.
        return any(start <= g and g + 1 <= end for g in self.gaps)


def _git(args: list[str], cwd: Path) -> bytes:
    try:
        proc = gitrun.run(["-c", "core.quotePath=false", *args], cwd)
    except FileNotFoundError:
        raise GitError("git is not installed (needed by --new-from-rev)") from None
    if proc.returncode != 0:
        lines = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        first = next((ln for ln in lines if ln.startswith("fatal:")), lines[0] if lines else "")
        raise GitError(first.removeprefix("fatal:").strip() or f"git {args[0]} failed")
    return proc.stdout


def changed_files(root: Path, rev: str, notes: list[str] | None = None) -> dict[str, Changes]:
    """Changed Go files, keyed by path relative to `root` (as findings are). When `rev`
    does not exist (a CI checkout without `origin/main`), the merge base with the
    default branch stands in for it, and `notes` says so."""
    cwd = root if root.is_dir() else root.parent
    top = Path(_git(["rev-parse", "--show-toplevel"], cwd).decode().strip())
    if rev.startswith("-"):
        raise GitError(f"unknown revision {rev!r}")
    if not _exists(top, rev):
        base, used = _stand_in(top, rev)
        if notes is not None:
            notes.append(
                f"--new-from-rev {rev}: no such revision here; comparing with the merge "
                f"base of HEAD and {used} ({base[:12]}) instead"
            )
        rev = base
    diff = _git(
        [
            "diff",
            "--no-color",
            "--no-ext-diff",
            "--no-textconv",
            "--find-renames",
            "--src-prefix=a/",
            "--dst-prefix=b/",
            "-U0",
            rev,
            "--",
            "*.go",
        ],
        top,
    )
    out: dict[str, Changes] = {}
    base = root.resolve() if root.is_dir() else root.resolve().parent
    for path, changes in parse_diff(diff).items():
        out[_relative(top / path, base)] = changes
    untracked = _git(["ls-files", "--others", "--exclude-standard", "-z", "--", "*.go"], top)
    for name in untracked.split(b"\0"):
        if name:
            out[_relative(top / os.fsdecode(name), base)] = Changes(whole=True)
    return out


def _exists(top: Path, rev: str) -> bool:
    try:
        _git(["rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"], top)
    except GitError:
        return False
    return True


def _stand_in(top: Path, rev: str) -> tuple[str, str]:
    """(merge base, branch) for a missing `rev`: the same branch name locally or on
    another remote, else the default branch (`origin/HEAD`, `main`, `master`)."""
    name = rev.split("/", 1)[1] if "/" in rev else rev
    candidates = [name, f"origin/{name}"]
    try:
        head = _git(["symbolic-ref", "--quiet", "--short", "refs/remotes/origin/HEAD"], top)
        candidates.append(head.decode().strip())
    except GitError:
        pass
    candidates += ["main", "master", "origin/main", "origin/master"]
    for branch in dict.fromkeys(c for c in candidates if c and c != rev):
        if not _exists(top, branch):
            continue
        try:
            base = _git(["merge-base", "HEAD", branch], top).decode().strip()
        except GitError:
            continue
        if base:
            return base, branch
    raise GitError(
        f"unknown revision {rev!r}, and no default branch to compare with: fetch it "
        f"(`git fetch origin {name}`), or pass a local branch or commit (`HEAD~1`)"
    )


def _relative(path: Path, base: Path) -> str:
    return os.path.relpath(path, base).replace(os.sep, "/")


def parse_diff(diff: bytes) -> dict[str, Changes]:
    """Changed line ranges per new-side path of a `git diff -U0` patch."""
    out: dict[str, Changes] = {}
    current: Changes | None = None
    lines = diff.split(b"\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if line.startswith(b"diff --git "):
            current = None
        elif line.startswith(b"+++ ") and current is None:
            name = _unquote(line[4:].rstrip(b"\t"))
            if name is not None and name.startswith("b/"):
                current = out.setdefault(name[2:], Changes())
        elif line.startswith(b"@@ ") and current is not None:
            match = _HUNK.match(line)
            if match is None:
                continue
            old = int(match.group(1) or b"1")
            start, new = int(match.group(2)), int(match.group(3) or b"1")
            if new:
                current.lines.append((start, start + new - 1))
            else:
                current.gaps.append(start)
            # Skip the hunk body by count, so a removed or added line that itself starts
            # with "+++ " or "@@ " is never taken for a header.
            body = old + new
            while body and i < len(lines):
                if not lines[i].startswith(b"\\"):  # "\ No newline at end of file"
                    body -= 1
                i += 1
    return out


def _unquote(name: bytes) -> str | None:
    if name == b"/dev/null":
        return None
    if name.startswith(b'"') and name.endswith(b'"'):
        # git C-quotes names with unusual bytes: octal escapes of the UTF-8 bytes.
        raw = codecs.escape_decode(name[1:-1])[0]
        return os.fsdecode(raw) if isinstance(raw, bytes) else str(raw)
    return os.fsdecode(name)
