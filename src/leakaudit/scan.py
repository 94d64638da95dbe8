"""The pipeline: files → parsed packages → checks → findings, with the evidence the
report needs. One direction only: nothing here formats output."""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path

from leakaudit import checks, gomod
from leakaudit.checks.context import Package, Sink, location
from leakaudit.discovery import Target, discover
from leakaudit.facts import symbols as symbols_mod
from leakaudit.findings import Finding, Location, Severity
from leakaudit.parsing import parser
from leakaudit.result import FileRecord, ScanResult
from leakaudit.ruleset.model import Rule, RuleSet

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


@dataclass
class _Loaded:
    records: list[FileRecord]
    sources: list[parser.SourceFile]
    findings: list[Finding]
    errors: list[str]


def scan(options: ScanOptions) -> tuple[ScanResult, list[str]]:
    """Scan and return the result plus I/O problems (one line each) for stderr."""
    targets = discover(options.paths, options.root)
    rules = [r for r in options.ruleset.rules if r.id not in options.disabled]
    engine_rules = {r.id: r for r in options.ruleset.rules}
    loaded = _load(targets, options, engine_rules)
    sink = Sink(findings=list(loaded.findings))
    signatures = {k: v.results for k, v in options.ruleset.signatures.items()}
    for pkg in _packages(loaded.sources, signatures, options):
        for rule in rules:
            run = checks.get(rule.check)
            if run is None:
                continue
            try:
                run(pkg, rule, sink)
            except RecursionError:
                _analysis_error(sink, engine_rules, pkg, rule, "nesting too deep to analyze")
            except Exception as exc:  # a checker bug must not stop the scan
                _analysis_error(sink, engine_rules, pkg, rule, f"{type(exc).__name__}: {exc}")
    by_path = {s.path: s for s in loaded.sources}
    findings = [_finish(f, options, by_path, engine_rules) for f in sink.findings]
    findings = [f for f in findings if f.rule_id not in options.disabled]
    findings.sort(key=Finding.sort_key)
    root_mod = gomod.nearest(options.root) if options.root.is_dir() else None
    skipped: dict[str, int] = defaultdict(int)
    for rec in loaded.records:
        if rec.status != "scanned":
            skipped[rec.status] += 1
    result = ScanResult(
        root=str(options.root),
        findings=findings,
        rules=rules,
        files=loaded.records,
        acquisitions=sorted(sink.acquisitions, key=lambda a: (a.location, a.rule_id)),
        goroutines=sorted(sink.goroutines, key=lambda g: g.location),
        module=root_mod.module if root_mod else None,
        go_version=options.go_version or (root_mod.go if root_mod else None),
        skipped=dict(skipped),
    )
    return result, loaded.errors


def _load(targets: list[Target], options: ScanOptions, rules: dict[str, Rule]) -> _Loaded:
    loaded = _Loaded([], [], [], [])
    parse_rule = rules.get("parse-error")
    for target in targets:
        try:
            size = target.path.stat().st_size
            if size > MAX_FILE_BYTES:
                loaded.records.append(
                    FileRecord(target.rel, _pkg_dir(target.rel), 0, "too-large", f"{size} bytes")
                )
                loaded.errors.append(
                    f"{target.rel}: skipped: larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB"
                )
                continue
            content = target.path.read_bytes()
        except OSError as exc:
            loaded.records.append(
                FileRecord(
                    target.rel, _pkg_dir(target.rel), 0, "unreadable", exc.strerror or str(exc)
                )
            )
            loaded.errors.append(f"{target.rel}: cannot read: {exc.strerror or exc}")
            continue
        if not options.include_tests and target.rel.endswith("_test.go"):
            loaded.records.append(FileRecord(target.rel, _pkg_dir(target.rel), 0, "test"))
            continue
        if not content.strip():
            loaded.records.append(FileRecord(target.rel, _pkg_dir(target.rel), 0, "empty"))
            continue
        if parser.is_generated(content):
            lines = content.count(b"\n") + 1
            loaded.records.append(FileRecord(target.rel, _pkg_dir(target.rel), lines, "generated"))
            continue
        source = parser.parse(target.rel, content)
        status = "scanned"
        error = parser.first_error(source.root)
        if error is not None:
            status = "parse-error"
            if parse_rule is not None:
                loaded.findings.append(
                    Finding(
                        rule_id=parse_rule.id,
                        severity=parse_rule.severity,
                        message=parse_rule.messages["error"].format(
                            what="missing " + error.type if error.is_missing else "syntax error"
                        ),
                        location=location(source, error, first_line_only=True),
                        family=parse_rule.family,
                    )
                )
        loaded.records.append(
            FileRecord(target.rel, _pkg_dir(target.rel), source.line_count(), status)
        )
        loaded.sources.append(source)
    return loaded


def _pkg_dir(rel: str) -> str:
    return os.path.dirname(rel) or "."


def _packages(
    sources: list[parser.SourceFile], signatures: dict[str, tuple[str, ...]], options: ScanOptions
) -> list[Package]:
    groups: dict[tuple[str, str], list[parser.SourceFile]] = defaultdict(list)
    for source in sources:
        groups[(_pkg_dir(source.path), source.package.removesuffix("_test"))].append(source)
    out = []
    for (directory, _), files in sorted(groups.items()):
        mod = gomod.nearest((options.root / directory).resolve()) if options.root.is_dir() else None
        out.append(
            Package(
                directory=directory,
                files=files,
                symbols=symbols_mod.collect(files),
                signatures=signatures,
                go_version=options.go_version or (mod.go if mod else None),
            )
        )
    return out


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


def _finish(
    finding: Finding,
    options: ScanOptions,
    sources: dict[str, parser.SourceFile],
    rules: dict[str, Rule],
) -> Finding:
    """Apply severity policy (config, Go version) and attach the source excerpt."""
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
    source = sources.get(finding.location.path)
    excerpt: tuple[str, ...] = ()
    start = 0
    if source is not None:
        lines = source.content.decode("utf-8", "replace").splitlines()
        start = max(1, finding.location.line - EXCERPT_BEFORE)
        end = min(len(lines), finding.location.line + EXCERPT_AFTER)
        excerpt = tuple(lines[start - 1 : end])
    return replace(
        finding, severity=severity, message=message, excerpt=excerpt, excerpt_start=start
    )


def _go_version_of(rel: str, options: ScanOptions) -> str | None:
    if not options.root.is_dir():
        return None
    mod = gomod.nearest((options.root / _pkg_dir(rel)).resolve())
    return mod.go if mod else None
