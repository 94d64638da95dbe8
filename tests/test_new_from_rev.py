"""`scan --new-from-rev REV` against a real temporary git repository."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from leakaudit.cli import main
from leakaudit.gitdiff import parse_diff

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")

ORIGINAL = """package svc

import (
	"context"
	"database/sql"
	"os"
)

func Names(ctx context.Context, db *sql.DB) ([]string, error) {
	rows, err := db.QueryContext(ctx, "SELECT name FROM users")
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

func Header(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	buf := make([]byte, 16)
	_, err = f.Read(buf)
	return buf, err
}

func Clean(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	buf := make([]byte, 16)
	_, err = f.Read(buf)
	return buf, err
}

func Async(ctx context.Context, db *sql.DB) {
	go func() {
		rows, _ := db.QueryContext(ctx, "SELECT 1")
		_ = rows.Next()
	}()
}
"""


def _git(repo: Path, *args: str) -> None:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
        "GIT_CONFIG_NOSYSTEM": "1",
        "HOME": str(repo.parent),  # no user configuration
    }
    subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    (repo / "svc").mkdir(parents=True)
    (repo / "svc" / "svc.go").write_text(ORIGINAL)
    (repo / "README").write_text("demo\n")
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "initial")
    return repo


def _functions(
    capsys: pytest.CaptureFixture[str], *args: str, root: Path
) -> tuple[int, list[tuple[str, str]]]:
    code = main(["scan", "--format", "json", "--quiet", *args, str(root)])
    doc = json.loads(capsys.readouterr().out)
    # (path, function) of each finding; one function may hold several findings.
    return code, sorted({(f["location"]["path"], f["function"]) for f in doc["findings"]})


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new))


def test_everything_is_found_without_the_flag(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, found = _functions(capsys, root=repo)
    assert code == 1
    assert [fn for _, fn in found] == ["Header", "Names", "func literal in Async"]


def test_unchanged_tree_has_no_new_findings(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _functions(capsys, "--new-from-rev", "HEAD", root=repo) == (0, [])


def test_only_changed_functions(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = repo / "svc" / "svc.go"
    # A change far from the leak, but inside the function, brings its finding in.
    _edit(src, "\tvar names []string\n", "\tnames := make([]string, 0, 8)\n")
    code, found = _functions(capsys, "--new-from-rev", "HEAD", root=repo)
    assert code == 1
    assert found == [("svc/svc.go", "Names")]


def test_deleted_line_counts(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Removing `defer f.Close()` (a pure deletion) creates a leak in that function."""
    _edit(repo / "svc" / "svc.go", "\tdefer f.Close()\n", "")
    code, found = _functions(capsys, "--new-from-rev", "HEAD", root=repo)
    assert code == 1
    assert found == [("svc/svc.go", "Clean")]


def test_func_literal_belongs_to_its_function(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _edit(repo / "svc" / "svc.go", "func Async(ctx", "// Async starts work.\nfunc Async(ctx")
    # A comment above the function is outside it.
    assert _functions(capsys, "--new-from-rev", "HEAD", root=repo) == (0, [])
    _edit(repo / "svc" / "svc.go", "\tgo func() {\n", "\tgo func() { // fire and forget\n")
    _, found = _functions(capsys, "--new-from-rev", "HEAD", root=repo)
    assert found == [("svc/svc.go", "func literal in Async")]


def test_new_and_untracked_files(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = repo / "svc" / "svc.go"
    src.write_text(
        src.read_text() + '\nfunc Footer() {\n\tf, _ := os.Open("x")\n\t_ = f.Name()\n}\n'
    )
    (repo / "svc" / "extra.go").write_text(
        'package svc\n\nimport "os"\n\n'
        'func Extra() {\n\tf, _ := os.Create("x")\n\t_ = f.Name()\n}\n'
    )
    staged = repo / "svc" / "staged.go"
    staged.write_text(
        'package svc\n\nimport "os"\n\nfunc Staged() {\n\tf, _ := os.Open("y")\n\t_ = f.Name()\n}\n'
    )
    _git(repo, "add", "svc/staged.go")
    _, found = _functions(capsys, "--new-from-rev", "HEAD", root=repo)
    assert found == [
        ("svc/extra.go", "Extra"),
        ("svc/staged.go", "Staged"),
        ("svc/svc.go", "Footer"),
    ]


def test_committed_changes_since_an_older_revision(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _edit(
        repo / "svc" / "svc.go",
        "\tbuf := make([]byte, 16)\n\t_, err = f.Read(buf)\n\treturn buf, err\n}\n\nfunc Clean",
        "\tbuf := make([]byte, 32)\n\t_, err = f.Read(buf)\n\treturn buf, err\n}\n\nfunc Clean",
    )
    _git(repo, "commit", "-q", "-am", "bigger header")
    assert _functions(capsys, "--new-from-rev", "HEAD", root=repo) == (0, [])
    _, found = _functions(capsys, "--new-from-rev", "HEAD~1", root=repo)
    assert found == [("svc/svc.go", "Header")]


def test_subdirectory_root(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Paths in the diff are relative to the repository; findings to the scanned root."""
    _edit(repo / "svc" / "svc.go", "\tvar names []string\n", "\tnames := []string{}\n")
    _, found = _functions(capsys, "--new-from-rev", "HEAD", root=repo / "svc")
    assert found == [("svc.go", "Names")]


def test_bad_revision_and_no_repository(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _git(repo, "branch", "-m", "main", "trunk")  # no main, master or origin/HEAD
    assert main(["scan", "--new-from-rev", "no-such-branch", str(repo)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith(
        "leakaudit: error: --new-from-rev no-such-branch: unknown revision 'no-such-branch', "
        "and no default branch to compare with: fetch it (`git fetch origin no-such-branch`)"
    )

    outside = tmp_path / "plain"
    outside.mkdir()
    (outside / "x.go").write_text("package x\n")
    assert main(["scan", "--new-from-rev", "HEAD", str(outside)]) == 2
    assert "not a git repository" in capsys.readouterr().err


def test_parse_diff_reads_hunks_by_count() -> None:
    """Removed or added lines that look like headers ("+++ ", "@@ ") are body, not headers."""
    diff = (
        b"diff --git a/x.go b/x.go\n"
        b"index 1..2 100644\n"
        b"--- a/x.go\n"
        b"+++ b/x.go\n"
        b"@@ -3,0 +4,2 @@ func f() {\n"
        b"+++ not a header\n"
        b"+@@ -1 +1 @@ nor this\n"
        b"@@ -10 +11,0 @@\n"
        b"--- gone\n"
        b"\\ No newline at end of file\n"
        b'diff --git "a/we\\303\\251rd.go" "b/we\\303\\251rd.go"\n'
        b'--- "a/we\\303\\251rd.go"\n'
        b'+++ "b/we\\303\\251rd.go"\n'
        b"@@ -1 +1 @@\n"
        b"-a\n"
        b"+b\n"
        b"diff --git a/old.go b/old.go\n"
        b"deleted file mode 100644\n"
        b"--- a/old.go\n"
        b"+++ /dev/null\n"
        b"@@ -1 +0,0 @@\n"
        b"-package old\n"
    )
    changes = parse_diff(diff)
    assert set(changes) == {"x.go", "we\u00e9rd.go"}
    assert changes["x.go"].lines == [(4, 5)]
    assert changes["x.go"].gaps == [11]
    assert changes["we\u00e9rd.go"].lines == [(1, 1)]


def test_a_missing_remote_branch_falls_back_to_the_merge_base(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The README's `--new-from-rev origin/main` in a clone without that remote branch
    (a fresh `git init`, a shallow CI checkout): compare with the merge base of HEAD and
    the local default branch, and say so."""
    _git(repo, "checkout", "-q", "-b", "feature")
    _edit(repo / "svc" / "svc.go", "\tvar names []string\n", "\tnames := []string{}\n")
    _git(repo, "commit", "-q", "-am", "on a branch")
    code = main(["scan", "--format", "json", "--new-from-rev", "origin/main", str(repo)])
    captured = capsys.readouterr()
    assert code == 1
    found = {(f["location"]["path"], f["function"]) for f in json.loads(captured.out)["findings"]}
    assert found == {("svc/svc.go", "Names")}
    assert (
        "--new-from-rev origin/main: no such revision here; comparing with the merge base "
        "of HEAD and main" in captured.err
    )
