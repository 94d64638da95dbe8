"""A timer-creating call (time.After) as a case of a select inside a loop, while another
case can fire and keep the loop going: one timer per iteration, each alive until it fires."""

from __future__ import annotations

from tree_sitter import Node

from leakaudit.checks.api import Function, Package, Sink
from leakaudit.checks.calls import interest, matching_calls, targets
from leakaudit.checks.goroutines.channels import done_receive
from leakaudit.facts.cfg import block_leaves, is_noreturn_call
from leakaudit.parsing.syntax import FUNC_NODES, statements, unparen
from leakaudit.parsing.syntax import field as child
from leakaudit.ruleset.model import Rule


def run(pkg: Package, rule: Rule, sink: Sink) -> None:
    wanted = targets(rule)

    def check(fn: Function) -> None:
        for call in matching_calls(pkg, fn, wanted):
            case = _select_case(call)
            if case is None or not _in_unbounded_loop(case.parent):
                continue
            others = [
                c for c in case.parent.named_children if c.type.endswith("case") and c != case
            ]
            if any(not _leaves_loop(c) and not _fires_once(c) for c in others):
                sink.report(rule, "leak", fn.file, call, fn.name)

    sink.each(pkg.reported(interest(rule)), rule, check)


def _fires_once(case: Node) -> bool:
    """`case <-ctx.Done():` fires once, when the context ends, so it cannot keep a
    loop creating timers (the cancellable-sleep idiom)."""
    node = child(case, "communication") if case.type == "communication_case" else None
    if node is not None and node.type == "receive_statement":
        node = child(node, "right")
    node = unparen(node)
    return node is not None and done_receive(node)


def _select_case(call: Node) -> Node | None:
    """The communication case whose receive is `<-call`, if any."""
    node = call.parent
    while node is not None and node.type in ("parenthesized_expression", "unary_expression"):
        node = node.parent
    if node is not None and node.type == "receive_statement":
        node = node.parent
    if node is None or node.type != "communication_case":
        return None
    comm = child(node, "communication")
    if comm is None or not (comm.start_byte <= call.start_byte < comm.end_byte):
        return None
    return node


def _in_unbounded_loop(node: Node | None) -> bool:
    """`for {}`, `for cond {}` or a range: loops that run for as long as work comes. A
    counted `for i := 0; i < n; i++` loop (retries, a few steps) is left alone."""
    while node is not None and node.type not in FUNC_NODES:
        if node.type == "for_statement":
            clause = next(
                (c for c in node.named_children if c.type in ("for_clause", "range_clause")), None
            )
            if clause is None:
                return True
            return clause.type == "range_clause"
        node = node.parent
    return False


def _leaves_loop(case: Node) -> bool:
    """Does the case body always leave the enclosing loop? (A plain `break` in a select
    leaves only the select.)"""
    body = statements(case)
    if not body:
        return False
    last = body[-1]
    if last.type in ("return_statement", "goto_statement"):
        return True
    if last.type in ("break_statement", "continue_statement"):
        return (
            any(c.type == "label_name" for c in last.named_children)
            and last.type == "break_statement"
        )
    if last.type == "expression_statement":
        expr = unparen(last.named_children[0]) if last.named_children else None
        return expr is not None and expr.type == "call_expression" and is_noreturn_call(expr)
    if last.type == "if_statement":
        alt = child(last, "alternative")
        return alt is not None and block_leaves(child(last, "consequence")) and block_leaves(alt)
    return False
