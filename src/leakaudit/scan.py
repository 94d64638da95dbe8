"""The pipeline: files → per-directory units of work → merged, sorted findings with the
evidence the report needs. One direction only: nothing here formats output.

A unit is one directory: read, parse, package facts, checks, suppressions, excerpts
and fingerprints for its packages, ending in plain picklable data. Its syntax trees
are dropped when it is done (memory stays bounded by the largest package), units run
in worker processes (`jobs`), and a unit's result is cached under the content of all
its files (`cache_dir`). Whatever the number of workers, results are merged in unit
order and sorted, so the output is identical.
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
from collections import defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from leakaudit import checks, gomod, suppress
from leakaudit.checks.context import BudgetExceeded, Failure, Interest, Package, Sink, location
from leakaudit.discovery import Target, discover, siblings
from leakaudit.facts import symbols as symbols_mod
from leakaudit.findings import Finding, Location, Severity
from leakaudit.parsing import parser
from leakaudit.report.fingerprint import line_hashes
from leakaudit.result import Acquisition, FileRecord, GoroutineRecord, ScanResult
from leakaudit.ruleset.model import Rule, RuleSet

if TYPE_CHECKING:
    from leakaudit.baseline import Baseline
    from leakaudit.cache import Cache
    from leakaudit.gitdiff import Changes

MAX_FILE_BYTES = 20 * 1024 * 1024
EXCERPT_BEFORE, EXCERPT_AFTER = 2, 6


@dataclass
class ScanOptions:
    paths: list[str]
    root: Path
    ruleset: RuleSet
    go_version: str | None = None  # overrides go.mod
    include_tests: bool = True
    disabled: frozenset[str] = frozenset()
    severity: dict[str, Severity] = field(default_factory=dict)
    # Workflow: excluded globs (config), findings outside changed functions dropped
    # (--new-from-rev; None keeps all), findings in a baseline marked suppressed.
    exclude: tuple[str, ...] = ()
    changed: dict[str, Changes] | None = None
    baseline: Baseline | None = None
    # Performance: worker processes (1: scan in this process) and the result cache
    # folder (None: no cache). Neither changes the output.
    jobs: int = 1
    cache_dir: Path | None = None


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
class _Unit:
    directory: str
    targets: tuple[Target, ...]


@dataclass
class _Context:
    """Everything a unit needs besides its files (inherited by, or sent once to, each
    worker)."""

    rules: list[Rule]  # the rules that run
    engine: dict[str, Rule]  # every loaded rule, by id
    interests: dict[str, Interest | None]  # rule id -> what its check looks for
    signatures: dict[str, tuple[str, ...]]
    root: Path
    go_version: str | None
    include_tests: bool
    cache: Cache | None
    key_base: bytes  # the cache key's part shared by every unit

    @property
    def interest(self) -> Interest:
        out = Interest()
        for wanted in self.interests.values():
            if wanted is not None:
                out = out | wanted
        return out


def scan(options: ScanOptions) -> tuple[ScanResult, list[str]]:
    """Scan and return the result plus I/O problems (one line each) for stderr."""
    targets = discover(options.paths, options.root)
    targets, excluded = _exclude(targets, options.exclude)
    context_files, _ = _exclude(siblings(options.paths, targets, options.root), options.exclude)
    rules = [r for r in options.ruleset.rules if r.id not in options.disabled]
    engine_rules = {r.id: r for r in options.ruleset.rules}
    context = _context(options, rules, engine_rules)
    units = _units(sorted(targets + context_files, key=lambda t: t.rel))
    findings: list[Finding] = []
    acquisitions: list[Acquisition] = []
    goroutines: list[GoroutineRecord] = []
    records: list[FileRecord] = list(excluded)
    problems: list[tuple[str, str]] = []
    spans: Spans = {}
    for unit_result in _run(units, context, max(1, options.jobs)):
        findings.extend(unit_result.findings)
        acquisitions.extend(unit_result.acquisitions)
        goroutines.extend(unit_result.goroutines)
        records.extend(unit_result.records)
        problems.extend(unit_result.problems)
        spans.update(unit_result.spans)
    findings = [_policy(f, options, engine_rules) for f in findings]
    findings = [f for f in findings if f.rule_id not in options.disabled]
    findings = _in_scope(findings, options, spans)
    findings.sort(key=Finding.sort_key)
    records.sort(key=lambda r: r.path)
    order = {t.rel: i for i, t in enumerate(targets)}
    problems.sort(key=lambda p: order.get(p[0], len(order)))
    root_mod = gomod.nearest(options.root) if options.root.is_dir() else None
    skipped: dict[str, int] = defaultdict(int)
    for rec in records:
        if rec.status != "scanned":
            skipped[rec.status] += 1
    result = ScanResult(
        root=str(options.root),
        findings=findings,
        rules=rules,
        files=records,
        acquisitions=sorted(acquisitions, key=lambda a: (a.location, a.rule_id)),
        goroutines=sorted(goroutines, key=lambda g: g.location),
        module=root_mod.module if root_mod else None,
        go_version=options.go_version or (root_mod.go if root_mod else None),
        skipped=dict(skipped),
    )
    return result, [message for _, message in problems]


def _context(options: ScanOptions, rules: list[Rule], engine: dict[str, Rule]) -> _Context:
    cache = None
    key_base = b""
    if options.cache_dir is not None:
        from leakaudit.cache import Cache, code_version, hasher

        cache = Cache(options.cache_dir)
        digest = hasher()
        for part in (
            code_version(),
            repr(options.ruleset.rules),
            repr(sorted(options.ruleset.signatures.items())),
            repr(sorted(r.id for r in rules)),
            repr(options.go_version),
            repr(options.include_tests),
        ):
            digest.update(part.encode("utf-8", "surrogateescape") + b"\0")
        key_base = digest.digest()
    return _Context(
        rules=rules,
        engine=engine,
        interests={r.id: checks.interest(r) for r in rules if checks.get(r.check) is not None},
        signatures={k: v.results for k, v in options.ruleset.signatures.items()},
        root=options.root,
        go_version=options.go_version,
        include_tests=options.include_tests,
        cache=cache,
        key_base=key_base,
    )


def _pkg_dir(rel: str) -> str:
    return os.path.dirname(rel) or "."


def _units(targets: list[Target]) -> list[_Unit]:
    groups: dict[str, list[Target]] = defaultdict(list)
    for target in targets:
        groups[_pkg_dir(target.rel)].append(target)
    return [_Unit(directory, tuple(members)) for directory, members in sorted(groups.items())]


def _size(unit: _Unit) -> int:
    """Bytes on disk, to start the biggest units first."""
    size = 0
    for target in unit.targets:
        with contextlib.suppress(OSError):
            size += target.path.stat().st_size
    return size


# -- running units ---------------------------------------------------------------------------


def _run(units: list[_Unit], context: _Context, jobs: int) -> list[UnitResult]:
    """Every unit's result, in unit order. This process takes units from the cache until
    the first miss, so a warm scan never starts a worker; from there a process pool
    takes the rest, biggest first (each worker still uses the cache)."""
    results: list[UnitResult | None] = [None] * len(units)
    pending = list(range(len(units)))
    if jobs > 1 and len(units) > 1:
        if context.cache is not None:
            while pending:
                hit = _cached(_read(units[pending[0]], context), context)
                if hit is None:
                    break
                results[pending.pop(0)] = hit
        if len(pending) > 1:
            _run_pool(units, pending, context, jobs, results)
            pending = [i for i in pending if results[i] is None]
    for i in pending:  # jobs == 1, a single unit, or what a broken worker left undone
        results[i] = run_unit(units[i], context)
    return [r for r in results if r is not None]


_WORKER_CONTEXT: _Context | None = None


def _init_worker(context: _Context) -> None:
    global _WORKER_CONTEXT
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C
    _WORKER_CONTEXT = context


def _worker_unit(unit: _Unit) -> UnitResult:
    assert _WORKER_CONTEXT is not None
    return run_unit(unit, _WORKER_CONTEXT)


def _run_pool(
    units: list[_Unit],
    indices: list[int],
    context: _Context,
    jobs: int,
    results: list[UnitResult | None],
) -> None:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    # fork shares the loaded rules and modules with the workers for free; elsewhere the
    # context is pickled once per worker.
    method = "fork" if sys.platform.startswith("linux") else None
    sizes = {i: _size(units[i]) for i in indices}
    order = sorted(indices, key=lambda i: (-sizes[i], i))
    pool = ProcessPoolExecutor(
        max_workers=min(jobs, len(order)),
        mp_context=multiprocessing.get_context(method),
        initializer=_init_worker,
        initargs=(context,),
    )
    try:
        futures = {pool.submit(_worker_unit, units[i]): i for i in order}
        for future in as_completed(futures):
            # A worker that died (killed, out of memory) leaves its unit to this process.
            with contextlib.suppress(Exception):
                results[futures[future]] = future.result()
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


# -- one unit --------------------------------------------------------------------------------


@dataclass
class _Read:
    """A unit's files as read: their bytes, or the record of why there are none, the
    problems to report, and the cache key (None: something could not be read, do not
    cache)."""

    unit: _Unit
    entries: list[tuple[Target, FileRecord | None, bytes]]
    problems: list[tuple[str, str]]
    go_version: str | None
    key: str | None


def _read(unit: _Unit, context: _Context) -> _Read:
    entries: list[tuple[Target, FileRecord | None, bytes]] = []
    problems: list[tuple[str, str]] = []
    directory = unit.directory
    go_version = context.go_version
    if go_version is None and context.root.is_dir():
        mod = gomod.nearest(context.root / directory)  # it resolves the path itself
        go_version = mod.go if mod else None
    digest = None
    if context.cache is not None:
        from leakaudit.cache import hasher

        digest = hasher()
        digest.update(context.key_base)
        digest.update(f"\0{directory}\0{go_version}\0".encode("utf-8", "surrogateescape"))
    cacheable = True
    for target in unit.targets:
        rel = target.rel
        try:
            info = target.path.stat()
            if not stat.S_ISREG(info.st_mode):
                # A FIFO or device named *.go would block or never end.
                raise OSError(0, "not a regular file")
            size = info.st_size
            if size > MAX_FILE_BYTES:
                record = FileRecord(rel, directory, 0, "too-large", f"{size} bytes")
                entries.append((target, record, b""))
                problems.append(
                    (rel, f"{rel}: skipped: larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB")
                )
                if digest is not None:
                    digest.update(f"\0{rel}\0large\0{size}".encode("utf-8", "surrogateescape"))
                continue
            content = target.path.read_bytes()
        except OSError as exc:
            why = exc.strerror or str(exc)
            entries.append((target, FileRecord(rel, directory, 0, "unreadable", why), b""))
            if not target.context_only:
                problems.append((rel, f"{rel}: cannot read: {why}"))
            cacheable = False
            continue
        if digest is not None:
            role = "context" if target.context_only else "target"  # results differ by role
            digest.update(f"\0{rel}\0{role}\0{len(content)}\0".encode("utf-8", "surrogateescape"))
            digest.update(content)
        entries.append((target, None, content))  # classified by _analyze, on a miss only
    key = digest.hexdigest() if digest is not None and cacheable else None
    return _Read(unit, entries, problems, go_version, key)


def _cached(read: _Read, context: _Context) -> UnitResult | None:
    if context.cache is None or read.key is None:
        return None
    found = context.cache.get("unit", read.key)
    return found if isinstance(found, UnitResult) else None


def run_unit(unit: _Unit, context: _Context) -> UnitResult:
    """Read, analyze and finish one directory (or take it from the cache)."""
    read = _read(unit, context)
    hit = _cached(read, context)
    if hit is not None:
        return hit
    try:
        result = _analyze(read, context)
    except RecursionError:
        result = _crashed(read, context, "nesting too deep to analyze")
    except Exception as exc:  # a bug outside the checks: lose this unit, not the scan
        result = _crashed(read, context, f"{type(exc).__name__}: {exc}")
    if context.cache is not None and read.key is not None:
        context.cache.put("unit", read.key, result)
    return result


def _analyze(read: _Read, context: _Context) -> UnitResult:
    engine = context.engine
    parse_rule = engine.get("parse-error")
    out = UnitResult(problems=list(read.problems))
    sources: list[parser.SourceFile] = []
    findings: list[Finding] = []
    for target, record, content in read.entries:
        record = record or _skipped(target, content, read.unit.directory, context)
        if record is not None:
            if not target.context_only:
                out.records.append(record)
            continue
        try:
            source = parser.parse(target.rel, content)
        except Exception as exc:  # the parser itself failed: this file alone is lost
            lines = content.count(b"\n") + (0 if content.endswith(b"\n") else 1)
            if not target.context_only:
                out.records.append(
                    FileRecord(target.rel, read.unit.directory, lines, "parse-error")
                )
            if parse_rule is not None:
                findings.append(
                    _parse_error(
                        parse_rule,
                        Location(target.rel, 1, 1, 1, 1),
                        f"cannot parse ({type(exc).__name__})",
                    )
                )
            continue
        status = "scanned"
        error = parser.first_error(source.root)
        if error is not None:
            status = "parse-error"
            if parse_rule is not None:
                what = "missing " + error.type if error.is_missing else "syntax error"
                findings.append(
                    _parse_error(parse_rule, location(source, error, first_line_only=True), what)
                )
        if not target.context_only:
            out.records.append(
                FileRecord(target.rel, read.unit.directory, source.line_count(), status)
            )
        sources.append(source)
    sink = Sink(findings=findings)
    for pkg in _packages(read.unit.directory, sources, read.go_version, context):
        for rule in context.rules:
            run = checks.get(rule.check)
            if run is None:
                continue
            wanted = context.interests.get(rule.id)
            try:
                if wanted is not None and not pkg.interested(wanted):
                    continue  # nothing in the package this rule's check looks at
                run(pkg, rule, sink)
            except RecursionError:
                _analysis_error(sink, engine, pkg, rule, "nesting too deep to analyze")
            except BudgetExceeded as exc:
                _analysis_error(sink, engine, pkg, rule, str(exc))
            except Exception as exc:  # a checker bug must not stop the scan
                _analysis_error(sink, engine, pkg, rule, f"{type(exc).__name__}: {exc}")
    sink.findings.extend(_failure_finding(f, engine) for f in sink.failures)
    by_path = {s.path: s for s in sources}
    enabled = {r.id for r in context.rules}
    sink.findings = suppress.apply(sink.findings, by_path, engine, enabled)
    # Siblings were read for their facts; findings belong to the files asked for.
    context_only = {t.rel for t, _, _ in read.entries if t.context_only}
    if context_only:
        sink.findings = [f for f in sink.findings if f.location.path not in context_only]
        sink.acquisitions = [a for a in sink.acquisitions if a.location.path not in context_only]
        sink.goroutines = [g for g in sink.goroutines if g.location.path not in context_only]
    out.findings = _evidence(sink.findings, by_path)
    out.acquisitions = sink.acquisitions
    out.goroutines = sink.goroutines
    out.spans = _spans(out.findings, by_path)
    return out


def _parse_error(rule: Rule, where: Location, what: str) -> Finding:
    return Finding(
        rule_id=rule.id,
        severity=rule.severity,
        message=rule.messages["error"].format(what=what),
        location=where,
        family=rule.family,
    )


def _crashed(read: _Read, context: _Context, why: str) -> UnitResult:
    """The unit's files as records, and one analysis-error note saying what happened."""
    out = UnitResult(problems=list(read.problems))
    for target, record, content in read.entries:
        record = record or _skipped(target, content, read.unit.directory, context)
        out.records.append(record or FileRecord(target.rel, read.unit.directory, 0, "scanned"))
    engine = context.engine.get("analysis-error")
    first = next((t for t, r, _ in read.entries if r is None), None)
    if engine is not None and first is not None:
        out.findings.append(
            Finding(
                rule_id=engine.id,
                severity=engine.severity,
                message=engine.messages["error"].format(rule="(all)", why=why),
                location=Location(first.rel, 1, 1, 1, 1),
                family=engine.family,
            )
        )
    return out


