"""Everything the scan knows, as JSON: findings, acquisitions (the evidence behind the
audit report's good patterns), the goroutine inventory, files and rules."""

from __future__ import annotations

from dataclasses import asdict
from enum import Enum
from typing import Any

from leakaudit import __version__, ruledocs
from leakaudit.checks import REGISTRY
from leakaudit.report.locations import repo_prefix
from leakaudit.result import ScanResult
from leakaudit.writing import json_text


def _plain(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def to_dict(result: ScanResult, docs: str | None = None) -> dict[str, Any]:
    scanned = [f for f in result.files if f.status in ("scanned", "parse-error")]
    return {
        "tool": {"name": "leakaudit", "version": __version__},
        "root": result.root,
        # The root's path inside its git work tree: report links resolve from there.
        "repo_prefix": repo_prefix(result.root),
        "module": result.module,
        "go_version": result.go_version,
        "summary": {
            "files": len(result.files),
            "files_scanned": len(scanned),
            "lines_scanned": sum(f.lines for f in scanned),
            "packages_scanned": len({f.package for f in scanned}),
            "findings": len(result.active),
            "suppressed": len(result.findings) - len(result.active),
            "by_severity": {
                sev: sum(1 for f in result.active if f.severity.value == sev)
                for sev in ("error", "warning", "note")
            },
            "skipped": result.skipped,
        },
        "findings": [_plain(asdict(f)) for f in result.findings],
        "acquisitions": [_plain(asdict(a)) for a in result.acquisitions],
        "goroutines": [_plain(asdict(g)) for g in result.goroutines],
        "files": [_plain(asdict(f)) for f in result.files],
        "rules": [
            {
                "id": r.id,
                "name": r.name,
                "family": r.family,
                "family_title": r.family_title,
                "severity": r.severity.value,
                "summary": r.summary,
                "check": r.check,
                # False when this version has no implementation of the rule's check.
                "ran": r.check in REGISTRY or r.check == "diagnostic",
                "precision": r.precision,
                "tags": list(r.tags),
                "help": r.help,
                "fix": ruledocs.fix(r),
                "docs": ruledocs.docs_url(r.id, docs),
                "acquire_patterns": len(r.acquire),
                "release_methods": list(r.release.methods),
            }
            for r in result.rules
        ],
    }


def render(result: ScanResult, *, docs_url: str | None = None, **_: object) -> str:
    return json_text(to_dict(result, docs_url))
