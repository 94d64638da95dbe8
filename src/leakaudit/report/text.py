"""`path:line:col: rule-id: message`, one per line: what editors, CI logs and pre-commit
understand without configuration."""

from __future__ import annotations

from leakaudit.findings import Step
from leakaudit.report.locations import shown_path
from leakaudit.result import ScanResult

MAX_STEPS = 12  # witness steps shown under a finding; the SARIF has them all


def render(result: ScanResult, **_: object) -> str:
    lines: list[str] = []
    for f in result.active:
        where = f"{shown_path(f.location.path)}:{f.location.line}:{f.location.col}"
        fixable = " [fixable]" if f.fix else ""
        lines.append(f"{where}: {f.rule_id}: {' '.join(f.message.split())}{fixable}")
        lines += steps(f.flow, MAX_STEPS, "    ")
    return "".join(line + "\n" for line in lines)


def steps(flow: tuple[Step, ...], limit: int, indent: str) -> list[str]:
    """The witness as numbered lines (the last `limit` steps, where it gets stuck)."""
    shown = flow[-limit:]
    first = len(flow) - len(shown) + 1
    out = [f"{indent}({first - 1} earlier steps)"] if first > 1 else []
    for n, step in enumerate(shown, start=first):
        out.append(f"{indent}{n}. line {step.location.line}, {step.thread}: {step.message}")
    return out


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
    fixable = sum(1 for f in active if f.fix)
    hint = f"; {fixable} fixable with `leakaudit fix`" if fixable else ""
    return f"leakaudit: {n} finding{'s' if n != 1 else ''} ({by_sev}) in {files}{extra}{hint}"
