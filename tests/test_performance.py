"""The fast paths must not change a single byte of output: the query pre-filter, the
process pool (`jobs`), the result cache and the compiled-rules cache. Speed itself is
measured by bench/run.py, never asserted here."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from dataclasses import replace
from pathlib import Path
from types import ModuleType

import pytest
from conftest import FIXTURES, REPO, bundled_rules, scan_paths
from tree_sitter import Node

from leakaudit import analyze as analyze_mod
from leakaudit import reading
from leakaudit import scan as scan_mod
from leakaudit.cache import Cache, default_dir, encode
from leakaudit.checks.api import Package
from leakaudit.module.summary import ModuleSignatures
from leakaudit.parsing.syntax import unparen
from leakaudit.report.json_report import to_dict
from leakaudit.ruleset import compiled


def _json(result) -> str:  # type: ignore[no-untyped-def]
    doc = to_dict(result)
    doc.pop("repo_prefix", None)
    return json.dumps(doc, sort_keys=True)


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


@pytest.fixture(scope="module")
def sequential() -> str:
    """The fixtures scanned the plain way: one process, no cache."""
    result, _ = scan_paths(["fixtures"], REPO, jobs=1)
    return _json(result)


def test_jobs_do_not_change_the_output(sequential: str) -> None:
    for jobs in (2, 3):
        result, _ = scan_paths(["fixtures"], REPO, jobs=jobs)
        assert _json(result) == sequential


def test_warm_cache_gives_the_cold_output_without_analyzing(
    sequential: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cold, _ = scan_paths(["fixtures"], REPO, jobs=2, cache_dir=tmp_path)
    assert _json(cold) == sequential

    def no_analysis(*_: object) -> None:
        raise AssertionError("a cached unit was analyzed again")

    monkeypatch.setattr(analyze_mod, "analyze", no_analysis)
    for jobs in (1, 2):
        warm, _ = scan_paths(["fixtures"], REPO, jobs=jobs, cache_dir=tmp_path)
        assert _json(warm) == sequential


def test_a_warm_scan_loads_neither_parser_nor_checks(tmp_path: Path) -> None:
    """A warm re-scan pays for reading, hashing and the cache only."""
    probe = (
        "import sys\n"
        "from leakaudit.cli import main\n"
        "code = main(['scan', 'fixtures/demo-service', '-q', '-o', sys.argv[1],"
        " '--cache-dir', sys.argv[2]])\n"
        "heavy = ('tree_sitter', 'leakaudit.checks', 'leakaudit.facts', 'leakaudit.analyze')\n"
        "print(code, sorted(m for m in sys.modules if m.startswith(heavy)))"
    )
    cold, warm = (
        subprocess.run(
            [sys.executable, "-c", probe, str(tmp_path / "out.txt"), str(tmp_path)],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for _ in range(2)
    )
    assert "leakaudit.checks" in cold
    assert warm.split(maxsplit=1) == ["1", "[]\n"]


def test_prefilter_finds_what_every_function_finds(
    sequential: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The query pre-filter only skips functions that could not produce anything: give
    every check every function and the output stays the same."""
    monkeypatch.setattr(Package, "candidates", lambda self, interest: self.functions)
    monkeypatch.setattr(Package, "interested", lambda self, interest: True)
    result, _ = scan_paths(["fixtures"], REPO, jobs=1)
    assert _json(result) == sequential


def test_text_runs_skip_the_goroutine_inventory_but_not_a_finding(tmp_path: Path) -> None:
    """The inventory is evidence for markdown and JSON; without it the findings and
    acquisitions are the same, and the cache keeps the two results apart."""
    full, _ = scan_paths(["fixtures"], REPO, jobs=1, cache_dir=tmp_path)
    lean, _ = scan_paths(["fixtures"], REPO, jobs=1, cache_dir=tmp_path, inventory=False)
    assert full.goroutines and not lean.goroutines
    assert lean.findings == full.findings and lean.acquisitions == full.acquisitions
    again, _ = scan_paths(["fixtures"], REPO, jobs=1, cache_dir=tmp_path)
    assert again.goroutines == full.goroutines
    text = _cli("scan", FIXTURES / "demo-service", "-q", "--no-cache", cwd=tmp_path)
    doc = _cli("scan", FIXTURES / "demo-service", "-q", "-f", "json", "--no-cache", cwd=tmp_path)
    assert text.returncode == doc.returncode == 1
    assert json.loads(doc.stdout)["goroutines"]


