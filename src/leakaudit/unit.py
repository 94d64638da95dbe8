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
from leakaudit.module.constraints import Platform
from leakaudit.module.summary import PackageSummary
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
    # What importers of the directory's package see of it (None: not a package of a
    # module, or it could not be analyzed).
    summary: PackageSummary | None = None


@dataclass(frozen=True)
class Unit:
    directory: str
    targets: tuple[Target, ...]
    path: str | None = None  # the package's import path, from go.mod
    # Outside the scanned paths, read for its summary alone (a package the scanned
    # ones import): no checks run, nothing of it is reported.
    facts_only: bool = False
    # Some unit of the scan imports it: its summary is worth computing (most of a
    # repository's leaves, commands and test-only folders, are imported by nothing).
    imported: bool = False


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
    platform: Platform
    include_tests: bool
    inventory: bool  # goroutine records wanted (reports that show them)
    cache: Cache | None
    key_base: bytes  # the cache key's part shared by every unit
    # Interface -> its one implementation in the module, or None when several
    # (module/implementations.py); set once the files are read, before any unit runs.
    implementations: dict[str, str | None] = field(default_factory=dict)
    # Method names some file of the module starts as a goroutine (`go x.Run()`).
    launched: frozenset[str] = frozenset()
    # Contents to analyze instead of the files on disk (ScanOptions.overrides).
    overrides: dict[str, bytes] = field(default_factory=dict)

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
    def resource_rules(self) -> dict[str, Rule]:
        """Resource type -> the obligation rule following it, over every loaded rule
        (summaries do not change with --disable): the types a rule's acquire specs
        name (`returns`), or that the signatures give their calls' resource result."""
        out: dict[str, Rule] = {}
        # Rules that follow paths ("not-released") first: a type two rules share
        # (the cancel func: discarded, not called) belongs to the one that follows it.
        ordered = sorted(self.engine.values(), key=lambda r: "not-released" not in r.reports)
        for rule in ordered:
            if rule.check != "obligation":
                continue
            for spec in rule.acquire:
                kinds = [spec.returns] if spec.returns else []
                for call in spec.calls:
                    owners = [f"{spec.package}.{t}" for t in spec.types] or [spec.package]
                    for owner in owners:
                        results = self.signatures.get(f"{owner}.{call}", ())
                        if spec.resource < len(results) and results[spec.resource]:
                            kinds.append(results[spec.resource])
                for kind in kinds:
                    out.setdefault(kind, rule)
        return out

    @cached_property
    def owner_rules(self) -> tuple[Rule, ...]:
        """Rules whose owner types are found by what their constructors start
        (`options.owners`), over every loaded rule (summaries do not change with
        --disable)."""
        return tuple(
            sorted(
                (r for r in self.engine.values() if r.options.get("owners")),
                key=lambda r: r.id,
            )
        )

    @cached_property
    def lock_rules(self) -> dict[str, Rule]:
        """Family -> the rule whose receiver acquisitions (a held lock) summaries
        describe, over every loaded rule: the rules of a family share them (the three
        lock rules), so one, the first by id, stands for the family."""
        out: dict[str, Rule] = {}
        for rule in sorted(self.engine.values(), key=lambda r: r.id):
            if any(spec.receiver for spec in rule.acquire):
                out.setdefault(rule.family, rule)
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
    # The summaries of the module packages it imports, by import path.
    summaries: dict[str, PackageSummary] = field(default_factory=dict)
    # The cache key of its summary alone (None: no cache, or no import path).
    summary_key: str | None = None
