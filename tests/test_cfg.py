"""The CFG on its own: one Go function body at a time, built from a string.

The checks trust three things about the graph: every path to the function's end goes
through EXIT (or stops at a NORETURN block), a branch's edges carry its condition and
truth value, and code no path reaches has no predecessors. These tests pin exactly that,
per statement kind. Blocks are found by the source text of their node, so a test reads
like the Go it describes.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from conftest import bundled_rules
from tree_sitter import Node

from leakaudit.facts.cfg import CFG, Block, Edge, Kind, build
from leakaudit.parsing.parser import SourceFile, parse
from leakaudit.parsing.syntax import field, text
from leakaudit.scan import ScanOptions, scan

# --- helpers ---------------------------------------------------------------------------

# Blocks that run code. JOIN blocks (labels, switch/select heads) and STMT blocks holding
# a bare expression (a case value or switch tag) are plumbing between them.
_CODE_KINDS = {Kind.EXIT, Kind.RETURN, Kind.DEFER, Kind.GO, Kind.NORETURN, Kind.COND, Kind.LOOP}


def norm(node: Node | None) -> str:
    return " ".join(text(node).split())


def is_statement(node: Node) -> bool:
    return node.type.endswith(("_statement", "_declaration"))


@dataclass
class Graph:
    cfg: CFG
    source: SourceFile

    @property
    def entry(self) -> Block:
        return self.cfg.entry

    @property
    def exit(self) -> Block:
        return self.cfg.exit

    def __iter__(self) -> Iterator[Block]:
        return iter(self.cfg.blocks)

    def find(self, code: str, kind: Kind | None = None) -> list[Block]:
        """Blocks whose node's source text is `code` (whitespace-normalized)."""
        return [
            b
            for b in self.cfg.blocks
            if b.node is not None and norm(b.node) == code and (kind is None or b.kind == kind)
        ]

    def one(self, code: str, kind: Kind | None = None) -> Block:
        found = self.find(code, kind)
        assert len(found) == 1, f"{len(found)} blocks for {code!r}: {found}"
        return found[0]

    def first(self, code: str) -> Block:
        found = self.find(code)
        assert found, f"no block for {code!r}"
        return found[0]

    def block(self, ref: Block | str) -> Block:
        return ref if isinstance(ref, Block) else self.one(ref)

    def reachable(self, start: Block | None = None) -> set[int]:
        """Indexes of the blocks reachable from `start` (default ENTRY), itself included."""
        start = start or self.entry
        seen = {start.index}
        stack = [start]
        while stack:
            for edge in stack.pop().succs:
                if edge.target.index not in seen:
                    seen.add(edge.target.index)
                    stack.append(edge.target)
        return seen

    def reaches(self, src: Block | str, dst: Block | str) -> bool:
        return self.block(dst).index in self.reachable(self.block(src))

    def after(self, ref: Block | str, value: bool | None = None) -> set[str]:
        """The code that runs next after a block: its successors, looking through JOIN
        blocks and bare case expressions. With `value`, only the edges taken when the
        block's condition has that truth value."""
        start = self.block(ref)
        edges = [
            e for e in start.succs if value is None or (e.cond is not None and e.value == value)
        ]
        out: set[str] = set()
        seen: set[int] = set()
        stack = [e.target for e in edges]
        while stack:
            b = stack.pop()
            if b.index in seen:
                continue
            seen.add(b.index)
            same_node = b.node is not None and start.node is not None and b.node == start.node
            if not same_node and self._is_code(b):
                out.add(label(b))
            else:
                stack.extend(e.target for e in b.succs)
        return out

    @staticmethod
    def _is_code(b: Block) -> bool:
        if b.kind in _CODE_KINDS:
            return True
        return b.kind == Kind.STMT and b.node is not None and is_statement(b.node)

    def edges(self, src: Block | str) -> list[Edge]:
        return self.block(src).succs

    def edge_to(self, src: Block | str, dst: Block | str) -> Edge:
        target = self.block(dst)
        found = [e for e in self.block(src).succs if e.target is target]
        assert len(found) == 1, f"{len(found)} edges {src!r} -> {dst!r}"
        return found[0]

    def live_preds(self, ref: Block | str) -> list[str]:
        """Labels of the predecessors some path from ENTRY reaches (dead code keeps its
        out-edges, so it still shows up in `preds`)."""
        live = self.reachable()
        return sorted(label(p) for p in self.block(ref).preds if p.index in live)

    def exit_reachable(self) -> bool:
        return self.exit.index in self.reachable()