def test_word_anchored_index_finds_what_the_query_finds() -> None:
    """calls_and_nodes (syntax steps from each word) against the query it replaces,
    on every fixture file, for the call names and statements all bundled rules ask for."""
    from leakaudit import checks
    from leakaudit.checks.api import Interest
    from leakaudit.parsing import parser, queries

    interest = Interest()
    for rule in bundled_rules().rules:
        wanted = checks.interest(rule) if checks.get(rule.check) else None
        interest = interest | wanted if wanted is not None else interest
    names = interest.names | {"Close", "Stop", "Wait"}
    nodes = interest.nodes | {"defer_statement", "select_statement", "return_statement"}
    tricky = b"""package p
// Query(x) in a comment, "Query(x)" in a string
func f() {
    rows, _ := (db.Query)("q")
    _ = ((Query))(x)
    go (func() {})()
    defer Query[int](x)
    x.QueryRow(); NotQuery(x); Query.Field(x)
    rows, _ = db.
        Query("q")
    _ = db . Query("q") // Query(x)
}
"""
    compared = selected = 0
    inputs = [(path.name, path.read_bytes()) for path in sorted(FIXTURES.rglob("*.go"))]
    for name, content in [*inputs, ("tricky.go", tricky)]:
        source = parser.parse(name, content)
        fast = queries.calls_and_nodes(source.root, source.content, names, nodes)
        assert fast is not None
        calls, found = Package._query(source, names, nodes)
        assert _spans(fast[0]) == _spans(calls), name
        assert sorted(n.id for n in fast[1]) == sorted(n.id for n in found), name
        compared += len(calls) + len(found)
        # Names of methods and other packages' functions: selector calls only.
        dotted = queries.calls_and_nodes(
            source.root, source.content, names, nodes, selectors_only=True
        )
        assert dotted is not None
        through_selector = [(n, c) for n, c in calls if _selector_callee(c)]
        assert _spans(dotted[0]) == _spans(through_selector), name
        assert sorted(n.id for n in dotted[1]) == sorted(n.id for n in found), name
        selected += len(through_selector)
    assert compared > 500 and 0 < selected < compared


def _spans(calls: list[tuple[str, Node]]) -> list[tuple[str, int, int]]:
    return sorted((name, call.start_byte, call.end_byte) for name, call in calls)


def _selector_callee(call: Node) -> bool:
    callee = unparen(call.child_by_field_name("function"))
    return callee is not None and callee.type == "selector_expression"


def test_package_functions_are_looked_for_only_where_their_package_is_imported() -> None:
    """`pgxpool.New` can only be called through an import of pgxpool: a function calling
    `errors.New` is no candidate of the rule; one calling it through an alias is."""
    from leakaudit import checks
    from leakaudit.checks.api import Interest
    from leakaudit.facts.symbols import collect
    from leakaudit.parsing import parser

    rule = next(r for r in bundled_rules().rules if r.id == "closer-leaked-on-error")
    wanted = checks.interest(rule)
    assert wanted is not None and "New" in wanted.gates

    def candidates(interest: Interest, files: dict[str, str]) -> list[str]:
        sources = [parser.parse(name, f"package p\n{go}\n".encode()) for name, go in files.items()]
        pkg = Package(".", sources, collect(sources), ModuleSignatures({}), interest=interest)
        return [fn.name for fn in pkg.candidates(interest)]

    files = {
        "a.go": 'import "errors"\nfunc A() error { return errors.New("x") }',
        "b.go": 'import pool "github.com/jackc/pgx/v5/pgxpool"\n'
        'func B() error { p, err := pool.New(nil, ""); _ = p; return err }',
    }
    assert candidates(wanted, files) == ["B"]
    ungated = Interest(calls=wanted.names, returns=wanted.returns)
    assert candidates(ungated, files) == ["A", "B"]

    # A package declaring its own `Open` may return a resource from it: not gated.
    rule = next(r for r in bundled_rules().rules if r.id == "file-not-closed")
    wanted = checks.interest(rule)
    assert wanted is not None and "Open" in wanted.gates
    files = {
        "d.go": 'import "os"\nfunc Open(n string) (*os.File, error) { return os.Open(n) }',
        "e.go": 'func E() { f, _ := Open("x"); _ = f }',
    }
    assert candidates(wanted, files) == ["Open", "E"]


