"""What a team adopting leakaudit relies on besides the analysis: the GitHub Action's
metadata, the example workflow, the pre-commit hooks, and no invented address anywhere."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
# GitHub's action metadata: the keys `runs` of a composite action takes, and a step's.
STEP_KEYS = {"name", "id", "if", "uses", "with", "run", "shell", "env", "working-directory"}


def _load(path: Path) -> dict:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), path
    return data


def test_action_metadata_is_a_valid_composite_action() -> None:
    action = _load(REPO / "action.yml")
    assert action["name"] and action["description"]
    assert action["runs"]["using"] == "composite"
    inputs = action["inputs"]
    assert {"path", "category", "fail-on", "upload"} <= set(inputs)
    for name, spec in inputs.items():
        assert spec.get("description"), name
        assert "default" in spec, name  # every input is optional
    assert inputs["fail-on"]["default"] in ("error", "warning", "note", "never")
    ids = set()
    for step in action["runs"]["steps"]:
        assert set(step) <= STEP_KEYS, step
        assert ("uses" in step) != ("run" in step), step
        if "run" in step:
            assert step.get("shell") == "bash", step  # composite run steps must name a shell
        if "id" in step:
            ids.add(step["id"])
    text = (REPO / "action.yml").read_text(encoding="utf-8")
    for used in re.findall(r"\$\{\{\s*inputs\.([\w-]+)", text):
        assert used in inputs, used
    for used in re.findall(r"steps\.([\w-]+)\.outputs", text):
        assert used in ids, used
    for output in action["outputs"].values():
        assert output["value"].startswith("${{")


def test_action_installs_leakaudit_from_its_own_checkout() -> None:
    action = _load(REPO / "action.yml")
    runs = " ".join(step.get("run", "") for step in action["runs"]["steps"])
    assert 'pip install --disable-pip-version-check --quiet "$GITHUB_ACTION_PATH"' in runs
    assert "leakaudit scan --format sarif" in runs
    uses = [step["uses"] for step in action["runs"]["steps"] if "uses" in step]
    assert "github/codeql-action/upload-sarif@v4" in uses
    assert "actions/setup-python@v6" in uses


def test_example_workflow_uses_the_action_and_current_majors() -> None:
    flow = _load(REPO / "examples" / "github-code-scanning.yml")
    steps = flow["jobs"]["leakaudit"]["steps"]
    uses = [step["uses"] for step in steps if "uses" in step]
    assert uses[0] == "actions/checkout@v6"
    assert "OWNER/leakaudit@TAG" in uses  # a placeholder the user fills in, not an address
    assert flow["jobs"]["leakaudit"]["permissions"]["security-events"] == "write"


def test_no_invented_address() -> None:
    """No link to a GitHub organisation or package that does not exist, in what users
    read or what reports carry."""
    invented = re.compile(
        r"github\.com/leakaudit/|pip install leakaudit\b|pypi\.org/project/leakaudit"
    )
    paths = [REPO / "README.md", REPO / "action.yml", REPO / ".pre-commit-hooks.yaml"]
    paths += sorted((REPO / "examples").iterdir()) + sorted((REPO / "src").rglob("*.py"))
    paths += sorted((REPO / "docs").rglob("*.md"))
    for path in paths:
        text = path.read_text(encoding="utf-8")
        assert not invented.search(text), path


def test_hooks_run_leakaudit_on_go_files() -> None:
    hooks = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    by_id = {h["id"]: h for h in hooks}
    assert set(by_id) == {"leakaudit", "leakaudit-repo", "leakaudit-fix"}
    for hook in hooks:
        assert hook["language"] == "python" and hook["types"] == ["go"]
    assert by_id["leakaudit-fix"]["entry"] == "leakaudit fix"