def _skipped(
    target: Target, content: bytes, directory: str, context: _Context
) -> FileRecord | None:
    """The record of a file read but not analyzed (a test, empty, generated), or None."""
    rel = target.rel
    if not context.include_tests and rel.endswith("_test.go"):
        return FileRecord(rel, directory, 0, "test")
    if not content.strip():
        return FileRecord(rel, directory, 0, "empty")
    if parser.is_generated(content):
        return FileRecord(rel, directory, content.count(b"\n") + 1, "generated")
    return None


def _packages(
    directory: str,
    sources: list[parser.SourceFile],
    go_version: str | None,
    context: _Context,
) -> list[Package]:
    groups: dict[str, list[parser.SourceFile]] = defaultdict(list)
    for source in sources:
        groups[source.package.removesuffix("_test")].append(source)
    interest = context.interest
    return [
        Package(
            directory=directory,
            files=files,
            symbols=symbols_mod.collect(files),
            signatures=context.signatures,
            go_version=go_version,
            interest=interest,
        )
        for _, files in sorted(groups.items())
    ]


def _analysis_error(sink: Sink, rules: dict[str, Rule], pkg: Package, rule: Rule, why: str) -> None:
    engine = rules.get("analysis-error")
    if engine is None or not pkg.files:
        return
    first = pkg.files[0]
    sink.findings.append(
        Finding(
            rule_id=engine.id,
            severity=engine.severity,
            message=engine.messages["error"].format(rule=rule.id, why=why),
            location=Location(first.path, 1, 1, 1, 1),
            family=engine.family,
        )
    )


