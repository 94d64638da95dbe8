#!/usr/bin/env python3
"""What go vet's lostcancel and leakaudit each report on the same cases.

    python bench/compare_vet.py [bench/compare/cancels]

The folder is a module of functions, each marked `(leak)` or `(safe)` in its doc comment.
Runs `go vet -lostcancel` (Go itself is needed here, never by leakaudit) and `leakaudit
scan` on a copy, and prints one row per function: what each tool said. Nothing is
written outside a scratch folder.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

CASE = re.compile(r"^// (\w+): .*\((leak|safe)\)$")


def main() -> int:
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "bench/compare/cancels")
    if shutil.which("go") is None:
        print("compare_vet: needs a Go toolchain (apt-get install golang-go)", file=sys.stderr)
        return 2
    cases = _cases(folder)
    with tempfile.TemporaryDirectory(prefix="leakaudit-compare-") as tmp:
        work = Path(tmp) / folder.name
        shutil.copytree(folder, work)
        vet = _vet(work, tmp)
        ours = _leakaudit(work)
    print(f"{'case':20} {'truth':5}  {'go vet lostcancel':17}  leakaudit")
    score = {"vet": [0, 0], "leakaudit": [0, 0]}  # [leaks found, false alarms]
    for name, (truth, span) in cases.items():
        said_vet = any(span[0] <= line <= span[1] for line in vet)
        said_ours = any(span[0] <= line <= span[1] for line in ours)
        for tool, said in (("vet", said_vet), ("leakaudit", said_ours)):
            if said:
                score[tool][0 if truth == "leak" else 1] += 1
        print(
            f"{name:20} {truth:5}  {'reported' if said_vet else '-':17}  "
            f"{'reported' if said_ours else '-'}"
        )
    leaks = sum(1 for t, _ in cases.values() if t == "leak")
    safe = len(cases) - leaks
    for tool, (found, false) in score.items():
        print(f"{tool}: {found} of {leaks} leaks, {false} of {safe} safe cases reported")
    return 0


def _cases(folder: Path) -> dict[str, tuple[str, tuple[int, int]]]:
    """Function name -> (leak|safe, its line span), from `// Name: ... (leak)` comments:
    the span runs to the next case's comment."""
    out: dict[str, tuple[str, tuple[int, int]]] = {}
    for path in sorted(folder.glob("*.go")):
        lines = path.read_text(encoding="utf-8").splitlines()
        marks = [(i + 1, m) for i, line in enumerate(lines) if (m := CASE.match(line))]
        for k, (line, match) in enumerate(marks):
            end = marks[k + 1][0] - 1 if k + 1 < len(marks) else len(lines)
            out[match[1]] = (match[2], (line, end))
    return out


def _vet(work: Path, tmp: str) -> list[int]:
    env = {**os.environ, "GOCACHE": f"{tmp}/gocache", "GOFLAGS": "-mod=mod", "HOME": tmp}
    done = subprocess.run(
        ["go", "vet", "-lostcancel", "."], cwd=work, env=env, capture_output=True, text=True
    )
    return [int(m[1]) for m in re.finditer(r"\.go:(\d+):\d+: ", done.stderr)]


def _leakaudit(work: Path) -> list[int]:
    done = subprocess.run(
        [sys.executable, "-m", "leakaudit", "scan", str(work), "-f", "json", "-q", "--no-cache"],
        capture_output=True,
        text=True,
    )
    findings = json.loads(done.stdout)["findings"]
    return [f["location"]["line"] for f in findings if f["rule_id"].startswith("context-")]


if __name__ == "__main__":
    sys.exit(main())