def label(b: Block) -> str:
    if b.kind == Kind.EXIT:
        return "<exit>"
    if b.kind == Kind.ENTRY:
        return "<entry>"
    if b.node is None:
        return f"<{b.kind.value}>"
    return norm(b.node)


def function_node(source: SourceFile) -> Node:
    return next(n for n in source.root.named_children if n.type == "function_declaration")


def cfg_of(body: str, is_noreturn: Callable[[Node], bool] | None = None) -> Graph:
    """The CFG of `func f() { <body> }`; the body must parse cleanly."""
    src = "package p\n\nfunc f() {\n" + textwrap.dedent(body).strip("\n") + "\n}\n"
    source = parse("f.go", src.encode())
    assert not source.root.has_error, f"test Go code does not parse:\n{src}"
    body_node = field(function_node(source), "body")
    graph = build(body_node) if is_noreturn is None else build(body_node, is_noreturn)
    return Graph(graph, source)


# --- invariants every graph keeps --------------------------------------------------------

SNIPPETS: dict[str, str] = {
    "if-else-if": """
        if x := g(); x > 0 {
            a()
        } else if y := h(); y < 0 {
            b()
        } else {
            c()
        }
        d()
    """,
    "loops": """
        for i := 0; i < n; i++ {
            a()
        }
        for x < 3 {
            b()
        }
        for k, v := range m {
            c(k, v)
        }
        for {
            d()
        }
    """,
    "switch": """
        switch x := g(); x {
        case 1, 2:
            a()
            fallthrough
        case 3:
            b()
        default:
            c()
        }
        switch {
        case x > 1:
            d()
        case x < 0, x == 5:
            e()
        }
    """,
    "type-switch": """
        switch v := y.(type) {
        case int:
            a(v)
        case string, error:
            b()
        default:
            c()
        }
    """,
    "select": """
        for {
            select {
            case v := <-ch:
                a(v)
            case out <- 1:
                return
            case <-done:
                break
            default:
                idle()
            }
        }
    """,
    "labels": """
    outer:
        for i := 0; i < n; i++ {
            for j := range xs {
                if j == 1 {
                    continue outer
                }
                if j == 2 {
                    break outer
                }
            }
        }
        goto end
        skipped()
    end:
        done()
    """,
    "noreturn": """
        if a {
            panic("x")
        } else if b {
            os.Exit(1)
        }
        defer cleanup()
        go work()
        return
        dead()
    """,
}


@pytest.mark.parametrize("name", sorted(SNIPPETS))
def test_graph_invariants(name: str) -> None:
    g = cfg_of(SNIPPETS[name])
    blocks = list(g)
    assert [b.index for b in blocks] == list(range(len(blocks)))
    assert g.entry.kind == Kind.ENTRY and g.exit.kind == Kind.EXIT
    assert sum(b.kind == Kind.ENTRY for b in blocks) == 1
    assert sum(b.kind == Kind.EXIT for b in blocks) == 1
    assert g.entry.preds == []
    assert g.exit.succs == []
    for b in blocks:
        # preds mirror succs, edge for edge
        for edge in b.succs:
            assert edge.target in blocks
            assert b in edge.target.preds
        for pred in b.preds:
            assert any(e.target is b for e in pred.succs)
        assert len(b.preds) == sum(1 for p in blocks for e in p.succs if e.target is b)
        if b.kind == Kind.RETURN:
            assert [e.target for e in b.succs] == [g.exit]
        if b.kind == Kind.NORETURN:
            assert b.succs == []
        if b.kind == Kind.COND:
            # out-edges carry the block's own condition, one per truth value
            assert all(e.cond == b.node for e in b.succs)
            assert sorted(e.value for e in b.succs) == [False, True]
        for edge in b.succs:
            assert isinstance(edge.value, bool)


