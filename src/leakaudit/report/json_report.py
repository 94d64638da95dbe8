"""Everything the scan knows, as JSON: findings, acquisitions (the evidence behind the
audit report's good patterns), the goroutine inventory, files and rules."""

from __future__ import annotations

import json
from dataclasses import asdict
from enum import Enum
from typing import Any

from leakaudit import __version__
from leakaudit.result import ScanResult


def _plain(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def to_dict(result: ScanResult) -> dict[str, Any]:
    return {
        "tool": {"name": "leakaudit", "version": __version__},
        "root": result.root,
        "module": result.module,
        "go_version": result.go_version,
        "summary": {
            "files": len(result.files),
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
                "severity": r.severity.value,
                "summary": r.summary,
            }
            for r in result.rules
        ],
    }


def render(result: ScanResult, **_: object) -> str:
    return json.dumps(to_dict(result), indent=2, ensure_ascii=False) + "\n"
