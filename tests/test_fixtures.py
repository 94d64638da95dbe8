"""Every fixture package is a test case: the findings must be exactly its `// want`s.

A fixture package is a directory of Go files under fixtures/ (analysistest style);
a new case is a new file, never new test code. The demo service is checked whole.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from conftest import FIXTURES, bundled_rules, scan_paths, wants


def _modules() -> list[Path]:
    """Fixture modules: a folder with a go.mod holds several packages that import each
    other (summaries across packages); it is scanned whole, as a repository is."""
    return sorted(p.parent for p in (FIXTURES / "rules").rglob("go.mod"))


def _packages() -> list[Path]:
    modules = _modules()
    dirs = {
        p.parent
        for p in (FIXTURES / "rules").rglob("*.go")
        if not any(p.is_relative_to(m) for m in modules)
    }
    return sorted(dirs)


def _format(items: Counter) -> str:
    return "\n".join(
        f"  {path}:{line}: {rule}" + (f" (x{n})" if n > 1 else "")
        for (path, line, rule), n in sorted(items.items())
    )


def _check(files: list[Path], root: Path, paths: list[str], jobs: int = 1) -> None:
    known = {r.id for r in bundled_rules().rules}
    expected: Counter = Counter()
    for f in files:
        rel = f.relative_to(root).as_posix()
        expected.update(w for w in wants(f, rel) if w[2] in known)
    result, problems = scan_paths(paths, root, jobs=jobs)
    assert not problems
    # Suppressed findings (//leakaudit:ignore) are not reported, so they need no `want`.
    actual = Counter((f.location.path, f.location.line, f.rule_id) for f in result.active)
    missing, unexpected = expected - actual, actual - expected
    detail = {(f.location.path, f.location.line, f.rule_id): f.message for f in result.findings}
    msg = []
    if missing:
        msg.append("missing findings:\n" + _format(missing))
    if unexpected:
        msg.append(
            "unexpected findings:\n"
            + "\n".join(
                f"  {p}:{ln}: {r}: {detail[(p, ln, r)]}" for (p, ln, r) in sorted(unexpected)
            )
        )
    assert not msg, "\n".join(msg)


@pytest.mark.parametrize(
    "package", _packages(), ids=lambda p: p.relative_to(FIXTURES / "rules").as_posix()
)
def test_rule_fixture(package: Path) -> None:
    files = sorted(package.glob("*.go"))
    _check(files, package, [str(f) for f in files])


@pytest.mark.parametrize(
    "module", _modules(), ids=lambda p: p.relative_to(FIXTURES / "rules").as_posix()
)
@pytest.mark.parametrize("jobs", [1, 2])
def test_rule_fixture_module(module: Path, jobs: int) -> None:
    _check(sorted(module.rglob("*.go")), module, [str(module)], jobs=jobs)


@pytest.mark.parametrize(
    "module", _modules(), ids=lambda p: p.relative_to(FIXTURES / "rules").as_posix()
)
def test_rule_fixture_module_one_file_at_a_time(module: Path) -> None:
    """A pre-commit run names one file: the packages it imports are read for their
    summaries alone, so each file gets exactly the findings the whole scan gives it."""
    for path in sorted(module.rglob("*.go")):
        _check([path], module, [str(path)])


def test_demo_service() -> None:
    root = FIXTURES / "demo-service"
    _check(sorted(root.rglob("*.go")), root, [str(root)])
