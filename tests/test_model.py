"""The concurrency model: skeletons, the interleaving search, and the witness every
goroutine finding carries into SARIF, text and markdown."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import FIXTURES, scan_paths

from leakaudit.checks.api import Package
from leakaudit.facts.symbols import collect
from leakaudit.model.search import explore
from leakaudit.model.skeleton import compile_reach
from leakaudit.module.summary import ModuleSignatures
from leakaudit.parsing import parser
from leakaudit.report import markdown, sarif, text

LEAKS = FIXTURES / "rules" / "goroutine-leak"


def _reach(body: str, name: str = "F"):  # type: ignore[no-untyped-def]
    source = parser.parse("a.go", f"package p\n{body}\n".encode())
    pkg = Package(".", [source], collect([source]), ModuleSignatures({}))
    fn = next(f for f in pkg.functions if f.name == name)
    return compile_reach(pkg, fn)


@pytest.mark.parametrize(
    ("body", "stuck"),
    [
        # A goroutine whose result is abandoned on one branch.
        (
            "func F(c bool) int {\n ch := make(chan int)\n go func() { ch <- 1 }()\n"
            " if c {\n  return 0\n }\n return <-ch\n}",
            {("send", True)},
        ),
        # The same branch taken by the launch and the receive: the paths go together.
        (
            "func F(c bool) int {\n ch := make(chan int)\n if c {\n  go func() { ch <- 1 }()\n }\n"
            " if c {\n  return <-ch\n }\n return 0\n}",
            set(),
        ),
        # A condition re-tested after its variable changed is a new choice.
        (
            "func F(f func() error) error {\n ch := make(chan int)\n err := f()\n"
            " if err != nil {\n  go func() { ch <- 1 }()\n }\n err = f()\n"
            " if err != nil {\n  <-ch\n }\n return err\n}",
            {("send", True)},
        ),
        # `v, ok := <-ch; if !ok` follows the receive, not a free choice.
        (
            "func F() {\n ch := make(chan int)\n done := make(chan bool)\n"
            " go func() {\n  for {\n   _, ok := <-ch\n"
            "   if !ok {\n    done <- true\n    return\n   }\n  }\n }()\n"
            " ch <- 1\n close(ch)\n <-done\n}",
            set(),
        ),
        # Loops over the same collection run equally often.
        (
            "func F(xs []int) {\n ch := make(chan int)\n for _, x := range xs {\n"
            "  go func(v int) { ch <- v }(x)\n }\n for range xs {\n  <-ch\n }\n}",
            set(),
        ),
        # ...and a single receive after launching in a loop strands the others.
        (
            "func F(xs []int) int {\n ch := make(chan int)\n for _, x := range xs {\n"
            "  go func(v int) { ch <- v }(x)\n }\n return <-ch\n}",
            {("send", True)},
        ),
        # The function waits on itself.
        (
            "func F() {\n ch := make(chan int)\n ch <- 1\n go func() { <-ch }()\n}",
            {("send", False)},
        ),
        # A goroutine waits for a mutex the function returned holding, on one path.
        (
            "func F(fail bool) {\n var mu sync.Mutex\n done := make(chan bool, 1)\n"
            " mu.Lock()\n go func() {\n  mu.Lock()\n  done <- true\n  mu.Unlock()\n }()\n"
            " if fail {\n  return\n }\n mu.Unlock()\n <-done\n}",
            {("lock", True)},
        ),
        # A mutex unlocked by code out of view is not followed.
        (
            "func F(s *S) {\n done := make(chan bool, 1)\n s.mu.Lock()\n"
            " go func() {\n  s.mu.Lock()\n  done <- true\n  s.mu.Unlock()\n }()\n"
            " s.release()\n <-done\n}",
            set(),
        ),
    ],
)
def test_search_finds_exactly_the_stuck_operations(body: str, stuck: set) -> None:  # type: ignore[type-arg]
    program = _reach(body)
    assert program is not None
    result = explore(program)
    assert result.complete
    found = {(program.code[s.pc].kind, s.root_done) for s in result.stuck}
    assert found == stuck


def test_a_channel_that_escapes_is_not_tracked() -> None:
    """Stored in a field, the channel may be served by code out of view."""
    body = (
        "type S struct{ c chan int }\n"
        "func F(s *S) {\n ch := make(chan int)\n s.c = ch\n go func() { ch <- 1 }()\n}"
    )
    assert _reach(body) is None


def test_a_callee_handed_the_channel_is_inlined() -> None:
    body = (
        "func send(c chan int) { c <- 1 }\n"
        "func F(c bool) {\n ch := make(chan int)\n go send(ch)\n if c {\n  <-ch\n }\n}"
    )
    program = _reach(body)
    assert program is not None
    [stuck] = explore(program).stuck
    assert program.code[stuck.pc].node.text == b"c <- 1"


def test_the_search_stops_at_its_budget() -> None:
    body = (
        "func F(xs []int) {\n a := make(chan int)\n b := make(chan int)\n"
        " for i := 0; i < 3; i++ {\n  go func() { a <- 1; b <- 1 }()\n"
        "  go func() { b <- 2; a <- 2 }()\n }\n"
        " for i := 0; i < 3; i++ {\n  select {\n  case <-a:\n  case <-b:\n  }\n"
        "  <-a\n  <-b\n }\n}"
    )
    program = _reach(body)
    assert program is not None
    whole = explore(program)
    assert whole.complete and whole.states > 100
    assert not explore(program, budget=100).complete


# -- the witness in every format ------------------------------------------------------


def _leak_result():  # type: ignore[no-untyped-def]
    path = LEAKS / "handlers.go"
    result, problems = scan_paths([str(path)], LEAKS)
    assert not problems
    return result


def test_sarif_carries_the_witness_as_one_thread_flow_per_goroutine() -> None:
    result = _leak_result()
    log = json.loads(sarif.render(result))
    leaks = [r for r in log["runs"][0]["results"] if r["ruleId"] == "goroutine-leak"]
    assert leaks and all("codeFlows" in r for r in leaks)
    flow = leaks[0]["codeFlows"][0]
    threads = {t["id"]: t for t in flow["threadFlows"]}
    assert set(threads) == {"ProfileHandler.GetProfile", "goroutine 1 (line 44)"}
    orders = [loc["executionOrder"] for t in flow["threadFlows"] for loc in t["locations"]]
    assert sorted(orders) == list(range(1, len(orders) + 1))
    last = threads["goroutine 1 (line 44)"]["locations"][-1]["location"]
    assert last["message"]["text"].endswith("blocks forever sending on resc")
    assert last["physicalLocation"]["region"]["startLine"] == 46


def test_text_and_markdown_number_the_steps() -> None:
    result = _leak_result()
    out = text.render(result)
    assert "    1. line 44, ProfileHandler.GetProfile: starts goroutine 1\n" in out
    assert "goroutine 1 (line 44): blocks forever sending on resc" in out
    report = markdown.render(result, root=Path(LEAKS))
    assert "**How it gets stuck:**" in report
    assert "ProfileHandler.GetProfile: starts goroutine 1" in report
    assert "handlers.go:46](" in report  # each step links to its line


def test_a_reach_over_budget_is_reported_as_explored_in_part(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from leakaudit.model import search

    monkeypatch.setattr(search, "MAX_STATES", 5)
    monkeypatch.setattr(search.explore, "__defaults__", (5,))
    result, _ = scan_paths([str(LEAKS / "collectors.go")], LEAKS)
    notes = [f for f in result.findings if f.rule_id == "analysis-error"]
    assert notes and "explored in part" in notes[0].message


def test_the_inventory_tells_goroutines_that_end_from_those_that_block() -> None:
    """Nothing waits for these goroutines by name; the model says which of them finish
    in every interleaving and which can be left waiting."""
    result, _ = scan_paths([str(LEAKS / "callees.go")], LEAKS)
    kinds = {(g.location.line, g.kind, g.evidence) for g in result.goroutines}
    assert (20, "fire-and-forget", "can block forever (see the goroutine-leak finding)") in kinds
    assert (
        34,
        "ends-on-its-own",
        "nothing waits for it, but in every interleaving it finishes",
    ) in kinds
