"""Apply the fixes a scan found, only after checking them.

For each file: the fixes' edits must not overlap (a later one that does waits for the
next run); applied bottom-up, the file must parse with no more errors than before; and
a scan of the edited bytes (ScanOptions.overrides: nothing is written yet) must no
longer report the fixed findings, nor anything new in that file. A file that fails a
check keeps its bytes, and the reason is said. Only then are files replaced, each
atomically, and only files the scan was asked to look at.
"""

from __future__ import annotations

import difflib
from collections import Counter
from dataclasses import dataclass, field, replace

from leakaudit.findings import Edit, Finding
from leakaudit.parsing.parser import error_count, parse
from leakaudit.result import ScanResult
from leakaudit.scan import ScanOptions, scan


@dataclass
class FileFix:
    rel: str  # relative to the scan root, as findings name it
    before: bytes
    after: bytes = b""
    fixed: list[Finding] = field(default_factory=list)


@dataclass
class Plan:
    files: list[FileFix] = field(default_factory=list)  # checked: safe to write
    skipped: list[tuple[Finding, str]] = field(default_factory=list)  # (finding, why not)

    @property
    def fixed(self) -> list[Finding]:
        return [f for ff in self.files for f in ff.fixed]


def plan(result: ScanResult, options: ScanOptions) -> Plan:
    """The fixes of `result`'s active findings that pass every check."""
    out = Plan()
    by_file: dict[str, list[Finding]] = {}
    for finding in result.active:
        if finding.fix:
            by_file.setdefault(finding.location.path, []).append(finding)
    candidates: list[FileFix] = []
    for rel, findings in sorted(by_file.items()):
        path = options.root / rel
        try:
            before = path.read_bytes()
        except OSError as exc:
            out.skipped += [(f, f"cannot read: {exc.strerror or exc}") for f in findings]
            continue
        kept, overlapping = _without_overlaps(findings)
        out.skipped += [(f, "overlaps another fix (run fix again)") for f in overlapping]
        try:
            after = apply_edits(before, [e for f in kept for e in f.fix])
        except ValueError as exc:
            out.skipped += [(f, str(exc)) for f in kept]
            continue
        candidates.append(FileFix(rel, before, after, kept))
    out.files = _checked(candidates, result, options, out.skipped)
    return out


def apply_edits(content: bytes, edits: list[Edit]) -> bytes:
    """`content` with `edits` applied, last first, so earlier offsets stay true."""
    ordered = sorted(edits, key=lambda e: (e.start, e.end), reverse=True)
    out = content
    limit = len(content)
    for edit in ordered:
        if not 0 <= edit.start <= edit.end <= limit:
            raise ValueError("a fix's edit lies outside the file (was it changed?)")
        out = out[: edit.start] + edit.text.encode("utf-8") + out[edit.end :]
        limit = edit.start
    return out


def unified_diff(fix: FileFix) -> str:
    before = fix.before.decode("utf-8", "replace").splitlines(keepends=True)
    after = fix.after.decode("utf-8", "replace").splitlines(keepends=True)
    return "".join(difflib.unified_diff(before, after, f"a/{fix.rel}", f"b/{fix.rel}"))


def write(plan_: Plan, options: ScanOptions) -> list[tuple[str, str]]:
    """Replace each checked file; (path, why) for those that could not be written."""
    from leakaudit.writing import write_bytes

    failed = []
    for fix in plan_.files:
        path = options.root / fix.rel
        try:
            if path.read_bytes() != fix.before:
                raise OSError(0, "changed since it was scanned")
            write_bytes(path, fix.after)
        except OSError as exc:
            failed.append((fix.rel, exc.strerror or str(exc)))
    return failed


def _without_overlaps(findings: list[Finding]) -> tuple[list[Finding], list[Finding]]:
    kept: list[Finding] = []
    spans: list[tuple[int, int]] = []
    dropped = []
    for finding in sorted(findings, key=lambda f: min(e.start for e in f.fix)):
        mine = [(e.start, e.end) for e in finding.fix]
        if any(_touch(a, b) for a in mine for b in spans):
            dropped.append(finding)
            continue
        kept.append(finding)
        spans += mine
    return kept, dropped


def _touch(a: tuple[int, int], b: tuple[int, int]) -> bool:
    """Two edits overlap, or insert at the same place (their order would be a guess)."""
    return (a[0] < b[1] and b[0] < a[1]) or a[0] == b[0]


def _key(finding: Finding) -> tuple[str, str, str, str]:
    """A finding's identity that survives lines moving: rule, file, function, code."""
    return (finding.rule_id, finding.location.path, finding.function, finding.snippet)


def _checked(
    candidates: list[FileFix],
    result: ScanResult,
    options: ScanOptions,
    skipped: list[tuple[Finding, str]],
) -> list[FileFix]:
    """The candidates whose edited bytes parse and scan as promised. A file that fails
    is dropped and the rest checked again (a file's fix can change what its package's
    other files report)."""
    ok = []
    for fix in candidates:
        before, after = parse(fix.rel, fix.before), parse(fix.rel, fix.after)
        if error_count(after.root) > error_count(before.root):
            skipped += [(f, "the fixed file would not parse") for f in fix.fixed]
        else:
            ok.append(fix)
    before = Counter(_key(f) for f in result.active)
    while ok:
        again, _ = scan(
            replace(options, overrides={f.rel: f.after for f in ok}, cache_dir=None, jobs=1)
        )
        after = Counter(_key(f) for f in again.active)
        failing = []
        for fix in ok:
            gone = Counter(_key(f) for f in fix.fixed)
            worse = [k for k in after if k[1] == fix.rel and after[k] > before[k] - gone.get(k, 0)]
            if worse:
                remains = any(k in gone for k in worse)
                why = "the finding would remain" if remains else f"it would add {worse[0][0]}"
                skipped += [(f, why) for f in fix.fixed]
                failing.append(fix)
        if not failing:
            return ok
        ok = [f for f in ok if f not in failing]
    return ok
