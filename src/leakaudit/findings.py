"""Findings: the one data type every check produces and every reporter consumes.

Reporters never look at syntax trees, so a finding carries everything they need:
locations with byte columns *and* the source line text (for excerpts and SARIF
fingerprints are computed from the file bytes the scan already read).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"
    NOTE = "note"

    @property
    def rank(self) -> int:
        """Higher is more severe; used for sorting and --fail-on."""
        return {"error": 3, "warning": 2, "note": 1}[self.value]


@dataclass(frozen=True, order=True)
class Location:
    """A span in a file. Lines are 1-based; columns are 1-based *byte* offsets
    (tree-sitter's unit); end_col is exclusive. `path` is relative to the scan root,
    with forward slashes."""

    path: str
    line: int
    col: int
    end_line: int
    end_col: int


@dataclass(frozen=True)
class Related:
    """A secondary location, e.g. the `return` through which a resource leaks."""

    location: Location
    message: str


@dataclass(frozen=True)
class Step:
    """One step of a witness: what one goroutine (`thread`) did, and where. A
    goroutine finding's steps, in order, are the interleaving that gets stuck."""

    thread: str
    location: Location
    message: str


@dataclass(frozen=True)
class Edit:
    """One replacement of a fix: the bytes [start, end) of the finding's file become
    `text` (an insertion when start == end). Lines and columns (1-based, columns in
    bytes) locate the same span for SARIF."""

    start: int
    end: int
    line: int
    col: int
    end_line: int
    end_col: int
    text: str


@dataclass
class Finding:
    rule_id: str
    severity: Severity
    message: str
    location: Location
    related: tuple[Related, ...] = ()
    family: str = ""
    # The function (or method, or "func literal in X") that holds the finding.
    function: str = ""
    # Line-independent identity of the acquiring code (for baselines).
    snippet: str = ""
    # Filled in by the scan from the file bytes it already holds, so reporters
    # need not read files: GitHub's primaryLocationLineHash, and a few source lines
    # around the primary location (excerpt_start is the line number of excerpt[0]).
    line_hash: str = ""
    excerpt: tuple[str, ...] = ()
    excerpt_start: int = 0
    # path -> line -> text of every line a location of this finding (primary or related)
    # starts or ends on: reporters convert byte columns to characters with it and quote
    # the leaking line, which is usually outside the excerpt.
    source_lines: dict[str, dict[int, str]] = field(default_factory=dict)
    # The interleaving behind a goroutine finding, step by step (SARIF codeFlows).
    flow: tuple[Step, ...] = ()
    # A fix that is certainly right, as edits of the finding's own file (`leakaudit fix`
    # applies it, after checking it), and what it does ("insert `defer rows.Close()`").
    fix: tuple[Edit, ...] = ()
    fix_title: str = ""
    suppressed: bool = False
    suppression_reason: str = ""
    extra: dict[str, object] = field(default_factory=dict)

    def sort_key(self) -> tuple[str, int, int, str, str]:
        loc = self.location
        return (loc.path, loc.line, loc.col, self.rule_id, self.message)
