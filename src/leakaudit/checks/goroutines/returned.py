"""goroutine-leak, the returned-channel shape: a function hands its caller the channel its
goroutine must send on, and the caller drops it.

`func watch() <-chan Event { ch := make(chan Event); go func() { ch <- next() }(); return
ch }` is only safe when every caller receives. A call whose result is thrown away
(`watch()` as a statement, `_ = watch()`, `go`/`defer watch()`) leaves the goroutine
blocked on its first send forever. The producer qualifies when the channel is
unbuffered, made and returned by the function and used by nothing else but its
goroutine's plain sends (and a close): then the first send surely waits for the caller.
Reported at the call, with the send as the related location.
"""

from __future__ import annotations

from dataclasses import dataclass

from tree_sitter import Node

from leakaudit.checks.api import Function, Package, Sink, location
from leakaudit.checks.goroutines.channels import (
    ASSIGN,
    CLOSE,
    RANGE,
    RECV,
    SEND,
    USE,
    classify,
    innermost_literal,
    make_capacity,
)
from leakaudit.checks.goroutines.launches import declares, find_word, launches, owner_of
from leakaudit.findings import Related
from leakaudit.parsing.syntax import (
    blank_assigned,
    expressions,
    line_of,
    named,
    parent_of,
    result_dropped,
    statements,
    text,
    unparen,
)
from leakaudit.parsing.syntax import field as child
from leakaudit.ruleset.model import Rule


@dataclass(frozen=True)
class Producer:
    fn: Function
    chan: str
    send: Node  # the goroutine's first plain send


def run(pkg: Package, rule: Rule, sink: Sink) -> None:
    producers = _producers(pkg)
    if not producers:
        return
    for source in pkg.files:
        for name, producer in producers.items():
            for ident in find_word(source, name, ("identifier", "field_identifier")):
                call = _call_of(ident)
                if call is None:
                    continue
                owner = owner_of(pkg, call, source)
                if owner is None or owner.node.id == producer.fn.node.id:
                    continue
                kind, var = ("dropped", "") if result_dropped(call) else _unread(owner, call)
                if kind is None:
                    continue
                if rule.options.get("skip-tests") and source.is_test:
                    continue
                callee = owner.types.quick_callee(call, owner.node) or owner.types.callee(
                    call, owner.scope
                )
                if (
                    callee is None
                    or callee.package != "."
                    or callee.receiver
                    or callee.name != name
                ):
                    continue
                where = location(producer.fn.file, producer.send, first_line_only=True)
                sink.report(
                    rule,
                    kind,
                    source,
                    call,
                    owner.name,
                    (
                        Related(
                            where, f"{producer.fn.name}'s goroutine sends on {producer.chan} here"
                        ),
                    ),
                    callee=producer.fn.name,
                    chan=producer.chan,
                    line=line_of(producer.send),
                    var=var,
                )


def _producers(pkg: Package) -> dict[str, Producer]:
    """Functions of the package (not methods: a method's callers are harder to tell
    apart by name) that return the unbuffered channel their goroutine sends on."""
    out: dict[str, Producer] = {}
    for launch in launches(pkg):
        fn = launch.owner
        target = launch.target
        if fn.is_literal or fn.node.type != "function_declaration" or target is None:
            continue
        if not target.is_literal:
            continue
        found = _returned_channel(fn, target.node)
        if found is not None:
            out.setdefault(fn.name, Producer(fn, *found))
    return out


def _returned_channel(fn: Function, literal: Node) -> tuple[str, Node] | None:
    body = child(fn.node, "body")
    if body is None:
        return None
    for stmt in statements(body):
        if stmt.type != "return_statement":
            continue
        lists = [c for c in stmt.named_children if c.type != "comment"]
        values = [unparen(v) for v in expressions(lists[0])] if lists else []
        if len(values) != 1 or values[0] is None or values[0].type != "identifier":
            return None
        name = text(values[0])
        if declares(literal, name):
            return None
        return _checked(body, literal, name)
    return None


def _checked(body: Node, literal: Node, name: str) -> tuple[str, Node] | None:
    """(name, first send) when `name` is made unbuffered once, returned once, and
    otherwise only sent on plainly (or closed) inside the launched literal."""
    made = sends = returns = 0
    first: Node | None = None
    for occ in named(body, (name,)):
        inside = literal.start_byte <= occ.start_byte < literal.end_byte
        parent = occ.parent
        if parent is not None and parent.type == "expression_list":
            holder = parent.parent
            if holder is not None and holder.type == "short_var_declaration" and not inside:
                values = expressions(child(holder, "right"))
                if len(values) != 1 or make_capacity(values[0]) != 0:
                    return None
                made += 1
                continue
        holder = (
            parent.parent if parent is not None and parent.type == "expression_list" else parent
        )
        if holder is not None and holder.type == "return_statement" and not inside:
            returns += 1
            continue
        if not inside or innermost_literal(occ, literal) is not None:
            return None
        op = classify(occ)
        if op.kind == SEND and not op.guarded:
            sends += 1
            if first is None or op.stmt.start_byte < first.start_byte:
                first = op.stmt
        elif op.kind != CLOSE:
            return None
    if made != 1 or returns != 1 or sends == 0 or first is None:
        return None
    if _conditional(first, literal):
        return None
    return name, first


def _conditional(send: Node, literal: Node) -> bool:
    """Is the send under an `if`, a `switch`, a `select` or a loop that may not run: then
    the goroutine may end without sending, and nothing is sure."""
    cur = send.parent
    while cur is not None and cur != literal:
        if cur.type in (
            "if_statement",
            "expression_switch_statement",
            "type_switch_statement",
            "select_statement",
        ) or (cur.type == "for_statement" and not _endless(cur)):
            return True
        cur = cur.parent
    return False


def _endless(loop: Node) -> bool:
    """`for { ... }` runs its body: a send in it happens (the first time round)."""
    return not any(c.type in ("for_clause", "range_clause") for c in loop.named_children) and all(
        c.type in ("block", "comment") for c in loop.named_children
    )


def _call_of(ident: Node) -> Node | None:
    parent = ident.parent
    if parent is not None and parent.type == "selector_expression":
        return None  # pkg.Name or x.Name: another package's, or a method
    call = parent
    if call is None or call.type != "call_expression" or child(call, "function") != ident:
        return None
    return call


def _unread(owner: Function, call: Node) -> tuple[str | None, str]:
    """("unread", var) when the call's result is kept in a local variable (`c :=
    watch()`) that this function never receives from and never lets go of (passes,
    returns, stores, sends); (None, "") otherwise."""
    parent = parent_of(call)
    holder = parent.parent if parent is not None and parent.type == "expression_list" else None
    if holder is None or holder.type != "short_var_declaration":
        return None, ""
    if child(holder, "right") != parent or len(expressions(parent)) != 1:
        return None, ""
    left = expressions(child(holder, "left"))
    if len(left) != 1 or left[0] is None or left[0].type != "identifier" or text(left[0]) == "_":
        return None, ""
    var = text(left[0])
    body = child(owner.node, "body")
    for occ in named(body, (var,)) if body is not None else ():
        if occ.start_byte < holder.end_byte and occ.start_byte >= holder.start_byte:
            continue  # the declaration itself
        if blank_assigned(occ):
            continue  # `_ = c`: read by nobody
        op = classify(occ)
        if op.kind in (RECV, RANGE) or op.kind not in (USE, ASSIGN, CLOSE):
            return None, ""  # received from, or gone where its receiver may be
        if op.kind == ASSIGN:
            return None, ""  # reassigned: which channel it holds is a guess
    return "unread", var