@pytest.mark.parametrize("name", sorted(SNIPPETS))
def test_function_literals_are_not_entered(name: str) -> None:
    body = SNIPPETS[name] + "\ngo func() { return }()\ndefer func() { panic(1) }()\n"
    g = cfg_of(body)
    for b in g:
        if b.node is None:
            continue
        parent = b.node.parent
        while parent is not None:
            assert parent.type != "func_literal", f"{b} is inside a function literal"
            parent = parent.parent


def test_empty_body_and_missing_body() -> None:
    g = cfg_of("")
    assert [label(e.target) for e in g.entry.succs] == ["<exit>"]
    assert len(list(g)) == 2
    declared = build(None)  # `func f()` with no body (assembly, linkname)
    assert [e.target for e in declared.entry.succs] == [declared.exit]


def test_straight_line_code() -> None:
    g = cfg_of("a()\nx := 1\nx++\nb(x)")
    assert g.after(g.entry) == {"a()"}
    assert g.after("a()") == {"x := 1"}
    assert g.after("x := 1") == {"x++"}
    assert g.after("x++") == {"b(x)"}
    assert g.after("b(x)") == {"<exit>"}
    assert all(b.kind == Kind.STMT for b in g if b.node is not None)


# --- if ----------------------------------------------------------------------------------


def test_if_else_if_else_with_inits() -> None:
    g = cfg_of(SNIPPETS["if-else-if"])
    cond1, cond2 = g.one("x > 0", Kind.COND), g.one("y < 0", Kind.COND)
    # the init runs first, then the condition
    assert g.after(g.entry) == {"x := g()"}
    assert g.after("x := g()") == {"x > 0"}
    assert g.after(cond1, True) == {"a()"}
    # the else-if's own init sits on the false branch, before its condition
    assert g.after(cond1, False) == {"y := h()"}
    assert g.after("y := h()") == {"y < 0"}
    assert g.after(cond2, True) == {"b()"}
    assert g.after(cond2, False) == {"c()"}
    for branch in ("a()", "b()", "c()"):
        assert g.after(branch) == {"d()"}
    assert sorted(label(p) for p in g.one("d()").preds) == ["a()", "b()", "c()"]


def test_if_edges_carry_condition_and_value() -> None:
    g = cfg_of("""
        if err != nil {
            handle(err)
        }
        next()
    """)
    cond = g.one("err != nil", Kind.COND)
    true_edge = g.edge_to(cond, "handle(err)")
    false_edge = g.edge_to(cond, "next()")
    assert norm(true_edge.cond) == "err != nil" and true_edge.value is True
    assert norm(false_edge.cond) == "err != nil" and false_edge.value is False
    assert true_edge.cond == cond.node
    # the then-branch joins without a condition
    assert g.edge_to("handle(err)", "next()").cond is None


def test_if_without_else_falls_through_on_false() -> None:
    g = cfg_of("""
        if ok {
            a()
        }
        b()
    """)
    assert g.after("ok", True) == {"a()"}
    assert g.after("ok", False) == {"b()"}


@pytest.mark.parametrize(
    ("then", "otherwise", "after_reachable"),
    [
        ("return", "return", False),
        ("return", "a()", True),
        ('panic("x")', "return", False),
        ("a()", 'log.Fatal("x")', True),
    ],
)
def test_if_branches_that_leave(then: str, otherwise: str, after_reachable: bool) -> None:
    g = cfg_of(f"""
        if ok {{
            {then}
        }} else {{
            {otherwise}
        }}
        after()
    """)
    after = g.one("after()")
    assert (after.index in g.reachable()) is after_reachable
    assert (after.preds != []) is after_reachable


