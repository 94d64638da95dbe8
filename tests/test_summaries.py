"""What the exported summaries say a function does with a resource it is given, and
what a call through an interface hands out: read back from a scan's cache, as the
importing packages read them."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import pytest
from conftest import FIXTURES, scan_paths

from leakaudit.cache import Cache, decode
from leakaudit.module.summary import PackageSummary


def _summaries(root: Path, cache: Path) -> dict[str, PackageSummary]:
    scan_paths([str(root)], root, cache_dir=cache)
    with contextlib.closing(sqlite3.connect(Cache(cache).file)) as db:
        rows = db.execute("SELECT value FROM entries WHERE kind = 'summary'").fetchall()
    found = [decode(value, PackageSummary) for (value,) in rows]
    return {s.path: s for s in found}


@pytest.fixture(scope="module")
def summaries(tmp_path_factory: pytest.TempPathFactory) -> dict[str, PackageSummary]:
    cache = tmp_path_factory.mktemp("cache")
    out: dict[str, PackageSummary] = {}
    for rule in ("http-body-not-closed", "sql-rows-not-closed"):
        out.update(_summaries(FIXTURES / "rules" / rule / "summaries", cache))
    return out


@pytest.mark.parametrize(
    ("func", "effect"),
    [
        ("example.com/bodies/httpx.Drain", "releases"),
        ("example.com/bodies/httpx.DrainLater", "releases"),
        ("example.com/bodies/httpx.Status", "borrows"),
        ("example.com/bodies/httpx.Keep", "keeps"),
        # Closes on one path, returns a bool: nothing tells the caller which.
        ("example.com/bodies/httpx.CloseIfOK", "some"),
        # Returns errors.New(...) before deferring the close: releases on success.
        ("example.com/bodies/httpx.Decode", "on-success"),
        # Closes before returning an error, returns nil with the body open.
        ("example.com/bodies/httpx.Check", "on-failure"),
        ("example.com/rows/store.ScanIDs", "releases"),
        # Leaves the rows open after reading a first row (`return id, err`, err may be
        # nil): iterating to the end on the other path does not make it a release.
        ("example.com/rows/store.First", "borrows"),
        # Through the interface: its one implementation's facts.
        ("example.com/rows/store.Source.Drain", "releases"),
        ("example.com/rows/store.Source.Peek", "borrows"),
    ],
)
def test_parameter_effects(summaries: dict[str, PackageSummary], func: str, effect: str) -> None:
    path, _, first = func.rpartition("/")
    pkg, name = first.split(".", 1)
    facts = summaries[f"{path}/{pkg}"].funcs[name]
    assert facts.param(0) == effect


@pytest.mark.parametrize(
    ("func", "fresh"),
    [
        ("Source.Rows", (0,)),  # the implementation queries
        ("Source.Last", ()),  # the implementation's getter
        ("Opener.Open", (0,)),  # two implementations: at the declared type
        ("Store.Recent", (0,)),
    ],
)
def test_fresh_results_through_interfaces(
    summaries: dict[str, PackageSummary], func: str, fresh: tuple[int, ...]
) -> None:
    assert summaries["example.com/rows/store"].funcs[func].fresh == fresh
