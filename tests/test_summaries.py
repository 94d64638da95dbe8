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


def _modules(cache: Path, *modules: str) -> dict[str, PackageSummary]:
    """The summaries of fixture modules ("rule-id/folder"), by import path."""
    out: dict[str, PackageSummary] = {}
    for module in modules:
        out.update(_summaries(FIXTURES / "rules" / module, cache))
    return out


@pytest.fixture(scope="module")
def summaries(tmp_path_factory: pytest.TempPathFactory) -> dict[str, PackageSummary]:
    cache = tmp_path_factory.mktemp("cache")
    return _modules(cache, "http-body-not-closed/summaries", "sql-rows-not-closed/summaries")


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


@pytest.mark.parametrize(
    ("func", "fresh", "unless"),
    [
        # Releases the body itself when the caller sets opts.NoResponse (parameter 0).
        ("API.Call", (0,), ((0, 0, "NoResponse"),)),
        # Tests opts.Verbose, but hands out the body either way.
        ("API.Fetch", (0,), ()),
        # Passes its options on to API.Call: the same option holds.
        ("Wrapper.Call", (0,), ((0, 0, "NoResponse"),)),
        # Its named result is never set: nothing fresh.
        ("API.Upload", (), ()),
        # Passes on a websocket dialer's response, which no acquisition matches.
        ("DialWS", (), ()),
        ("GetWithHeader", (0,), ()),
    ],
)
def test_fresh_results_and_their_options(
    summaries: dict[str, PackageSummary],
    func: str,
    fresh: tuple[int, ...],
    unless: tuple[tuple[int, int, str], ...],
) -> None:
    facts = summaries["example.com/bodies/httpx"].funcs.get(func)
    found = ((), ()) if facts is None else (facts.fresh, facts.unless)
    assert found == (fresh, unless)


@pytest.fixture(scope="module")
def lock_summaries(tmp_path_factory: pytest.TempPathFactory) -> dict[str, PackageSummary]:
    cache = tmp_path_factory.mktemp("cache")
    return _modules(cache, "mutex-not-unlocked/across", "mutex-double-lock/across")


@pytest.mark.parametrize(
    ("method", "facts"),
    [
        # A lock helper: returns holding its receiver's `mu`, released by mu's Unlock.
        ("example.com/batches/store.Store.Lock", {("mu", "holds", False)}),
        # Its unlock helper.
        ("example.com/batches/store.Store.Unlock", {("mu", "releases", False)}),
        # Locks and lets go: a call while the lock is held takes it again.
        ("example.com/batches/store.Store.Len", {("mu", "takes", False)}),
        # The mutex the struct embeds is the receiver itself (""); read-locked.
        ("example.com/counts/store.Registry.Names", {("", "takes", True)}),
        # Expects the lock held, takes nothing: no facts.
        ("example.com/counts/store.Store.LenLocked", set()),
    ],
)
def test_lock_facts(
    lock_summaries: dict[str, PackageSummary], method: str, facts: set[tuple[str, str, bool]]
) -> None:
    path, _, first = method.rpartition("/")
    pkg, name = first.split(".", 1)
    found = lock_summaries[f"{path}/{pkg}"].locks.get("sync", {}).get(name, ())
    assert {(f.field, f.effect, f.read) for f in found} == facts


def test_promoted_methods(lock_summaries: dict[str, PackageSummary]) -> None:
    """A struct that embeds a type lists its own methods, so that an importer's typing
    sends what it does not declare to the embedded type (`reg.Lock()` is RWMutex's)."""
    from leakaudit.module.summary import ModuleSignatures

    module = ModuleSignatures({}, lock_summaries)
    registry = "example.com/counts/store.Registry"
    assert lock_summaries["example.com/counts/store"].embedding["Registry"] == ("Names",)
    assert module.method_owner(registry, "Lock") == "sync.RWMutex"
    assert module.method_owner(registry, "Names") == registry
    # A struct that embeds nothing declares everything it has.
    store = "example.com/counts/store.Store"
    assert module.method_owner(store, "Lock") == store
