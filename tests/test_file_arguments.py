"""Files named on the command line (what pre-commit passes) are analyzed with their
package's other files as context, and findings are reported only in the named files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import RULE_AT_END

STORE = """package w

import "context"

func New(parent context.Context) *Worker {
	ctx, cancel := context.WithCancel(parent)
	return &Worker{ctx: ctx, cancel: cancel}
}
"""

TYPES = """package w

import (
	"context"
	"database/sql"
)

type Worker struct {
	ctx    context.Context
	cancel context.CancelFunc
}

func (w *Worker) Stop() { %s }

func first(db *sql.DB) error {
	rows, err := db.Query("SELECT 1")
	if err != nil {
		return err
	}
	for rows.Next() {
		return nil
	}
	return rows.Err()
}
"""


def _scan(cwd: Path, cache: Path, *files: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "leakaudit", "scan", "--cache-dir", str(cache), *files],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )


def _package(tmp_path: Path, stop_body: str) -> Path:
    pkg = tmp_path / "w"
    pkg.mkdir(exist_ok=True)
    (pkg / "a.go").write_text(STORE)
    (pkg / "b.go").write_text(TYPES % stop_body)
    return pkg


def test_sibling_releases_the_stored_field(tmp_path: Path) -> None:
    pkg = _package(tmp_path, "w.cancel()")
    done = _scan(pkg, tmp_path / "cache", "a.go")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout == ""


def test_field_never_released_anywhere_is_reported(tmp_path: Path) -> None:
    pkg = _package(tmp_path, "")
    done = _scan(pkg, tmp_path / "cache", "a.go")
    assert done.returncode == 1
    assert done.stdout.startswith("a.go:6:17: error: ")
    assert done.stdout.rstrip().endswith("(context-cancel-not-called)")


def test_findings_only_in_named_files_and_cache_keeps_roles_apart(tmp_path: Path) -> None:
    pkg = _package(tmp_path, "w.cancel()")
    cache = tmp_path / "cache"
    # a.go first: b.go is read as context and its leak is not reported...
    assert _scan(pkg, cache, "a.go").stdout == ""
    # ...then b.go, with the same file contents in the cache key: its leak is reported.
    done = _scan(pkg, cache, "b.go")
    assert done.returncode == 1
    rules = [RULE_AT_END.search(line)[1] for line in done.stdout.splitlines()]
    assert rules == ["sql-rows-not-closed"]
    assert done.stdout.startswith("b.go:16:15:")
    # Nothing was written into the scanned package.
    assert sorted(p.name for p in pkg.iterdir()) == ["a.go", "b.go"]
