"""A unit of work (one directory) and what flows in and out of it: plain data, shared by
the scan that schedules and caches units and the analysis that computes one.

Kept apart from both so that a warm scan, which only reads files and takes results
from the cache, never imports the parser, the facts or the checks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from leakaudit.discovery import Target
from leakaudit.findings import Finding
from leakaudit.result import Acquisition, FileRecord, GoroutineRecord
from leakaudit.ruleset.model import Rule

if TYPE_CHECKING:
    from leakaudit.cache import Cache
    from leakaudit.checks import CheckFn
    from leakaudit.checks.api import Interest

# (path, line, col, end_line) of a finding -> first and last line of the outermost
# function around it (--new-from-rev keeps a finding when a change touches those).
Spans = dict[tuple[str, int, int, int], tuple[int, int]]


@dataclass
class UnitResult:
    """What one directory produced: plain data, picklable, cacheable."""

    findings: list[Finding] = field(default_factory=list)
    acquisitions: list[Acquisition] = field(default_factory=list)
    goroutines: list[GoroutineRecord] = field(default_factory=list)
    records: list[FileRecord] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)  # (path, one line)
    spans: Spans = field(default_factory=dict)


@dataclass(frozen=True)
class Unit:
    directory: str
    targets: tuple[Target, ...]


@dataclass
class UnitContext:
    """Everything a unit needs besides its files (inherited by, or sent once to, each
    worker)."""

    rules: list[Rule]  # the rules that run
    engine: dict[str, Rule]  # every loaded rule, by id
    signatures: dict[str, tuple[str, ...]]
    root: Path
    real_root: str  # resolved once: packages' go.mod is looked up below it
    go_version: str | None
    include_tests: bool
    inventory: bool  # goroutine records wanted (reports that show them)
    cache: Cache | None
    key_base: bytes  # the cache key's part shared by every unit

    @cached_property
    def interests(self) -> dict[str, Interest | None]:
        """Rule id -> what its check looks for; asked on the first cache miss only (it
        imports every check)."""
        from leakaudit import checks

        return {r.id: checks.interest(r) for r in self.rules if checks.get(r.check) is not None}

    @cached_property
    def runs(self) -> list[tuple[Rule, CheckFn, Interest | None]]:
        """(rule, its check, what the check looks for) for each rule that runs, in order:
        resolved once, not per rule and package."""
        from leakaudit import checks

        out = []
        for rule in self.rules:
            run = checks.get(rule.check)
            if run is not None:
                out.append((rule, run, self.interests.get(rule.id)))
        return out

    @cached_property
    def interest(self) -> Interest:
        """What any rule looks for: the package index is built for all of them at once."""
        from leakaudit.checks.api import Interest

        out = Interest()
        for wanted in self.interests.values():
            if wanted is not None:
                out = out | wanted
        return out


@dataclass
class UnitFiles:
    """A unit's files as read: their bytes, or the record of why there are none, the
    problems to report, and the cache key (None: something could not be read, do not
    cache)."""

    unit: Unit
    entries: list[tuple[Target, FileRecord | None, bytes]]
    problems: list[tuple[str, str]]
    go_version: str | None
    key: str | None
