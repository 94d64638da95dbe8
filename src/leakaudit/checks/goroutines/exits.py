"""Can a goroutine's body ever finish?

Answered on the body's control-flow graph: the goroutine can end when the function's
exit (a `return`, the closing brace) or a call that never returns (panic, os.Exit,
log.Fatal: the goroutine stops too) is reachable from its entry. A `range` over a
channel that nobody ever closes has no way out through its loop head: a ticker's `C`
(Stop does not close it), `time.Tick`, or a struct-field channel that this package only
ever makes and never closes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from tree_sitter import Node

from leakaudit.checks.api import Function, Package
from leakaudit.checks.goroutines.channels import (
    ARG,
    ASSIGN,
    ESCAPE,
    classify,
    done_receive,
    make_capacity,
)
from leakaudit.checks.goroutines.launches import Launch, declares, find, find_word, launches
from leakaudit.facts.cfg import Block, Kind
from leakaudit.parsing.syntax import expressions, parent_of, text, unparen, walk
from leakaudit.parsing.syntax import field as child
from leakaudit.ruleset.model import Rule

TICKER = "time.Ticker"


@dataclass
class Ending:
    """What a goroutine body's shape says about its end."""

    can_end: bool
    watches_done: bool  # receives from x.Done(): it is told when to stop
    loops: bool  # has a loop at all
    tickers: list[Node] = field(default_factory=list)  # `t` of each `<-t.C` / `range t.C`


def endless_launches(pkg: Package, rule: Rule) -> Iterator[tuple[Launch, Function, Ending]]:
    """Launches whose body can never end and does not watch a Done() channel (the
    shared first half of the unstoppable and ticker checks). Process-lifetime launches
    and, with `skip-tests`, test files are left out."""
    for launch in launches(pkg):
        target = launch.target
        if target is None:
            continue
        if rule.options.get("skip-tests") and launch.owner.file.is_test:
            continue
        shape = ending(pkg, target)
        if not (shape.can_end or shape.watches_done) and launch.lifetime is None:
            yield launch, target, shape


def ending(pkg: Package, fn: Function) -> Ending:
    return pkg.memo(("goroutines:ending", fn.node.id), lambda: _ending(pkg, fn))  # type: ignore[no-any-return]


def _ending(pkg: Package, fn: Function) -> Ending:
    body = child(fn.node, "body")
    tickers: list[Node] = []
    watches = False
    loops = False
    endless_ranges: set[int] = set()
    if body is not None:
        for node in walk(body):
            kind = node.type
            if kind == "for_statement":
                loops = True
            elif kind == "unary_expression" and text(child(node, "operator")) == "<-":
                if done_receive(node):
                    watches = True
                t = ticker_of(fn, child(node, "operand"))
                if t is not None:
                    tickers.append(t)
            elif kind == "range_clause":
                right = child(node, "right")
                t = ticker_of(fn, right)
                if t is not None:
                    tickers.append(t)
                    endless_ranges.add(node.id)
                elif never_closed(pkg, fn, right):
                    endless_ranges.add(node.id)
    return Ending(
        can_end=_reaches_end(fn, endless_ranges),
        watches_done=watches,
        loops=loops,
        tickers=tickers,
    )


def _reaches_end(fn: Function, endless_ranges: set[int]) -> bool:
    graph = fn.cfg
    seen: set[int] = set()
    stack: list[Block] = [graph.entry]
    while stack:
        block = stack.pop()
        if block.index in seen:
            continue
        seen.add(block.index)
        if block is graph.exit or block.kind == Kind.NORETURN:
            return True
        endless = (
            block.kind == Kind.LOOP and block.node is not None and block.node.id in endless_ranges
        )
        for edge in block.succs:
            if endless and edge.cond is None and not edge.value:
                continue  # the range never runs out
            stack.append(edge.target)
    return False


