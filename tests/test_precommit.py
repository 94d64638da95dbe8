"""The pre-commit hooks, run by pre-commit itself (`pre-commit try-repo`).

try-repo installs the hook from a git repository: from its HEAD commit, or -- with uncommitted
changes to tracked files -- from a snapshot of those, but never from untracked files. So the
test commits a snapshot of this checkout's current files (tracked and untracked, minus ignored
ones) to a temporary repository and points try-repo at that: it tests exactly the code in the
work tree, whether or not it has been committed. pre-commit installs leakaudit from PyPI's
dependencies into a fresh virtualenv, so this needs the network, as CI has.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

LEAK = """package p

import "os"

func Header(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	buf := make([]byte, 16)
	_, err = f.Read(buf)
	return buf, err
}
"""

CLEAN = LEAK.replace("\tbuf := make", "\tdefer f.Close()\n\tbuf := make")

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def _env(home: Path) -> dict[str, str]:
    return {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
        "GIT_CONFIG_NOSYSTEM": "1",
        "HOME": str(home),
        "PRE_COMMIT_COLOR": "never",
        "NO_COLOR": "1",
    }


def _git(cwd: Path, env: dict[str, str], *args: str) -> str:
    proc = subprocess.run(
        ["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True
    )
    return proc.stdout


def _snapshot(dest: Path, env: dict[str, str]) -> None:
    """Copy this checkout's current files into a fresh repository with one commit."""
    listing = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=False,
    )
    if listing.returncode == 0:
        names = [n for n in listing.stdout.decode().split("\0") if n]
        for name in names:
            src = REPO / name
            if src.is_file():  # a tracked file deleted in the work tree is skipped
                (dest / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, dest / name)
    else:  # not a git checkout (an unpacked sdist): take the tree
        ignore = shutil.ignore_patterns(".git", "__pycache__", "*.pyc", ".venv", "build", "dist")
        shutil.copytree(REPO, dest, ignore=ignore, dirs_exist_ok=True)
    _git(dest, env, "init", "-q")
    _git(dest, env, "add", "-A")
    _git(dest, env, "commit", "-q", "-m", "snapshot")


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, str]]:
    base = tmp_path_factory.mktemp("precommit")
    env = _env(base)
    hooks_repo = base / "leakaudit"
    hooks_repo.mkdir()
    _snapshot(hooks_repo, env)
    project = base / "project"
    project.mkdir()
    (project / "leak.go").write_text(LEAK)
    (project / "clean.go").write_text(CLEAN)
    _git(project, env, "init", "-q")
    _git(project, env, "add", "-A")
    _git(project, env, "commit", "-q", "-m", "go code")
    return hooks_repo, project, env


def _try_repo(
    setup: tuple[Path, Path, dict[str, str]], *args: str
) -> subprocess.CompletedProcess[str]:
    hooks_repo, project, env = setup
    proc = subprocess.run(
        [sys.executable, "-m", "pre_commit", "try-repo", str(hooks_repo), *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    # The hook is stateless: it leaves the project exactly as it found it.
    assert _git(project, env, "status", "--porcelain") == ""
    return proc


def test_hook_fails_on_a_leak(setup: tuple[Path, Path, dict[str, str]]) -> None:
    proc = _try_repo(setup, "leakaudit", "--files", "leak.go")
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1, output
    assert "leak.go:6:12: error: " in output and "(file-not-closed)" in output


def test_clean_file_passes_and_whole_repo_hook_scans_everything(
    setup: tuple[Path, Path, dict[str, str]],
) -> None:
    """The hooks on a commit touching only clean.go (one try-repo, one install): the
    per-file hook and the fixing one pass (nothing to fix); the whole-repository hook
    (pass_filenames: false) still scans and fails on leak.go."""
    proc = _try_repo(setup, "--files", "clean.go")
    output = proc.stdout + proc.stderr
    status = {
        name: result
        for name, result in re.findall(r"^(leakaudit[^.]*?)\.{3,}(Passed|Failed)$", output, re.M)
    }
    assert status == {
        "leakaudit": "Passed",
        "leakaudit (whole repository)": "Failed",
        "leakaudit (fix)": "Passed",
    }, output
    assert proc.returncode == 1
    assert "leak.go:6:12: error: " in output and "(file-not-closed)" in output
    assert "clean.go:" not in output.replace("--files clean.go", "")
