"""`leakaudit baseline write` and `scan --baseline`, through the real command line."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from leakaudit.cli import main

STORE = """package store

import (
	"context"
	"database/sql"
	"os"
)

type Store struct{ db *sql.DB }

func (s *Store) Names(ctx context.Context) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT name FROM users")
	if err != nil {
		return nil, err
	}
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		names = append(names, n)
	}
	return names, rows.Err()
}

func readHeader(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	buf := make([]byte, 16)
	_, err = f.Read(buf)
	return buf, err
}
"""

ANOTHER_LEAK = """
func readFooter(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	buf := make([]byte, 16)
	_, err = f.ReadAt(buf, 0)
	return buf, err
}
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "svc"
    (root / "store").mkdir(parents=True)
    (root / "store" / "store.go").write_text(STORE)
    return root


def _scan(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[dict], str]:
    code = main(["scan", "--format", "json", *args])
    captured = capsys.readouterr()
    findings = json.loads(captured.out)["findings"] if captured.out else []
    return code, [f for f in findings if not f["suppressed"]], captured.err


def test_write_then_scan(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scan", str(project)]) == 1
    capsys.readouterr()
    assert not (project / ".leakaudit-baseline.json").exists()  # only written when asked

    assert main(["baseline", "write", str(project)]) == 0
    assert "wrote 2 findings" in capsys.readouterr().err
    doc = json.loads((project / ".leakaudit-baseline.json").read_text())
    assert doc["version"] == 1
    assert sorted((e["rule"], e["path"]) for e in doc["findings"]) == [
        ("file-not-closed", "store/store.go"),
        ("sql-rows-not-closed", "store/store.go"),
    ]

    baseline = str(project / ".leakaudit-baseline.json")
    code, active, err = _scan(capsys, "--baseline", baseline, str(project))
    assert (code, active) == (0, [])
    assert "2 suppressed" in err


def test_unrelated_edits_stay_baselined(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["baseline", "write", str(project)]) == 0
    baseline = str(project / ".leakaudit-baseline.json")
    path = project / "store" / "store.go"
    # Shift every line: a longer import block, comments, a new clean function on top.
    edited = STORE.replace(
        "type Store struct{ db *sql.DB }",
        "// Store reads users.\n//\n// It is safe for concurrent use.\n"
        "type Store struct{ db *sql.DB }\n\n"
        "func (s *Store) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }\n",
    ).replace('"os"\n', '"os"\n\t"strings"\n')
    edited += "\nfunc upper(s string) string { return strings.ToUpper(s) }\n"
    path.write_text(edited)
    code, active, _ = _scan(capsys, "--baseline", baseline, str(project))
    assert (code, active) == (0, [])

    # A new leak is reported, and only it.
    path.write_text(edited + ANOTHER_LEAK)
    code, active, _ = _scan(capsys, "--baseline", baseline, str(project))
    assert code == 1
    assert [(f["rule_id"], f["function"]) for f in active] == [("file-not-closed", "readFooter")]


def test_duplicates_are_counted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Identity is the acquiring code plus its function, so identical leaks in one function
    are told apart by occurrence: a third copy of a baselined pair is new."""
    once = '\tf{n}, _ := os.Open("state")\n\t_ = f{n}.Name()\n'
    body = 'package p\n\nimport "os"\n\nfunc load() {{\n{}}}\n'
    path = tmp_path / "p.go"
    path.write_text(body.format(once.format(n=1) + once.format(n=2)))
    assert main(["baseline", "write", str(tmp_path)]) == 0
    doc = json.loads((tmp_path / ".leakaudit-baseline.json").read_text())
    assert sorted(e["occurrence"] for e in doc["findings"]) == [0, 1]
    assert len({e["fingerprint"] for e in doc["findings"]}) == 1

    path.write_text(body.format(once.format(n=0) + once.format(n=1) + once.format(n=2)))
    baseline = str(tmp_path / ".leakaudit-baseline.json")
    code, active, _ = _scan(capsys, "--baseline", baseline, str(tmp_path))
    assert code == 1 and len(active) == 1


def test_paths_relative_to_baseline_file(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Written from one directory, used from another (pre-commit passes file names from
    the repository root): the entries still match."""
    out = project / "ci" / "leaks.json"
    out.parent.mkdir()
    assert main(["baseline", "write", "--output", str(out), str(project / "store")]) == 0
    monkeypatch.chdir(project)
    code, active, _ = _scan(
        capsys, "--baseline", "ci/leaks.json", os.path.join("store", "store.go")
    )
    assert (code, active) == (0, [])


def test_configured_baseline(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / ".leakaudit.yaml").write_text("baseline: ci/baseline.json\n")
    (project / "ci").mkdir()
    assert main(["baseline", "write", str(project)]) == 0  # writes the configured file
    assert (project / "ci" / "baseline.json").is_file()
    code, active, _ = _scan(capsys, str(project))
    assert (code, active) == (0, [])
    # --no-baseline: the full view, for an audit.
    code, active, _ = _scan(capsys, "--no-baseline", str(project))
    assert code == 1 and active


def test_bad_baseline_is_an_error(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = project / "nope.json"
    assert main(["scan", "--baseline", str(missing), str(project)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "baseline not found" in err[0]

    broken = project / "broken.json"
    broken.write_text('{"version": 1,\n "findings": [\n')
    assert main(["scan", "--baseline", str(broken), str(project)]) == 2
    err = capsys.readouterr().err.strip()
    assert f"{broken}:3: invalid JSON" in err
