"""What a scan hands to reporters: findings plus the evidence behind the report.

Reporters render this and nothing else: they never parse Go and never re-run checks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from leakaudit.findings import Finding, Location
from leakaudit.ruleset.model import Rule


@dataclass(frozen=True)
class Acquisition:
    """Every acquire site a rule matched, leaked or not: the report's 'good patterns'.

    outcome: "deferred" (a defer releases it), "released" (released on every path
    without defer), "handed-off" (returned/stored/passed), "leaked", "discarded".
    """

    rule_id: str
    family: str
    location: Location
    call: str  # e.g. "r.db.QueryContext"
    variable: str
    outcome: str
    error_checked: bool = False  # the call's error was checked before release
    # For "handed-off": where it went first ("returned at line 40", "passed to
    # store.Save() at line 12", "stored in field cancel at line 8").
    handed_to: str = ""


@dataclass(frozen=True)
class GoroutineRecord:
    """One `go` statement and how its lifetime is managed (issue: goroutine inventory).

    kind: "waitgroup" | "errgroup" | "result-channel" | "stoppable" | "server" |
    "process-lifetime" | "ends-on-its-own" | "fire-and-forget"."""

    location: Location
    function: str
    kind: str
    evidence: str = ""


@dataclass(frozen=True)
class FileRecord:
    path: str  # relative to root, forward slashes
    package: str  # directory-relative package path ("." for root)
    lines: int
    status: str = "scanned"  # "scanned" | "generated" | "parse-error" | "unreadable" | ...
    detail: str = ""


@dataclass
class ScanResult:
    root: str
    findings: list[Finding]
    rules: list[Rule]
    files: list[FileRecord] = field(default_factory=list)
    acquisitions: list[Acquisition] = field(default_factory=list)
    goroutines: list[GoroutineRecord] = field(default_factory=list)
    module: str | None = None  # go.mod module path of the root, if any
    go_version: str | None = None  # go directive of the root go.mod, if any
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> count of files

    @property
    def active(self) -> list[Finding]:
        return [f for f in self.findings if not f.suppressed]