# --- for ---------------------------------------------------------------------------------


def test_three_clause_for() -> None:
    g = cfg_of("""
        for i := 0; i < n; i++ {
            body(i)
        }
        after()
    """)
    cond = g.one("i < n", Kind.COND)
    assert g.after(g.entry) == {"i := 0"}
    assert g.after("i := 0") == {"i < n"}
    assert g.after(cond, True) == {"body(i)"}
    assert g.after(cond, False) == {"after()"}
    assert g.after("body(i)") == {"i++"}  # the post statement, then back to the condition
    assert g.after("i++") == {"i < n"}
    assert {label(p) for p in cond.preds} == {"i := 0", "i++"}


def test_three_clause_for_continue_runs_post_statement() -> None:
    g = cfg_of("""
        for i := 0; i < n; i++ {
            if skip(i) {
                continue
            }
            body(i)
        }
    """)
    assert g.after("skip(i)", True) == {"i++"}
    assert g.after("skip(i)", False) == {"body(i)"}


def test_condition_only_for() -> None:
    g = cfg_of("""
        for x < 3 {
            x = step(x)
        }
        after()
    """)
    cond = g.one("x < 3", Kind.COND)
    assert g.after(cond, True) == {"x = step(x)"}
    assert g.after(cond, False) == {"after()"}
    assert g.after("x = step(x)") == {"x < 3"}
    edge = g.edge_to(cond, "after()")
    assert norm(edge.cond) == "x < 3" and edge.value is False


def test_infinite_for_never_falls_out() -> None:
    g = cfg_of("""
        for {
            work()
        }
        after()
    """)
    head = g.one("work()").preds[0]
    assert head.kind == Kind.LOOP and head.node is None
    assert g.after(head) == {"work()"}
    assert g.after("work()") == {"<loop>"}
    assert g.one("after()").preds == []
    assert not g.exit_reachable()


def test_for_without_condition_is_infinite() -> None:
    g = cfg_of("""
        for i := 0; ; i++ {
            work(i)
        }
        after()
    """)
    assert g.one("after()").preds == []
    assert not g.exit_reachable()
    assert g.reaches("i++", "work(i)")


def test_break_leaves_infinite_for() -> None:
    g = cfg_of("""
        for {
            if done() {
                break
            }
            work()
        }
        after()
    """)
    assert g.after("done()", True) == {"after()"}
    assert g.after("done()", False) == {"work()"}
    assert g.exit_reachable()


@pytest.mark.parametrize(
    ("header", "clause"),
    [
        ("for k, v := range m", "k, v := range m"),
        ("for range ch", "range ch"),
        ("for i := range 10", "i := range 10"),
    ],
)
def test_range_for(header: str, clause: str) -> None:
    g = cfg_of(f"""
        {header} {{
            use()
        }}
        after()
    """)
    head = g.one(clause, Kind.LOOP)
    assert head.node is not None and head.node.type == "range_clause"
    assert g.after(head) == {"use()", "after()"}
    assert all(e.cond is None for e in head.succs)  # a range loop tests no expression
    assert g.after("use()") == {clause}


# --- switch ------------------------------------------------------------------------------


def test_tagged_switch_with_init_fallthrough_and_default() -> None:
    g = cfg_of("""
        switch x := g(); x {
        case 1, 2:
            a()
            fallthrough
        case 3:
            b()
        default:
            c()
        }
        after()
    """)
    head = g.one("x")
    assert g.after(g.entry) == {"x := g()"}
    assert [e.target for e in g.edges("x := g()")] == [head]  # init, then the tag
    assert g.after(head) == {"a()", "b()", "c()"}
    # fallthrough goes into the next case's body, not out of the switch
    assert g.after("a()") == {"b()"}
    assert g.after("b()") == {"after()"}
    assert g.after("c()") == {"after()"}
    # with a default, the head never skips the switch
    assert "after()" not in g.after(head)
    assert all(e.cond is None for e in head.succs)  # tag comparisons carry no condition


