"""One unit's analysis: parse its files, build each package's facts, run the rules'
checks, apply suppressions, and attach the evidence reporters need (excerpts, line
hashes, function spans) while the bytes are at hand. The result is plain data.

Imported on the first cache miss only: a warm scan never loads the parser or the checks.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, replace

from leakaudit import suppress
from leakaudit.checks.api import BudgetExceeded, Failure, Package, Sink, location
from leakaudit.discovery import Target
from leakaudit.facts import symbols as symbols_mod
from leakaudit.findings import Finding, Location, Severity
from leakaudit.module.summary import ModuleSignatures, PackageSummary
from leakaudit.parsing import parser
from leakaudit.parsing.syntax import FUNC_NODES
from leakaudit.report.fingerprint import line_hashes
from leakaudit.result import FileRecord
from leakaudit.ruleset.model import OWNER_VIOLATION, Rule
from leakaudit.unit import Spans, UnitContext, UnitFiles, UnitResult

EXCERPT_BEFORE, EXCERPT_AFTER = 2, 6
SUMMARY = "(summary)"  # what an analysis-error note names when the package summary failed


def analyze(
    read: UnitFiles,
    context: UnitContext,
    on_summary: Callable[[PackageSummary], None] | None = None,
) -> UnitResult:
    """The unit's result; a crash outside the checks loses this unit, never the scan.
    `on_summary` hears the package's summary as soon as it is made, before the checks
    run (the packages importing it need nothing else)."""
    try:
        return _analyze(read, context, on_summary)
    except RecursionError:
        return _crashed(read, context, "nesting too deep to analyze")
    except Exception as exc:  # a bug outside the checks
        return _crashed(read, context, f"{type(exc).__name__}: {exc}")


def _analyze(
    read: UnitFiles,
    context: UnitContext,
    on_summary: Callable[[PackageSummary], None] | None = None,
) -> UnitResult:
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
            if not target.context_only:
                lines = parser.line_count(content)
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
    sink = Sink(findings=findings, inventory=context.inventory)
    packages = _packages(read, sources, context)
    exported = _exported(packages)
    runs = [] if read.unit.facts_only else context.runs  # its summary is all it is read for
    if exported is not None and read.unit.path is not None and read.unit.imported:
        out.summary = _summary(exported, read.unit.path, sink, engine)
        if out.summary is not None and on_summary is not None:
            on_summary(out.summary)
    for pkg in packages:
        for rule, run, wanted in runs:
            try:
                if (
                    wanted is not None
                    and not pkg.interested(wanted)
                    and OWNER_VIOLATION not in rule.reports  # owner types hold it too
                ):
                    continue  # nothing in the package this rule's check looks at
                run(pkg, rule, sink)
            except RecursionError:
                _analysis_error(sink, engine, pkg, rule, "nesting too deep to analyze")
            except BudgetExceeded as exc:
                _analysis_error(sink, engine, pkg, rule, str(exc))
            except Exception as exc:  # a checker bug must not stop the scan
                _analysis_error(sink, engine, pkg, rule, f"{type(exc).__name__}: {exc}")
        pkg.release()
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


def _crashed(read: UnitFiles, context: UnitContext, why: str) -> UnitResult:
    """The unit's files as records, and one analysis-error note saying what happened."""
    out = UnitResult(problems=list(read.problems))
    for target, record, content in read.entries:
        record = record or _skipped(target, content, read.unit.directory, context)
        out.records.append(record or FileRecord(target.rel, read.unit.directory, 0, "scanned"))
    first = next((t for t, r, _ in read.entries if r is None), None)
    if first is not None:
        out.findings.extend(_analysis_note(context.engine, first.rel, "(all)", why))
    return out


def _skipped(
    target: Target, content: bytes, directory: str, context: UnitContext
) -> FileRecord | None:
    """The record of a file read but not analyzed (a test, empty, generated), or None."""
    rel = target.rel
    if not context.include_tests and rel.endswith("_test.go"):
        return FileRecord(rel, directory, 0, "test")
    if not content.strip():
        return FileRecord(rel, directory, 0, "empty")
    if parser.is_generated(content):
        return FileRecord(rel, directory, parser.line_count(content), "generated")
    return None


