"""`path:line:col: severity: message (rule-id)`, one per line, in staticcheck's form
with the severity added: what editors, CI problem matchers and pre-commit understand
without configuration. Test files are marked, and so are findings `leakaudit fix`
can fix."""

from __future__ import annotations

import os
import posixpath
from collections import Counter
from collections.abc import Callable

from leakaudit.findings import Step
from leakaudit.report.locations import shown_path
from leakaudit.result import ScanResult

MAX_STEPS = 12  # witness steps shown under a finding; the SARIF has them all


# ANSI colours for --color: severity as go tools' colouring linters show it, the rest dim.
_COLORS = {"error": "\x1b[1;31m", "warning": "\x1b[1;33m", "note": "\x1b[1;36m"}
_BOLD, _DIM, _RESET = "\x1b[1m", "\x1b[2m", "\x1b[0m"


def render(result: ScanResult, *, color: bool = False, **_: object) -> str:
    lines: list[str] = []
    here = _from_cwd(result.root)
    for f in result.active:
        where = f"{shown_path(here(f.location.path))}:{f.location.line}:{f.location.col}"
        marks = " [test]" if f.location.path.endswith("_test.go") else ""
        marks += " [fixable]" if f.fix else ""
        message = " ".join(f.message.split())
        severity, rule = f.severity.value, f"({f.rule_id})"
        if color:
            where = f"{_BOLD}{where}{_RESET}"
            severity = f"{_COLORS[severity]}{severity}{_RESET}"
            rule, marks = f"{_DIM}{rule}{_RESET}", f"{_DIM}{marks}{_RESET}" if marks else ""
        lines.append(f"{where}: {severity}: {message} {rule}{marks}")
        lines += steps(f.flow, MAX_STEPS, "    ")
    return "".join(line + "\n" for line in lines)


def _from_cwd(root: str) -> Callable[[str], str]:
    """Root-relative paths as paths from the current directory, as go vet prints them,
    so a click in an editor or a problem matcher finds the file wherever the scan ran."""
    try:
        absolute = os.path.abspath(root).replace(os.sep, "/")
        prefix = os.path.relpath(root, os.getcwd()).replace(os.sep, "/")
    except (OSError, ValueError):  # no current directory; another drive
        return lambda rel: rel
    if prefix == ".":
        return lambda rel: rel
    if prefix.startswith("../") and len(absolute) <= len(prefix):
        prefix = absolute  # as go's ShortPath: the shorter of the two
    return lambda rel: posixpath.normpath(f"{prefix}/{rel}")


def steps(flow: tuple[Step, ...], limit: int, indent: str) -> list[str]:
    """The witness as numbered lines (the last `limit` steps, where it gets stuck)."""
    shown = flow[-limit:]
    first = len(flow) - len(shown) + 1
    out = [f"{indent}({first - 1} earlier steps)"] if first > 1 else []
    for n, step in enumerate(shown, start=first):
        out.append(f"{indent}{n}. line {step.location.line}, {step.thread}: {step.message}")
    return out


def summary(result: ScanResult) -> str:
    """For stderr: the totals, then the count per rule (most first)."""
    active = result.active
    scanned = sum(1 for f in result.files if f.status in ("scanned", "parse-error"))
    suppressed = len(result.findings) - len(active)
    extra = f", {suppressed} suppressed" if suppressed else ""
    if not active:
        return f"leakaudit: no findings in {counted(scanned, 'file')}{extra}"
    by_severity = Counter(f.severity.value for f in active)
    severities = ", ".join(
        counted(by_severity[s], s) for s in ("error", "warning", "note") if s in by_severity
    )
    files = len({f.location.path for f in active})
    fixable = sum(1 for f in active if f.fix)
    hint = f"; {fixable} fixable with `leakaudit fix`" if fixable else ""
    head = (
        f"leakaudit: {counted(len(active), 'finding')} ({severities}) in {counted(files, 'file')} "
        f"of {scanned} scanned{extra}{hint}"
    )
    by_rule = Counter(f.rule_id for f in active)
    width = max(len(rule) for rule in by_rule)
    rows = [f"  {rule:<{width}}  {n}" for rule, n in sorted(by_rule.items(), key=_most)]
    return "\n".join([head, *rows])


def _most(item: tuple[str, int]) -> tuple[int, str]:
    return (-item[1], item[0])


def counted(count: int, one: str, many: str = "") -> str:
    """`1 file`, `3 files`, `2 fixes`: a count and its noun, for one-line messages."""
    return f"{count} {one if count == 1 else (many or one + 's')}"