def ticker_of(fn: Function, expr: Node | None) -> Node | None:
    """`t` when expr is `t.C` of a *time.Ticker (by declared type)."""
    expr = unparen(expr)
    if expr is None or expr.type != "selector_expression" or text(child(expr, "field")) != "C":
        return None
    operand = unparen(child(expr, "operand"))
    if operand is None:
        return None
    if fn.types.type_of(operand, fn.scope) == TICKER:
        return operand
    return None


def never_closed(pkg: Package, fn: Function, expr: Node | None) -> bool:
    """A channel no code will close: `time.Tick(...)`, or a field `x.f` that this package
    only ever assigns from make(chan ...) and never passes to close."""
    expr = unparen(expr)
    if expr is None:
        return False
    if expr.type == "call_expression":
        callee = fn.types.quick_callee(expr, fn.node) or fn.types.callee(expr, fn.scope)
        return callee is not None and callee.package == "time" and callee.name == "Tick"
    if expr.type != "selector_expression":
        return False
    operand = unparen(child(expr, "operand"))
    if operand is None or (
        operand.type == "identifier"
        and operand.text
        and (text(operand) in fn.types.imports and text(operand) not in fn.scope)
    ):
        return False
    name = text(child(expr, "field"))
    facts = field_channels(pkg)
    return name in facts.made and name not in facts.open


@dataclass
class FieldChannels:
    made: set[str] = field(default_factory=set)  # fields assigned a make(chan ...)
    # fields closed, or assigned anything else (a channel from elsewhere may be closed)
    open: set[str] = field(default_factory=set)
    unbuffered: dict[str, bool] = field(default_factory=dict)  # every make unbuffered?
    makes: dict[str, list[Node]] = field(default_factory=dict)


def field_channels(pkg: Package) -> FieldChannels:
    """What the package does with struct-field channels, by field name."""

    def compute() -> FieldChannels:
        facts = FieldChannels()
        for source in pkg.files:
            if b"chan" not in source.content:
                continue
            for call in find(source, rb"\bmake\s*\(\s*(?:<-\s*)?chan\b", ("call_expression",)):
                name = _assigned_field(call)
                if name is not None:
                    capacity = make_capacity(call)
                    facts.made.add(name)
                    facts.makes.setdefault(name, []).append(call)
                    facts.unbuffered[name] = facts.unbuffered.get(name, True) and capacity == 0
        if not facts.made:
            return facts
        for source in pkg.files:
            for call in find(source, rb"\bclose\s*\(", ("call_expression",)):
                args = child(call, "arguments")
                arg = unparen(args.named_children[0]) if args and args.named_children else None
                if arg is not None and arg.type == "selector_expression":
                    facts.open.add(text(child(arg, "field")))
            for name in sorted(facts.made - facts.open):
                if name.encode() not in source.content:
                    continue
                for sel in find_word(source, name, ("field_identifier",)):
                    node = sel.parent
                    if node is None or node.type != "selector_expression":
                        continue
                    op = classify(node)
                    if op.kind in (ARG, ESCAPE) or (
                        op.kind == ASSIGN and not _made_or_nil(_value_for(op.stmt, node))
                    ):
                        facts.open.add(name)
                keyed = rb"\b" + re.escape(name.encode()) + rb"\s*:"
                for key in find(source, keyed, ("field_identifier", "identifier")):
                    element = key.parent
                    if element is not None and element.type == "literal_element":
                        element = element.parent
                    if element is None or element.type != "keyed_element":
                        continue
                    k, v = _keyed(element)
                    if k == key and not _made_or_nil(v):
                        facts.open.add(name)
        return facts

    return pkg.memo("goroutines:field-chans", compute)  # type: ignore[no-any-return]


def _made_or_nil(value: Node | None) -> bool:
    value = unparen(value)
    return value is not None and (value.type == "nil" or make_capacity(value) is not False)


def _value_for(assign: Node, target: Node) -> Node | None:
    left = expressions(child(assign, "left"))
    right = expressions(child(assign, "right"))
    if target in left and len(left) == len(right):
        return right[left.index(target)]
    return None