def _failure_finding(failure: Failure, rules: dict[str, Rule]) -> Finding:
    """One function a rule could not analyze (over budget, too deep, a checker bug)."""
    engine = rules.get("analysis-error")
    values = {"rule": failure.rule_id, "why": failure.why, "function": failure.function}
    if engine is None:  # engine rules not loaded: still say it, in the plainest form
        return Finding(
            rule_id="analysis-error",
            severity=Severity.NOTE,
            message=f"rule {failure.rule_id} could not analyze {failure.function}: {failure.why}",
            location=failure.location,
            function=failure.function,
        )
    template = engine.messages.get("function") or engine.messages["error"]
    return Finding(
        rule_id=engine.id,
        severity=engine.severity,
        message=template.format(**values),
        location=failure.location,
        family=engine.family,
        function=failure.function,
        extra={"violation": "function"},
    )


# -- evidence (inside the unit, while the file bytes are at hand) ----------------------------


@dataclass
class _FileText:
    """A file's lines and GitHub line hashes, computed once per file with findings."""

    lines: list[str]
    hashes: dict[int, str]

    @classmethod
    def of(cls, source: parser.SourceFile, wanted: set[int]) -> _FileText:
        text = source.content.decode("utf-8", "replace")
        # Split on LF only, as tree-sitter counts lines (str.splitlines also splits on
        # form feeds and other separators, which would shift every later line).
        lines = [ln.removesuffix("\r") for ln in text.split("\n")]
        # Only the lines findings start on: the hash scan stops once it has them.
        return cls(lines, line_hashes(text, wanted))


