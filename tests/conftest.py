"""Shared test helpers: run leakaudit in-process over files, and read `// want` annotations."""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path

import pytest

from leakaudit.ruleset.loader import load_rules
from leakaudit.ruleset.model import RuleSet
from leakaudit.scan import ScanOptions, scan

# The rule id at the end of a text line: `... message (rule-id) [test] [fixable]`.
RULE_AT_END = re.compile(r"\(([a-z0-9-]+)\)(?: \[[a-z]+\])*$")

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "fixtures"
_WANT = re.compile(r"//\s*want\s+((?:\"[^\"]+\"\s*)+)\s*$")
_QUOTED = re.compile(r"\"([^\"]+)\"")


@pytest.fixture(autouse=True, scope="session")
def _private_cache_dir(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """CLI runs (in-process or subprocesses, which inherit the environment) cache under a
    temporary folder, never in the user's ~/.cache."""
    old = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("xdg-cache"))
    yield
    if old is None:
        os.environ.pop("XDG_CACHE_HOME", None)
    else:
        os.environ["XDG_CACHE_HOME"] = old


@lru_cache(maxsize=1)
def bundled_rules() -> RuleSet:
    return load_rules()


def wants(path: Path, rel: str) -> list[tuple[str, int, str]]:
    """(path, line, rule-id) for each `// want "rule-id"` in a Go file."""
    out = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        match = _WANT.search(line)
        if match:
            out.extend((rel, lineno, rule) for rule in _QUOTED.findall(match.group(1)))
    return out


def scan_paths(paths: list[str], root: Path, **kwargs):  # type: ignore[no-untyped-def]
    result, problems = scan(ScanOptions(paths=paths, root=root, ruleset=bundled_rules(), **kwargs))
    return result, problems