def _packages(
    read: UnitFiles, sources: list[parser.SourceFile], context: UnitContext
) -> list[Package]:
    groups: dict[str, list[parser.SourceFile]] = defaultdict(list)
    for source in sources:
        groups[source.package.removesuffix("_test")].append(source)
    interest = context.interest
    module = ModuleSignatures(
        context.signatures,
        read.summaries,
        context.implementations,
        read.unit.path,
        context.launched,
    )
    quiet = frozenset(t.rel for t, _, _ in read.entries if t.context_only)
    platform = context.platform
    return [
        Package(
            directory=read.unit.directory,
            files=files,
            # Files the target platform's build leaves out first: a later declaration
            # wins, so a `_windows.go` stub does not hide the real struct's fields.
            symbols=symbols_mod.collect(
                sorted(files, key=lambda f: not platform.excludes(f.path, f.content))
            ),
            signatures=module,
            go_version=read.go_version,
            interest=interest,
            resource_rules=context.resource_rules,
            lock_rules=context.lock_rules,
            owner_rules=context.owner_rules,
            quiet=quiet,
        )
        for _, files in sorted(groups.items())
    ]


def _exported(packages: list[Package]) -> Package | None:
    """The package importers see: the one with the most non-test files (a directory
    may also hold an ignored `package main` tool, or only tests)."""
    best, most = None, 0
    for pkg in packages:
        count = sum(1 for f in pkg.files if not f.is_test)
        if count > most:
            best, most = pkg, count
    return best


def _summary(pkg: Package, path: str, sink: Sink, engine: dict[str, Rule]) -> PackageSummary | None:
    """The package's summary; one it cannot compute is an analysis-error note and no
    summary (importers then see the package as before summaries: unknown)."""
    from leakaudit.module.effects import summarize

    try:
        return summarize(pkg, path)
    except RecursionError:
        _analysis_error(sink, engine, pkg, SUMMARY, "nesting too deep to analyze")
    except BudgetExceeded as exc:
        _analysis_error(sink, engine, pkg, SUMMARY, str(exc))
    except Exception as exc:  # a bug in the summaries must not stop the scan
        _analysis_error(sink, engine, pkg, SUMMARY, f"{type(exc).__name__}: {exc}")
    return None


def _analysis_error(
    sink: Sink, rules: dict[str, Rule], pkg: Package, rule: Rule | str, why: str
) -> None:
    rule_id = rule if isinstance(rule, str) else rule.id
    if pkg.files:
        sink.findings.extend(_analysis_note(rules, pkg.files[0].path, rule_id, why))


def _analysis_note(rules: dict[str, Rule], path: str, rule_id: str, why: str) -> list[Finding]:
    """The analysis-error note at the top of `path` (none when that rule is not loaded)."""
    engine = rules.get("analysis-error")
    if engine is None:
        return []
    return [
        Finding(
            rule_id=engine.id,
            severity=engine.severity,
            message=engine.messages["error"].format(rule=rule_id, why=why),
            location=Location(path, 1, 1, 1, 1),
            family=engine.family,
        )
    ]


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
    for loc in (
        finding.location,
        *(r.location for r in finding.related),
        *(step.location for step in finding.flow),
    ):
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
    out: Spans = {}
    for finding in findings:
        loc = finding.location
        key = (loc.path, loc.line, loc.col, loc.end_line)
        if key not in out:
            out[key] = function_span(sources.get(loc.path), finding)
    return out


def function_span(source: parser.SourceFile | None, finding: Finding) -> tuple[int, int]:
    """Lines of the outermost function around the finding (its own lines outside one):
    --new-from-rev keeps a finding when a change touches them."""
    loc = finding.location
    if source is None:
        return loc.line, loc.end_line
    point = (loc.line - 1, max(loc.col - 1, 0))
    node = source.root.descendant_for_point_range(point, point)
    span = (loc.line, loc.end_line)
    while node is not None:
        if node.type in FUNC_NODES:
            span = (node.start_point[0] + 1, node.end_point[0] + 1)
        node = node.parent
    return span