def _assigned_field(make: Node) -> str | None:
    """The field a make(chan ...) is stored in: `x.f = make(...)` or `T{f: make(...)}`."""
    parent = parent_of(make)
    if parent is None:
        return None
    if parent.type == "literal_element" and parent.parent is not None:
        key, value = _keyed(parent.parent)
        if value == make and key is not None and key.type in ("field_identifier", "identifier"):
            return text(key)
        return None
    if parent.type == "expression_list" and parent.parent is not None:
        assign = parent.parent
        if assign.type == "assignment_statement" and child(assign, "right") == parent:
            left = expressions(child(assign, "left"))
            right = expressions(parent)
            if len(left) == len(right):
                target = left[right.index(make)] if make in right else None
                if target is not None and target.type == "selector_expression":
                    return text(child(target, "field"))
    return None


def _keyed(node: Node) -> tuple[Node | None, Node | None]:
    items = [c for c in node.named_children if c.type != "comment"]
    if len(items) != 2:
        return None, None
    key, value = items

    def inner(n: Node) -> Node | None:
        if n.type == "literal_element":
            return n.named_children[0] if n.named_children else None
        return n

    return inner(key), inner(value)


def ticker_stop(pkg: Package, launch: Launch) -> Node | None:
    """The Stop call, outside the goroutine, on a ticker whose C the goroutine loops on.

    Stop does not close C, so a goroutine that can only leave by C running out is stuck
    once the ticker is stopped."""
    target = launch.target
    if target is None:
        return None
    for t in ending(pkg, target).tickers:
        stop = _stop_for(pkg, launch, t)
        if stop is not None:
            return stop
    return None


def _stop_for(pkg: Package, launch: Launch, t: Node) -> Node | None:
    target = launch.target
    assert target is not None
    if t.type == "selector_expression":
        return _field_stop(pkg, text(child(t, "field")), target.node)
    if t.type != "identifier":
        return None
    name = text(t)
    bound = launch.bindings.get(name)
    if bound is not None:
        bound = unparen(bound)
        if bound is not None and bound.type == "unary_expression":
            bound = unparen(child(bound, "operand"))
        if bound is None:
            return None
        if bound.type == "selector_expression":
            return _field_stop(pkg, text(child(bound, "field")), target.node)
        if bound.type == "identifier":
            return _local_stop(launch.owner.node, text(bound), target.node)
        return None
    if launch.captures and name in launch.owner.scope and not declares(target.node, name):
        return _local_stop(launch.owner.node, name, target.node)
    return None


def _is_stop_on(call: Node) -> Node | None:
    fn = unparen(child(call, "function"))
    if fn is None or fn.type != "selector_expression" or text(child(fn, "field")) != "Stop":
        return None
    return unparen(child(fn, "operand"))


def _field_stop(pkg: Package, fname: str, skip: Node) -> Node | None:
    for source in pkg.files:
        if b"Stop" not in source.content:
            continue
        for sel in find(source, rb"\bStop\b", ("field_identifier",)):
            fn = sel.parent
            node = fn.parent if fn is not None else None
            if node is None or node.type != "call_expression" or _within(node, skip):
                continue
            operand = _is_stop_on(node)
            if (
                operand is not None
                and operand.type == "selector_expression"
                and text(child(operand, "field")) == fname
            ):
                return node
    return None


def _local_stop(owner: Node, name: str, skip: Node) -> Node | None:
    body = child(owner, "body")
    if body is None:
        return None
    for node in walk(body, into_funcs=True):
        if node.type != "call_expression" or _within(node, skip):
            continue
        operand = _is_stop_on(node)
        if operand is not None and operand.type == "identifier" and text(operand) == name:
            return node
    return None


def _within(node: Node, outer: Node) -> bool:
    return (
        outer.start_byte <= node.start_byte
        and node.end_byte <= outer.end_byte
        and (node.id == outer.id or _has_ancestor(node, outer))
    )


def _has_ancestor(node: Node, outer: Node) -> bool:
    cur = node.parent
    while cur is not None:
        if cur.id == outer.id:
            return True
        cur = cur.parent
    return False