def _evidence(findings: list[Finding], sources: dict[str, parser.SourceFile]) -> list[Finding]:
    """Attach the source excerpt, the lines the locations touch and GitHub's line hash
    (reporters never read files)."""
    wanted: dict[str, set[int]] = defaultdict(set)
    for finding in findings:
        wanted[finding.location.path].add(finding.location.line)
    per_file: dict[str, _FileText] = {}
    return [_finish(f, sources, per_file, wanted) for f in findings]


def _finish(
    finding: Finding,
    sources: dict[str, parser.SourceFile],
    per_file: dict[str, _FileText],
    wanted: dict[str, set[int]],
) -> Finding:
    excerpt: tuple[str, ...] = ()
    start = 0
    line_hash = ""
    touched: dict[str, dict[int, str]] = {}
    for loc in (finding.location, *(r.location for r in finding.related)):
        source = sources.get(loc.path)
        if source is None:
            continue
        if loc.path not in per_file:
            per_file[loc.path] = _FileText.of(source, wanted.get(loc.path, set()))
        lines = per_file[loc.path].lines
        for n in (loc.line, loc.end_line):
            if 1 <= n <= len(lines):
                touched.setdefault(loc.path, {})[n] = lines[n - 1]
    if finding.location.path in per_file:
        text = per_file[finding.location.path]
        line_hash = text.hashes.get(finding.location.line, "")
        start = max(1, finding.location.line - EXCERPT_BEFORE)
        end = min(len(text.lines), finding.location.line + EXCERPT_AFTER)
        excerpt = tuple(text.lines[start - 1 : end])
    return replace(
        finding,
        excerpt=excerpt,
        excerpt_start=start,
        line_hash=line_hash,
        source_lines=touched,
    )


