"""The README's comparison with go vet's lostcancel, re-measured: bench/compare_vet.py on
bench/compare/cancels (needs Go for vet; skipped, and says so, without it)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


NO_GO = "no Go toolchain (apt-get install golang-go)"


@pytest.mark.skipif(shutil.which("go") is None, reason=NO_GO)
def test_leakaudit_finds_every_cancel_leak_vet_finds_and_more() -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(REPO / "bench" / "compare_vet.py"),
            str(REPO / "bench" / "compare" / "cancels"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "leakaudit: 6 of 6 leaks, 0 of 4 safe cases reported" in lines
    vet = next(line for line in lines if line.startswith("vet: "))
    assert vet.endswith("0 of 4 safe cases reported")
    rows = [line.split() for line in lines[1:] if line and not line.startswith(("vet:", "leak"))]
    assert len(rows) == 10
    for cells in rows:  # whatever vet reports, leakaudit reports too
        if cells[1] == "leak" and cells[2] == "reported":
            assert cells[-1] == "reported", cells[0]
