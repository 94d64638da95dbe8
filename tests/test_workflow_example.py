"""examples/github-code-scanning.yml and the action it uses (action.yml): the structure
GitHub needs, and the action's scan step run for real (it must let findings through to
the upload, stop on errors, and leave the verdict to the last step)."""

from __future__ import annotations

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
ACTION = REPO / "action.yml"

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


def _action() -> dict[str, Any]:
    return {"steps": yaml.safe_load(ACTION.read_text())["runs"]["steps"]}


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
    leakaudit, _ = _step(job, lambda s: s.get("uses", "").endswith("/leakaudit@TAG"))
    assert checkout < leakaudit
    steps = _action()
    install, _ = _step(steps, lambda s: "pip install" in s.get("run", ""))
    scan, scan_step = _scan_step(steps)
    upload, upload_step = _step(
        steps, lambda s: s.get("uses", "").startswith("github/codeql-action/upload-sarif@")
    )
    verdict, verdict_step = _step(steps, lambda s: s.get("name") == "Fail on findings")
    assert install < scan < upload < verdict
    assert upload_step["uses"] == "github/codeql-action/upload-sarif@v4"
    assert upload_step["with"]["sarif_file"] == "${{ inputs.sarif-file }}"
    assert upload_step["with"]["category"] == "${{ inputs.category }}"
    assert "--format sarif" in scan_step["run"] and "set +e" in scan_step["run"]
    assert verdict_step["if"] == "steps.scan.outputs.exit-code == '1'"


def _run_step(
    step: dict[str, Any], cwd: Path, fail_on: str = "warning"
) -> subprocess.CompletedProcess[str]:
    """Run the action's scan step the way GitHub's bash shell does, its inputs given."""
    bindir = str(Path(sys.executable).parent)
    env = {
        **os.environ,
        "PATH": bindir + os.pathsep + os.environ.get("PATH", ""),
        "SCAN_PATHS": ".",
        "FAIL_ON": fail_on,
        "SARIF_FILE": "leakaudit.sarif",
        "GITHUB_OUTPUT": str(cwd / "github-output"),
    }
    command = step["run"]
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
def test_scan_step_stops_on_errors(tmp_path: Path) -> None:
    """Tolerating findings must not hide a broken configuration."""
    (tmp_path / "p.go").write_text(LEAK)
    (tmp_path / ".leakaudit.yaml").write_text("exlcude: [vendor/**]\n")
    _, step = _scan_step(_action())
    proc = _run_step(step, tmp_path)
    assert proc.returncode == 2
    assert "unknown key 'exlcude'" in proc.stderr


@needs_bash
@pytest.mark.parametrize(("fail_on", "verdict"), [("warning", "1"), ("never", "0")])
def test_scan_step_lets_findings_reach_the_upload(
    tmp_path: Path, fail_on: str, verdict: str
) -> None:
    (tmp_path / "p.go").write_text(LEAK)
    _, step = _scan_step(_action())
    proc = _run_step(step, tmp_path, fail_on)
    assert proc.returncode == 0, proc.stderr
    log = json.loads((tmp_path / "leakaudit.sarif").read_text())
    results = log["runs"][0]["results"]
    assert [r["ruleId"] for r in results] == ["file-not-closed"]
    # The last step fails the job when the scan said 1.
    assert (tmp_path / "github-output").read_text() == f"exit-code={verdict}\n"