def test_tagged_switch_without_default_can_skip_every_case() -> None:
    g = cfg_of("""
        switch mode {
        case "a":
            a()
        case "b":
            b()
        }
        after()
    """)
    assert g.after("mode") == {"a()", "b()", "after()"}


def test_tagless_switch_case_conditions_on_edges() -> None:
    g = cfg_of("""
        switch {
        case x > 1:
            big()
        case x < 0, x == 5:
            odd()
        }
        after()
    """)
    head = g.entry.succs[0].target
    assert g.after(head) == {"big()", "odd()", "after()"}
    conds = {norm(e.cond): e.value for e in head.succs if e.cond is not None}
    # A single-condition case is entered when its condition is true; a case with several
    # conditions is entered on any of them, so that edge carries none.
    assert conds == {"x > 1": True}
    (cond_edge,) = (e for e in head.succs if e.cond is not None)
    assert g.reaches(cond_edge.target, "big()")
    assert not g.reaches(cond_edge.target, "odd()")


def test_tagless_switch_with_init_and_default() -> None:
    g = cfg_of("""
        switch err := do(); {
        case err != nil:
            fail(err)
        default:
            ok()
        }
        after()
    """)
    assert g.after(g.entry) == {"err := do()"}
    head = g.one("err := do()").succs[0].target
    assert g.after(head) == {"fail(err)", "ok()"}
    edge = next(e for e in head.succs if e.cond is not None)
    assert norm(edge.cond) == "err != nil" and edge.value is True
    assert g.reaches(edge.target, "fail(err)")


def test_fallthrough_into_default_and_returning_cases() -> None:
    g = cfg_of("""
        switch v {
        case 1:
            return
        case 2:
            two()
            fallthrough
        default:
            other()
        }
        after()
    """)
    assert g.after("two()") == {"other()"}
    assert g.after("other()") == {"after()"}
    assert g.after("v") == {"return", "two()", "other()"}
    assert g.after("return") == {"<exit>"}


def test_break_and_continue_inside_switch_inside_loop() -> None:
    g = cfg_of("""
        for i := 0; i < n; i++ {
            switch i {
            case 1:
                if skip {
                    break
                }
                one()
            case 2:
                continue
            }
            tail()
        }
        after()
    """)
    # `break` leaves the switch, not the loop; `continue` goes to the loop's post statement
    assert g.after("skip", True) == {"tail()"}
    assert g.after("one()") == {"tail()"}
    # case 1 tests `skip`; case 2 continues at the post statement; no case: on to tail()
    assert g.after("i") == {"skip", "i++", "tail()"}


# --- type switch -------------------------------------------------------------------------


def test_type_switch_cases_and_default() -> None:
    g = cfg_of("""
        switch v := y.(type) {
        case int:
            a(v)
        case string, error:
            b()
        default:
            c()
        }
        after()
    """)
    head = g.entry.succs[0].target
    assert g.after(head) == {"a(v)", "b()", "c()"}
    for body in ("a(v)", "b()", "c()"):
        assert g.after(body) == {"after()"}
    assert all(e.cond is None for e in head.succs)


def test_type_switch_without_default_with_init() -> None:
    g = cfg_of("""
        switch y := get(); v := y.(type) {
        case nil:
            none(v)
        }
        after()
    """)
    assert g.after(g.entry) == {"y := get()"}
    head = g.one("y := get()").succs[0].target
    assert g.after(head) == {"none(v)", "after()"}


# --- select ------------------------------------------------------------------------------