def test_pool_tasks_group_small_units_and_keep_the_tail_small() -> None:
    sizes = dict(enumerate([900_000, 400_000] + [20_000] * 50 + [500] * 200))
    order = sorted(sizes, key=lambda i: -sizes[i])
    total = sum(sizes.values())
    ready, left, batches = list(order), total, []
    while ready:
        batches.append(scan_mod._next_batch(ready, sizes, left, total // 512, 2, set()))
        left -= sum(sizes[i] for i in batches[-1])
    assert [i for batch in batches for i in batch] == order  # each unit once, in order
    assert batches[:2] == [[0], [1]]  # big units alone
    assert len(batches) < len(order) / 4  # small ones together
    assert all(sum(sizes[i] for i in batch) <= total / 64 for batch in batches[-10:])


def test_a_unit_others_wait_for_ends_its_task() -> None:
    sizes = dict(enumerate([100] * 10))
    ready = list(range(10))
    assert scan_mod._next_batch(ready, sizes, 10_000, 0, 2, {2}) == [0, 1, 2]
    assert ready[0] == 3


def test_selectors_naming_finds_what_the_query_finds() -> None:
    from leakaudit.parsing import parser, queries

    compared = 0
    for path in sorted(FIXTURES.rglob("*.go")):
        source = parser.parse(path.name, path.read_bytes())
        for name in ("Body", "cancel", "stop", "rows", "C", "done"):
            pattern = (
                "((selector_expression field: (field_identifier) @field) @sel"
                f' (#eq? @field "{name}"))'
            )
            expected = queries.captures(pattern, source.root).get("sel", [])
            found = queries.selectors_naming(source.root, source.content, name)
            assert sorted(n.id for n in found) == sorted(n.id for n in expected), (path, name)
            compared += len(found)
    assert compared > 100


# --- the cache key ------------------------------------------------------------------------

HOLDER = """
    package poll

    import "time"

    type Poller struct{ t *time.Ticker }

    func New() *Poller {
    \tp := &Poller{}
    \tp.t = time.NewTicker(time.Second)
    \treturn p
    }
    """

STOPPER = """
    package poll

    func (p *Poller) Close() { p.t.Stop() }
    """


def _rules_found(result) -> set[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return {(f.location.path, f.rule_id) for f in result.findings}


def test_cache_sees_a_change_in_another_file_of_the_package(tmp_path: Path) -> None:
    """The field is released in b.go; a.go's verdict depends on it. Editing only b.go
    must re-analyze a.go too."""
    repo, cache = tmp_path / "repo", tmp_path / "cache"
    _write(repo / "a.go", HOLDER)
    _write(repo / "b.go", STOPPER)
    first, _ = scan_paths([str(repo)], repo, cache_dir=cache)
    assert _rules_found(first) == set()
    _write(repo / "b.go", "package poll\n\nfunc (p *Poller) Close() {}\n")
    second, _ = scan_paths([str(repo)], repo, cache_dir=cache)
    assert ("a.go", "ticker-not-stopped") in _rules_found(second)
    _write(repo / "b.go", STOPPER)
    third, _ = scan_paths([str(repo)], repo, cache_dir=cache)
    assert _rules_found(third) == set()


HELPER = """
package httpx

import "net/http"

// Status only reads the response.
func Status(resp *http.Response) int {
	return resp.StatusCode
}
"""

CALLER = """
package svc

import (
	"net/http"

	"example.com/m/httpx"
)

func get(c *http.Client) (int, error) {
	resp, err := c.Get("http://x")
	if err != nil {
		return 0, err
	}
	return httpx.Status(resp), nil
}
"""


def test_cache_keys_an_importer_by_the_summaries_it_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An edit that leaves a package's summary as it was re-analyzes that package only;
    one that changes what it does with a resource re-analyzes its importers too."""
    repo, cache = tmp_path / "repo", tmp_path / "cache"
    _write(repo / "go.mod", "module example.com/m\n\ngo 1.22\n")
    _write(repo / "httpx" / "httpx.go", HELPER)
    _write(repo / "svc" / "svc.go", CALLER)
    first, _ = scan_paths([str(repo)], repo, cache_dir=cache)
    assert _rules_found(first) == {("svc/svc.go", "http-body-not-closed")}

    analyzed: list[str] = []
    real = analyze_mod.analyze

    def counting(read, context, on_summary=None):  # type: ignore[no-untyped-def]
        analyzed.append(read.unit.directory)
        return real(read, context, on_summary)

    monkeypatch.setattr(analyze_mod, "analyze", counting)
    _write(repo / "httpx" / "httpx.go", HELPER.replace("only reads", "reads, no more"))
    second, _ = scan_paths([str(repo)], repo, cache_dir=cache)
    assert analyzed == ["httpx"]
    assert _rules_found(second) == _rules_found(first)

    analyzed.clear()
    closing = HELPER.replace(
        "return resp.StatusCode", "defer resp.Body.Close()\n\treturn resp.StatusCode"
    )
    _write(repo / "httpx" / "httpx.go", closing)
    third, _ = scan_paths([str(repo)], repo, cache_dir=cache)
    assert sorted(analyzed) == ["httpx", "svc"]
    assert _rules_found(third) == set()


def test_one_file_reads_imported_summaries_from_the_full_scan_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a full scan, a pre-commit run on one file analyzes its own package only:
    the summaries of the packages it imports come from the cache."""
    repo, cache = tmp_path / "repo", tmp_path / "cache"
    _write(repo / "go.mod", "module example.com/m\n\ngo 1.22\n")
    _write(repo / "httpx" / "httpx.go", HELPER)
    _write(repo / "svc" / "svc.go", CALLER)
    _write(repo / "svc" / "other.go", "package svc\n\nfunc other() {}\n")
    scan_paths([str(repo)], repo, cache_dir=cache)
    analyzed: list[tuple[str, bool]] = []
    real = analyze_mod.analyze

    def counting(read, context, on_summary=None):  # type: ignore[no-untyped-def]
        analyzed.append((read.unit.directory, read.unit.facts_only))
        return real(read, context, on_summary)

    monkeypatch.setattr(analyze_mod, "analyze", counting)
    one, _ = scan_paths([str(repo / "svc" / "svc.go")], repo, cache_dir=cache)
    assert analyzed == [("svc", False)]
    assert _rules_found(one) == {("svc/svc.go", "http-body-not-closed")}
    # From inside the package (another scan root) the summaries are found all the same:
    # they are keyed by import path, not by a path relative to the root.
    analyzed.clear()
    inside, _ = scan_paths([str(repo / "svc" / "svc.go")], repo / "svc", cache_dir=cache)
    assert analyzed == [(".", False)]
    assert _rules_found(inside) == {("svc.go", "http-body-not-closed")}
    # Without a cache the imported package is analyzed for its summary alone.
    analyzed.clear()
    scan_paths([str(repo / "svc" / "svc.go")], repo)
    assert sorted(analyzed) == [("httpx", True), ("svc", False)]


def test_cache_key_covers_rules_and_options(tmp_path: Path) -> None:
    repo, cache = tmp_path / "repo", tmp_path / "cache"
    _write(repo / "a.go", HOLDER)
    _write(repo / "a_test.go", HOLDER.replace("func New()", "func newForTest()"))
    leak = {("a.go", "ticker-not-stopped"), ("a_test.go", "ticker-not-stopped")}
    result, _ = scan_paths([str(repo)], repo, cache_dir=cache)
    assert _rules_found(result) == leak
    disabled = frozenset({"ticker-not-stopped"})
    result, _ = scan_paths([str(repo)], repo, cache_dir=cache, disabled=disabled)
    assert _rules_found(result) == set()
    result, _ = scan_paths([str(repo)], repo, cache_dir=cache, include_tests=False)
    assert _rules_found(result) == {("a.go", "ticker-not-stopped")}
    # The rules' content is part of the key: an edited message is not served stale.
    rules = bundled_rules()
    edited = [
        replace(r, messages={k: "EDITED " + v for k, v in r.messages.items()})
        if r.id == "ticker-not-stopped"
        else r
        for r in rules.rules
    ]
    options = scan_mod.ScanOptions(
        paths=[str(repo)], root=repo, ruleset=replace(rules, rules=edited), cache_dir=cache
    )
    result, _ = scan_mod.scan(options)
    assert all(f.message.startswith("EDITED ") for f in result.findings)
    result, _ = scan_paths([str(repo)], repo, cache_dir=cache)
    assert _rules_found(result) == leak
    assert not any(f.message.startswith("EDITED ") for f in result.findings)


def test_cache_writes_only_into_the_cache_dir(tmp_path: Path) -> None:
    repo, cache = tmp_path / "repo", tmp_path / "cache"
    _write(repo / "a.go", HOLDER)
    _write(repo / "sub" / "b.go", STOPPER.replace("package poll", "package sub"))
    before = _files(repo)
    for jobs in (1, 2):
        scan_paths([str(repo)], repo, cache_dir=cache, jobs=jobs)
    assert _files(repo) == before
    assert any(cache.rglob("*"))


def test_a_damaged_cache_entry_is_a_miss(tmp_path: Path) -> None:
    repo, cache = tmp_path / "repo", tmp_path / "cache"
    _write(repo / "a.go", HOLDER)
    clean, _ = scan_paths([str(repo)], repo, cache_dir=cache, go_version="1.20")
    with contextlib.closing(sqlite3.connect(Cache(cache).file)) as db, db:
        keys = db.execute("SELECT kind, key FROM entries").fetchall()
        assert "unit" in {kind for kind, _ in keys}
        for i, (kind, key) in enumerate(keys):
            damaged = b"\xc1 not msgpack" if i % 2 else encode({"foreign": 1}, dict)
            db.execute(
                "UPDATE entries SET value = ? WHERE kind = ? AND key = ?", (damaged, kind, key)
            )
    again, _ = scan_paths([str(repo)], repo, cache_dir=cache, go_version="1.20")
    assert _json(again) == _json(clean)
    # A cache file that is no database at all is replaced.
    Cache(cache).file.write_bytes(b"garbage" * 100)
    again, _ = scan_paths([str(repo)], repo, cache_dir=cache, go_version="1.20")
    assert _json(again) == _json(clean)
    assert _cached_kinds(cache) == {"unit"}


def test_a_warm_scan_orders_units_without_reading_heads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The import graph comes from each file's remembered imports while its stat is
    unchanged; an edit (new size and times) is read again, and its new import counts."""
    repo, cache = tmp_path / "repo", tmp_path / "cache"
    _write(repo / "go.mod", "module example.com/m\n\ngo 1.22\n")
    _write(repo / "lib/lib.go", LIB)
    use = _write(repo / "app/app.go", USES_NOTHING)
    old = time.time() - 60
    for path in repo.rglob("*"):
        os.utime(path, (old, old))  # files written just now are not remembered
    first, _ = scan_paths([str(repo)], repo, cache_dir=cache)
    assert not first.findings
    reads: list[str] = []
    real = reading.read_file
    monkeypatch.setattr(reading, "read_file", lambda p: reads.append(p) or real(p))
    again, _ = scan_paths([str(repo)], repo, cache_dir=cache)
    assert reads == [] and _json(again) == _json(first)
    _write(use, USES_LIB)  # now imports lib, whose summary makes the call an acquisition
    edited, _ = scan_paths([str(repo)], repo, cache_dir=cache)
    assert reads == [str(use)]
    cold, _ = scan_paths([str(repo)], repo, cache_dir=None)
    assert _json(edited) == _json(cold)
    assert [f.rule_id for f in edited.findings] == ["file-not-closed"]


LIB = """
    package lib

    import "os"

    // Open hands out a fresh file.
    func Open(p string) (*os.File, error) {
        return os.Open(p)
    }
"""

USES_NOTHING = """
    package app

    func Size(p string) int {
        return len(p)
    }
"""

USES_LIB = """
    package app

    import "example.com/m/lib"

    func Size(p string) int {
        f, err := lib.Open(p)
        if err != nil {
            return 0
        }
        st, _ := f.Stat()
        return int(st.Size())
    }
"""


def _cached_kinds(cache: Path) -> set[str]:
    if not Cache(cache).file.exists():
        return set()
    with contextlib.closing(sqlite3.connect(Cache(cache).file)) as db:
        return {kind for (kind,) in db.execute("SELECT DISTINCT kind FROM entries")}


def test_unreadable_units_are_not_cached(tmp_path: Path) -> None:
    repo, cache = tmp_path / "repo", tmp_path / "cache"
    _write(repo / "a.go", HOLDER)
    (repo / "gone.go").symlink_to(repo / "missing.go")
    _, problems = scan_paths([str(repo)], repo, cache_dir=cache)
    assert len(problems) == 1 and "gone.go" in problems[0]
    assert "unit" not in _cached_kinds(cache)


def test_default_cache_dir_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    if sys.platform in ("darwin", "win32"):
        pytest.skip("XDG applies to Linux and other Unix systems")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_dir() == tmp_path / "leakaudit"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")
    assert default_dir() == Path.home() / ".cache" / "leakaudit"


# --- compiled rules --------------------------------------------------------------------------


def test_compiled_rules_are_reused_until_a_rule_file_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = Cache(tmp_path / "cache")
    extra = tmp_path / "rules"
    extra.mkdir()
    rule = (REPO / "rules" / "time.yaml").read_text(encoding="utf-8")
    rule = rule.replace("family: time", "family: mine").replace("id: ", "id: mine-")
    (extra / "mine.yaml").write_text(rule, encoding="utf-8")
    first = compiled.load([extra], cache)
    assert first.by_id("mine-ticker-not-stopped") is not None

    from leakaudit.ruleset import loader

    def no_yaml(*_: object) -> None:
        raise AssertionError("rules were parsed again")

    monkeypatch.setattr(loader, "load_rules", no_yaml)
    again = compiled.load([extra], cache)
    assert [r.id for r in again.rules] == [r.id for r in first.rules]
    monkeypatch.undo()
    (extra / "mine.yaml").write_text(rule.replace("severity: error", "severity: note", 1))
    changed = compiled.load([extra], cache)
    assert changed.by_id("mine-ticker-not-stopped").severity.value == "note"  # type: ignore[union-attr]
    assert [r.id for r in compiled.load([], None).rules] == [r.id for r in bundled_rules().rules]


# --- the command line -----------------------------------------------------------------------


def _cli(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "leakaudit", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "PYTHONPATH": str(REPO / "src")},
    )


def test_concurrent_scans_share_one_cache(tmp_path: Path) -> None:
    """Two scans writing the same cache at once (two pre-commit runs, say) both finish
    with the same report, and a third finds everything cached."""
    cache = tmp_path / "cache"
    target = FIXTURES / "rules"
    cmd = [sys.executable, "-m", "leakaudit", "scan", str(target), "-f", "json", "-q"]
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    procs = [
        subprocess.Popen(
            [*cmd, "--cache-dir", str(cache), "--jobs", str(jobs)],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        for jobs in (1, 2)
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [1, 1], [err for _, err in outs]
    assert outs[0][0] == outs[1][0] and not any(err for _, err in outs)
    third = _cli("scan", target, "-f", "json", "-q", "--cache-dir", cache, cwd=tmp_path)
    assert third.stdout.encode() == outs[0][0]


def test_cli_jobs_and_cache_flags(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    target = FIXTURES / "rules"
    runs = [
        _cli("scan", target, "-f", "json", "-q", "--jobs", "1", "--no-cache", cwd=tmp_path),
        _cli("scan", target, "-f", "json", "-q", "--jobs", "2", "--cache-dir", cache, cwd=tmp_path),
        _cli("scan", target, "-f", "json", "-q", "--cache-dir", cache, cwd=tmp_path),
        _cli("scan", target, "-f", "json", "-q", "-j", "0", "--cache-dir", cache, cwd=tmp_path),
    ]
    assert {r.returncode for r in runs} == {1}, [r.stderr for r in runs]
    assert len({r.stdout for r in runs}) == 1
    assert _cached_kinds(cache) == {"unit", "summary", "rules", "file-facts"}
    bad = _cli("scan", target, "--jobs", "many", cwd=tmp_path)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1


def _instructions() -> ModuleType:
    """bench/instructions.py, which is a script, not part of the package."""
    sys.path.insert(0, str(REPO / "bench"))
    try:
        import instructions
    finally:
        sys.path.remove(str(REPO / "bench"))
    return instructions


def test_instruction_count_takes_the_parser_calls_entered_from_outside(tmp_path: Path) -> None:
    """bench/instructions.py reads a callgrind profile: every call into the parser from
    outside it counts with its inclusive cost, once (the parser's calls among its own
    entry points are inside those), whatever the compressed names look like."""
    parse_instructions = _instructions().parse_instructions
    profile = tmp_path / "callgrind.out"
    profile.write_text(
        textwrap.dedent("""\
            events: Ir
            fn=(1) parser_parse
            0 10
            cfn=(2) ts_parser_parse_string_encoding
            calls=1 0
            0 700
            fn=(2)
            0 5
            cfn=(3) ts_parser_parse
            calls=1 0
            0 695
            fn=(4) main
            0 100
            cfn=(1)
            calls=2 0
            0 710
            cfn=(2)
            calls=1 0
            * 300
            summary: 1110
            totals: 1110
        """)
    )
    assert parse_instructions(profile) == (1110, 1000)


def test_instruction_count_of_a_pool_splits_it_by_process(tmp_path: Path) -> None:
    """bench/instructions.py --jobs: the main process's profile is dumped before each
    fork, so its first part is what no worker shares and the rest is its work from
    there; every other pid is a worker, whose parts add up."""
    bench = _instructions()
    parts = [(10, 1, 100), (10, 2, 5), (10, 3, 20), (11, 1, 300), (11, 2, 100), (12, 1, 380)]
    for pid, part, cost in parts:
        (tmp_path / f"callgrind.out.{pid}.{part}").write_text(
            f"pid: {pid}\npart: {part}\nevents: Ir\nfn=(1) main\n0 {cost}\n"
            f"summary: {cost}\ntotals: {cost}\n"
        )
    pool = bench.pool_split(sorted(tmp_path.iterdir()), main_pid=10)
    assert pool == bench.Pool(before=100, after=25, workers=[400, 380], parse=0)
    assert pool.total == 905
    # 100 alone, then (400 + 380 + 25) / 2 = 402.5 on each of two CPUs.
    assert bench.ideal_speedup(880, pool, 2) == pytest.approx(880 / 502.5)


def test_analysis_leaves_no_cycles_for_the_garbage_collector() -> None:
    """Each package's facts (graphs, scopes, caches) are unlinked once its checks are
    done, so reference counting frees them: no analysis object is left for the
    collector to find (when it had to, it walked them again and again first)."""
    import gc

    from leakaudit.checks.api import Function, Package
    from leakaudit.facts.cfg import Block
    from leakaudit.facts.typing import FileTypes, Scope

    analysis = (Block, Function, Package, FileTypes, Scope)
    gc.collect()
    gc.disable()
    try:
        result, _ = scan_paths(["fixtures"], REPO, jobs=1)
        gc.set_debug(gc.DEBUG_SAVEALL)
        gc.collect()
        left = [type(o).__name__ for o in gc.garbage if isinstance(o, analysis)]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    assert result.findings and result.acquisitions  # the checks did run
    assert left == []