def _spans(findings: list[Finding], sources: dict[str, parser.SourceFile]) -> Spans:
    if not findings:
        return {}
    from leakaudit.gitdiff import function_span

    out: Spans = {}
    for finding in findings:
        loc = finding.location
        key = (loc.path, loc.line, loc.col, loc.end_line)
        if key not in out:
            out[key] = function_span(sources.get(loc.path), finding)
    return out


# -- after the merge: options that do not change what units compute -------------------------


def _policy(finding: Finding, options: ScanOptions, rules: dict[str, Rule]) -> Finding:
    """Apply severity policy (config, Go version)."""
    rule = rules.get(finding.rule_id)
    severity = finding.severity
    message = finding.message
    if rule is not None:
        relaxed_from = rule.options.get("relaxed-from-go")
        if isinstance(relaxed_from, str):
            version = options.go_version or _go_version_of(finding.location.path, options)
            if version is None or gomod.version_tuple(version) >= gomod.version_tuple(relaxed_from):
                severity = Severity(str(rule.options.get("relaxed-severity", "note")))
                reason = rule.options.get("relaxed-reason")
                if reason:
                    message = f"{message} ({reason})"
    severity = options.severity.get(finding.rule_id, severity)
    if severity is finding.severity and message is finding.message:
        return finding
    return replace(finding, severity=severity, message=message)