def test_select_without_default_waits_for_a_case() -> None:
    g = cfg_of("""
        select {
        case v := <-ch:
            got(v)
        case out <- 1:
            sent()
        }
        after()
    """)
    head = g.entry.succs[0].target
    assert head.kind == Kind.JOIN
    # each case runs its communication, then its body; the head never skips the select
    assert g.after(head) == {"v := <-ch", "out <- 1"}
    assert g.after(g.first("v := <-ch")) == {"got(v)"}
    assert g.after(g.first("out <- 1")) == {"sent()"}
    assert g.after("got(v)") == {"after()"}
    assert g.after("sent()") == {"after()"}
    assert {label(p) for p in g.one("after()").preds} == {"got(v)", "sent()"}


def test_select_with_default() -> None:
    g = cfg_of("""
        select {
        case <-ctx.Done():
            return
        default:
            poll()
        }
        after()
    """)
    head = g.entry.succs[0].target
    assert g.after(head) == {"<-ctx.Done()", "poll()"}
    assert g.after("poll()") == {"after()"}
    assert g.after(g.first("<-ctx.Done()")) == {"return"}
    assert g.exit_reachable()


def test_empty_select_blocks_forever() -> None:
    g = cfg_of("""
        prepare()
        select {}
        unreachable()
    """)
    head = g.one("prepare()").succs[0].target
    assert head.kind == Kind.JOIN
    assert head.succs == []
    assert g.one("unreachable()").preds == []
    assert not g.exit_reachable()


def test_break_inside_select_inside_loop_leaves_only_the_select() -> None:
    g = cfg_of("""
    loop:
        for {
            select {
            case <-tick:
                if stop {
                    break loop
                }
                break
            case <-quit:
                return
            }
            again()
        }
        after()
    """)
    assert g.after("stop", True) == {"after()"}
    assert g.after("stop", False) == {"again()"}
    assert g.exit_reachable()


# --- labels and goto ---------------------------------------------------------------------


def test_labeled_break_and_continue_across_nested_loops() -> None:
    g = cfg_of("""
    outer:
        for i := 0; i < n; i++ {
            for j := range xs {
                if j == 1 {
                    continue outer
                }
                if j == 2 {
                    break outer
                }
                if j == 3 {
                    break
                }
                if j == 4 {
                    continue
                }
                inner(j)
            }
            tail()
        }
        after()
    """)
    label_block = g.entry.succs[0].target
    assert label_block.kind == Kind.JOIN
    assert g.after(label_block) == {"i := 0"}
    inner_head = g.one("j := range xs", Kind.LOOP)
    assert g.after("j == 1", True) == {"i++"}  # continue outer: the outer post statement
    assert g.after("j == 2", True) == {"after()"}  # break outer: past the outer loop
    assert g.after("j == 3", True) == {"tail()"}  # break: past the inner loop only
    assert g.after("j == 4", True) == {"j := range xs"}  # continue: the inner loop head
    assert g.after("inner(j)") == {"j := range xs"}
    assert g.after(inner_head) == {"j == 1", "tail()"}
    assert g.after("i < n", False) == {"after()"}


def test_labeled_break_out_of_switch_from_inner_loop() -> None:
    g = cfg_of("""
    sw:
        switch x {
        case 1:
            for {
                if done {
                    break sw
                }
            }
        }
        after()
    """)
    assert g.after("done", True) == {"after()"}
    assert g.exit_reachable()


def test_goto_forward_skips_code() -> None:
    g = cfg_of("""
        start()
        goto done
        skipped()
    done:
        finish()
    """)
    assert g.after("start()") == {"finish()"}
    assert g.one("skipped()").preds == []
    assert g.one("skipped()").index not in g.reachable()
    assert g.after("finish()") == {"<exit>"}


def test_goto_backward_makes_a_loop() -> None:
    g = cfg_of("""
        i := 0
    again:
        if i < 3 {
            i++
            goto again
        }
        after()
    """)
    assert g.after("i++") == {"i < 3"}
    assert g.reaches("i < 3", "i < 3")  # a cycle through the label
    assert g.after("i < 3", False) == {"after()"}
    assert g.exit_reachable()


