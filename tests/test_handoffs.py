"""Where a handed-off resource went: the evidence the JSON and the report give for every
acquisition leakaudit did not report because other code took it over."""

from __future__ import annotations

import pytest
from conftest import FIXTURES, scan_paths


@pytest.fixture(scope="module")
def handed() -> dict[tuple[str, int], str]:
    root = FIXTURES / "rules" / "context-cancel-not-called"
    result, _ = scan_paths([str(root)], root)
    return {
        (a.location.path, a.location.line): a.handed_to
        for a in result.acquisitions
        if a.outcome == "handed-off"
    }


@pytest.mark.parametrize(
    ("where", "went"),
    [
        (("handoff.go", 13), "returned at line 13"),
        (("handoff.go", 63), "passed to r.track() at line 64"),
        (("client_test.go", 29), "passed to t.Cleanup() at line 30"),
        (("summaries/jobs/jobs.go", 30), "passed to lifecycle.Register() at line 31"),
        (("owners/worker/worker.go", 17), "stored in field cancel at line 18"),
        (("owners/worker/worker.go", 61), "stored in field ticker at line 61"),
        (("owners/app/app_test.go", 18), "its Stop passed to register() at line 19"),
        (("package_variable.go", 10), "assigned to loopCancel at line 10"),
    ],
)
def test_each_hand_off_says_where_it_went(
    handed: dict[tuple[str, int], str], where: tuple[str, int], went: str
) -> None:
    assert handed[where] == went


def test_only_hand_offs_carry_a_destination() -> None:
    root = FIXTURES / "demo-service"
    result, _ = scan_paths([str(root)], root)
    assert all(bool(a.handed_to) == (a.outcome == "handed-off") for a in result.acquisitions)
