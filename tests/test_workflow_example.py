"""examples/github-code-scanning.yml: the structure GitHub needs, and the scan step's shell
command run for real (it must let findings through to the upload, and stop on errors)."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
WORKFLOW = REPO / "examples" / "github-code-scanning.yml"

LEAK = 'package p\n\nimport "os"\n\nfunc f() {\n\tg, _ := os.Open("x")\n\t_ = g.Name()\n}\n'


@pytest.fixture(scope="module")
def workflow() -> dict[str, Any]:
    return yaml.safe_load(WORKFLOW.read_text())


def _job(workflow: dict[str, Any]) -> dict[str, Any]:
    (job,) = workflow["jobs"].values()
    return job


def _step(job: dict[str, Any], predicate) -> tuple[int, dict[str, Any]]:  # type: ignore[no-untyped-def]
    found = [(i, s) for i, s in enumerate(job["steps"]) if predicate(s)]
    assert len(found) == 1, found
    return found[0]


def _scan_step(job: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    return _step(job, lambda s: "leakaudit scan" in s.get("run", ""))


def test_triggers(workflow: dict[str, Any]) -> None:
    on = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    assert "push" in on and "pull_request" in on


def test_permissions(workflow: dict[str, Any]) -> None:
    job = _job(workflow)
    permissions = job.get("permissions", workflow.get("permissions"))
    assert permissions["security-events"] == "write"
    assert permissions["contents"] == "read"
    # Least privilege: nothing else may write.
    assert all(v in ("read", "none") for k, v in permissions.items() if k != "security-events")
    assert all(v in ("read", "none") for v in workflow.get("permissions", {}).values())


def test_steps(workflow: dict[str, Any]) -> None:
    job = _job(workflow)
    checkout, _ = _step(job, lambda s: s.get("uses", "").startswith("actions/checkout@"))
    install, _ = _step(
        job, lambda s: "pip install" in s.get("run", "") and "leakaudit" in s.get("run", "")
    )
    scan, scan_step = _scan_step(job)
    upload, upload_step = _step(
        job, lambda s: s.get("uses", "").startswith("github/codeql-action/upload-sarif@")
    )
    assert checkout < install < scan < upload
    assert upload_step["uses"] == "github/codeql-action/upload-sarif@v4"

    command = scan_step["run"]
    assert "--format sarif" in command
    sarif = command.split("--output ", 1)[1].split()[0]
    assert upload_step["with"]["sarif_file"] == sarif
    assert upload_step["with"]["category"]
    # The scan exits 1 on findings; that must not skip the upload.
    tolerant = (
        scan_step.get("continue-on-error") is True
        or "|| true" in command
        or "|| [ $? -eq 1 ]" in command
    )
    assert tolerant, command
    assert upload_step.get("if", "always()") in ("always()", "success() || failure()")


def _run_step(command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run a `run:` script the way GitHub's default bash shell does."""
    bindir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": bindir + os.pathsep + os.environ.get("PATH", "")}
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


needs_bash = pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")


@needs_bash
def test_scan_step_stops_on_errors(workflow: dict[str, Any], tmp_path: Path) -> None:
    """Tolerating findings must not hide a broken configuration."""
    (tmp_path / "p.go").write_text(LEAK)
    (tmp_path / ".leakaudit.yaml").write_text("exlcude: [vendor/**]\n")
    _, step = _scan_step(_job(workflow))
    proc = _run_step(step["run"], tmp_path)
    assert proc.returncode != 0
    assert "unknown key 'exlcude'" in proc.stderr


@needs_bash
@pytest.mark.skipif(
    importlib.util.find_spec("leakaudit.report.sarif") is None,
    reason="the SARIF reporter is not built yet",
)
def test_scan_step_lets_findings_reach_the_upload(workflow: dict[str, Any], tmp_path: Path) -> None:
    (tmp_path / "p.go").write_text(LEAK)
    _, step = _scan_step(_job(workflow))
    proc = _run_step(step["run"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    sarif = step["run"].split("--output ", 1)[1].split()[0]
    log = json.loads((tmp_path / sarif).read_text())
    results = log["runs"][0]["results"]
    assert [r["ruleId"] for r in results] == ["file-not-closed"]