def test_goto_out_of_a_loop_carries_the_branch_condition() -> None:
    g = cfg_of("""
        for {
            if failed() {
                goto cleanup
            }
            work()
        }
    cleanup:
        release()
    """)
    assert g.after("failed()", True) == {"release()"}
    assert g.exit_reachable()


# --- return, defer, go -------------------------------------------------------------------


def test_return_goes_to_exit_and_code_after_it_is_unreachable() -> None:
    g = cfg_of("""
        a()
        return
        dead()
        deader()
    """)
    ret = g.one("return", Kind.RETURN)
    assert [e.target for e in ret.succs] == [g.exit]
    assert ret.succs[0].cond is None
    dead = g.one("dead()")
    assert dead.preds == []
    assert dead.index not in g.reachable()
    assert g.one("deader()").index not in g.reachable()
    # the exit's only live predecessor is the return
    live = g.reachable()
    assert [p for p in g.exit.preds if p.index in live] == [ret]


def test_return_with_values_inside_branch() -> None:
    g = cfg_of("""
        if err != nil {
            return nil, err
        }
        return v, nil
    """)
    early = g.one("return nil, err", Kind.RETURN)
    late = g.one("return v, nil", Kind.RETURN)
    assert g.after("err != nil", True) == {"return nil, err"}
    assert g.after("err != nil", False) == {"return v, nil"}
    assert {p.index for p in g.exit.preds} == {early.index, late.index}


def test_defer_and_go_are_ordinary_steps() -> None:
    g = cfg_of("""
        defer f.Close()
        go worker(ch)
        defer func() { panic("in a closure") }()
        go func() { os.Exit(1) }()
        after()
    """)
    d = g.one("defer f.Close()", Kind.DEFER)
    go = g.one("go worker(ch)", Kind.GO)
    assert g.after(d) == {"go worker(ch)"}
    assert g.after(go) == {'defer func() { panic("in a closure") }()'}
    assert g.one('defer func() { panic("in a closure") }()').kind == Kind.DEFER
    assert g.one("go func() { os.Exit(1) }()").kind == Kind.GO
    assert not [b for b in g if b.kind in (Kind.NORETURN, Kind.RETURN)]
    assert g.exit_reachable()


# --- calls that never return -------------------------------------------------------------

NORETURN_CALLS = [
    'panic("boom")',
    "panic(err)",
    '(panic)("x")',
    "os.Exit(1)",
    "runtime.Goexit()",
    "log.Fatal(err)",
    'log.Fatalf("bad: %v", err)',
    "log.Fatalln(err)",
    'log.Panicf("x")',
    'klog.Exit("x")',
    't.Fatalf("want %d", n)',
    "t.Fatal(err)",
    "t.FailNow()",
    'b.Skip("slow")',
    "t.SkipNow()",
    'logger.Fatal("x")',
    's.log.Fatalf("x %v", err)',
    'app.logger.Fatal("x")',
]


@pytest.mark.parametrize("call", NORETURN_CALLS)
def test_noreturn_call_ends_the_path(call: str) -> None:
    g = cfg_of(f"""
        if bad {{
            {call}
            notReached()
        }}
        ok()
    """)
    stop = g.one(call, Kind.NORETURN)
    assert stop.succs == []
    assert g.after("bad", True) == {call}
    # the statement after the call is dead; `ok()` is reached only when `bad` is false
    assert g.one("notReached()").preds == []
    assert g.live_preds("ok()") == ["bad"]
    assert g.edge_to("bad", "ok()").value is False
    assert stop.index not in {p.index for p in g.exit.preds}