def _go_version_of(rel: str, options: ScanOptions) -> str | None:
    if not options.root.is_dir():
        return None
    mod = gomod.nearest((options.root / _pkg_dir(rel)).resolve())
    return mod.go if mod else None


def _exclude(
    targets: list[Target], patterns: tuple[str, ...]
) -> tuple[list[Target], list[FileRecord]]:
    """Drop files matching the configured exclude globs, recording each as excluded."""
    if not patterns:
        return targets, []
    from leakaudit.config import excluded

    kept, dropped = [], []
    for target in targets:
        if excluded(target.rel, patterns):
            dropped.append(FileRecord(target.rel, _pkg_dir(target.rel), 0, "excluded"))
        else:
            kept.append(target)
    return kept, dropped


def _in_scope(findings: list[Finding], options: ScanOptions, spans: Spans) -> list[Finding]:
    """--new-from-rev, then --baseline. Both run after suppressions, so a directive counts
    as used even when the finding it silences is out of scope."""
    if options.changed is not None:
        kept = []
        for finding in findings:
            changes = options.changed.get(finding.location.path)
            if changes is None:
                continue
            loc = finding.location
            span = spans.get((loc.path, loc.line, loc.col, loc.end_line), (loc.line, loc.end_line))
            if changes.touches(*span):
                kept.append(finding)
        findings = kept
    if options.baseline is not None:
        findings = options.baseline.apply(findings, options.root)
    return findings
