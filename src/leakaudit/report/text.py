"""`path:line:col: rule-id: message`, one per line: what editors, CI logs and pre-commit
understand without configuration."""

from __future__ import annotations

from leakaudit.result import ScanResult


def render(result: ScanResult, **_: object) -> str:
    lines = [
        f"{f.location.path}:{f.location.line}:{f.location.col}: {f.rule_id}: {f.message}"
        for f in result.active
    ]
    return "".join(line + "\n" for line in lines)


def summary(result: ScanResult) -> str:
    """One line for stderr."""
    active = result.active
    scanned = sum(1 for f in result.files if f.status in ("scanned", "parse-error"))
    files = f"{scanned} file{'s' if scanned != 1 else ''}"
    suppressed = len(result.findings) - len(active)
    extra = f", {suppressed} suppressed" if suppressed else ""
    if not active:
        return f"leakaudit: no findings in {files}{extra}"
    counts: dict[str, int] = {}
    for f in active:
        counts[f.severity.value] = counts.get(f.severity.value, 0) + 1
    by_sev = ", ".join(
        f"{counts[s]} {s}{'s' if counts[s] != 1 else ''}"
        for s in ("error", "warning", "note")
        if s in counts
    )
    n = len(active)
    return f"leakaudit: {n} finding{'s' if n != 1 else ''} ({by_sev}) in {files}{extra}"