@pytest.mark.parametrize(
    "call",
    [
        'log.Print("x")',
        'log.Printf("x")',
        't.Errorf("x")',
        't.Logf("x")',
        "t.Fail()",
        'fmt.Println("x")',
        "cmd.Exit(1)",  # only os.Exit (and klog.Exit) end the process; cobra-style Exit does not
        "Exit(1)",
        "recover()",
    ],
)
def test_ordinary_calls_return(call: str) -> None:
    g = cfg_of(f"""
        if bad {{
            {call}
        }}
        ok()
    """)
    assert g.one(call).kind == Kind.STMT
    assert g.after(call) == {"ok()"}


@pytest.mark.parametrize("stmt", ['defer panic("x")', "go os.Exit(1)"])
def test_deferred_or_spawned_noreturn_does_not_end_the_path(stmt: str) -> None:
    g = cfg_of(f"{stmt}\nafter()")
    assert g.one(stmt).kind in (Kind.DEFER, Kind.GO)
    assert g.after(stmt) == {"after()"}


def test_noreturn_on_every_path_makes_exit_unreachable() -> None:
    g = cfg_of("""
        switch mode {
        case "a":
            log.Fatal("a")
        default:
            panic("b")
        }
        after()
    """)
    assert g.one("after()").preds == []
    assert not g.exit_reachable()


def test_noreturn_in_a_select_case() -> None:
    g = cfg_of("""
        select {
        case err := <-errs:
            log.Fatal(err)
        case <-done:
        }
        after()
    """)
    assert g.one("log.Fatal(err)", Kind.NORETURN).succs == []
    assert {label(p) for p in g.one("after()").preds} == {"<-done"}


def test_custom_noreturn_predicate() -> None:
    def is_die(call: Node) -> bool:
        return norm(field(call, "function")) == "die"

    g = cfg_of(
        """
        if bad {
            die()
        }
        panic("not special here")
        """,
        is_noreturn=is_die,
    )
    assert g.one("die()").kind == Kind.NORETURN
    assert g.one('panic("not special here")').kind == Kind.STMT
    assert g.exit_reachable()


# --- known bugs ----------------------------------------------------------------------------


def test_select_communication_is_a_single_block() -> None:
    g = cfg_of("""
        select {
        case v := <-ch:
            got(v)
        case out <- x:
        }
    """)
    nodes = [(b.node.start_byte, b.node.end_byte) for b in g if b.node is not None]
    assert len(nodes) == len(set(nodes))


def test_chained_logger_fatal_ends_the_path() -> None:
    g = cfg_of("""
        if bad {
            logrus.WithError(err).Fatal("boom")
        }
        ok()
    """)
    assert g.one('logrus.WithError(err).Fatal("boom")').kind == Kind.NORETURN


_FATAL_IN_DEFAULT = """
package main

import (
    "os"

    "github.com/sirupsen/logrus"
)

var logger = logrus.New()

func run(mode string) {
    f, err := os.Open("x")
    if err != nil {
        return
    }
    switch mode {
    case "a":
        f.Close()
    default:
        FATAL
    }
}
"""


def _scan_go(tmp_path, source: str) -> list[str]:  # type: ignore[no-untyped-def]
    (tmp_path / "main.go").write_text(source, encoding="utf-8")
    options = ScanOptions(paths=[str(tmp_path)], root=tmp_path, ruleset=bundled_rules())
    result, problems = scan(options)
    assert not problems
    return [f.rule_id for f in result.findings]


def test_logger_fatal_is_no_leak_path(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # The file is open on the default path, but that path ends the process.
    assert _scan_go(tmp_path, _FATAL_IN_DEFAULT.replace("FATAL", 'logger.Fatal("bad")')) == []


def test_chained_logger_fatal_is_no_leak_path(tmp_path) -> None:  # type: ignore[no-untyped-def]
    chained = 'logrus.WithField("mode", mode).Fatal("bad")'
    assert _scan_go(tmp_path, _FATAL_IN_DEFAULT.replace("FATAL", chained)) == []
