"""Channels a function makes for itself, and what it and its goroutines do with them.

A local channel (`ch := make(chan T)`) whose every use is a send, a receive, a range,
`close`, `len`/`cap`, or an argument of a `go` call that launches readable code is
*private*: everything that can ever unblock a goroutine on it is in view, so "nobody
will receive again" can be decided. Any other use (returned, stored, passed to a
helper, captured by a closure that runs who knows when) makes the channel escape, and
the checks say nothing about it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tree_sitter import Node

from leakaudit.checks.api import Function, Package
from leakaudit.checks.goroutines.launches import Launch, declares, launched_literals, launches
from leakaudit.parsing.syntax import FUNC_NODES, expressions, named, parent_of, text, unparen
from leakaudit.parsing.syntax import field as child

SEND, RECV, RANGE, CLOSE, USE, ARG, ASSIGN, ESCAPE = (
    "send",
    "recv",
    "range",
    "close",
    "use",
    "arg",
    "assign",
    "escape",
)


@dataclass(frozen=True)
class ChanOp:
    kind: str
    node: Node  # the identifier occurrence
    stmt: Node  # send_statement / unary_expression / range_clause / call / the occurrence
    guarded: bool = False  # a send or receive in a select that has another way out
    comma_ok: bool = False  # `v, ok := <-ch`


@dataclass(eq=False)
class LocalChan:
    name: str
    make: Node  # the make(...) call
    capacity: int | None  # 0 unbuffered; a literal size; None: buffered, size unknown
    own: list[ChanOp] = field(default_factory=list)  # in the owner's body itself
    by_launch: dict[Launch, list[ChanOp]] = field(default_factory=dict)
    escapes: bool = False
    closed: bool = False
    ambiguous: bool = False  # declared or assigned more than once

    @property
    def private(self) -> bool:
        return not self.escapes and not self.ambiguous

    def launch_ops(self, launch: Launch, *kinds: str) -> list[ChanOp]:
        return [op for op in self.by_launch.get(launch, []) if op.kind in kinds]

    def own_ops(self, *kinds: str) -> list[ChanOp]:
        return [op for op in self.own if op.kind in kinds]


def local_channels(pkg: Package, fn: Function) -> list[LocalChan]:
    """The channels `fn` makes and keeps in a local variable, with their uses."""
    return pkg.memo(("goroutines:chans", fn.node.id), lambda: _collect(pkg, fn))  # type: ignore[no-any-return]


def _collect(pkg: Package, fn: Function) -> list[LocalChan]:
    body = child(fn.node, "body")
    source = (body.text or b"") if body is not None else b""
    if body is None or b"chan" not in source or b"make" not in source:
        return []  # a local channel is made right here: `make(chan ...)`
    chans: dict[str, LocalChan] = {}
    counts: dict[str, int] = {}
    for node in fn.types.declarations(body):  # the nodes _bindings reads, by a query
        for name, value in _bindings(node):
            counts[name] = counts.get(name, 0) + 1
            capacity = make_capacity(value)
            if capacity is False or node.type == "assignment_statement":
                continue  # `x = make(...)` may be a package variable: not ours alone
            if name not in chans:
                chans[name] = LocalChan(name, value, capacity)  # type: ignore[arg-type]
    if not chans:
        return []
    mine = [launch for launch in launches(pkg) if launch.owner is fn]
    literal_of = {
        lit_id: launch for lit_id, launch in launched_literals(pkg).items() if launch.owner is fn
    }
    go_calls = {launch.call.id: launch for launch in mine}
    for name, chan in chans.items():
        if counts.get(name, 0) > 1:
            chan.ambiguous = True
            continue
        _owner_uses(chan, body, fn.node, literal_of, go_calls)
        for launch in mine:
            names = launch.names_for(name)
            if not names or launch.target is None:
                continue
            ops = _target_uses(chan, launch.target, names)
            if ops:
                chan.by_launch[launch] = ops
    return list(chans.values())


def _bindings(node: Node) -> list[tuple[str, Node]]:
    """(name, value) pairs a declaration or plain assignment binds to identifiers."""
    kind = node.type
    if kind == "short_var_declaration" or (
        kind == "assignment_statement" and text(child(node, "operator")) == "="
    ):
        left, right = expressions(child(node, "left")), expressions(child(node, "right"))
    elif kind == "var_spec":
        left = list(node.children_by_field_name("name"))
        right = expressions(child(node, "value"))
    else:
        return []
    if len(left) != len(right):
        return [(text(t), right[0] if right else node) for t in left if t.type == "identifier"]
    return [(text(t), v) for t, v in zip(left, right, strict=True) if t.type == "identifier"]


def make_capacity(value: Node) -> int | bool | None:
    """0 for make(chan T), n for make(chan T, n) with a literal n, None for another size,
    False when the value is not a channel make at all."""
    value = unparen(value)  # type: ignore[assignment]
    if value is None or value.type != "call_expression":
        return False
    fn = unparen(child(value, "function"))
    if fn is None or fn.type != "identifier" or text(fn) != "make":
        return False
    args = [a for a in (child(value, "arguments") or value).named_children if a.type != "comment"]
    if not args or args[0].type != "channel_type":
        return False
    if len(args) == 1:
        return 0
    size = unparen(args[1])
    if size is not None and size.type == "int_literal":
        try:
            return int(text(size).replace("_", ""), 0)
        except ValueError:
            return None
    return None


def innermost_literal(node: Node, stop: Node) -> Node | None:
    cur = node.parent
    while cur is not None and cur != stop:
        if cur.type in FUNC_NODES:
            return cur
        cur = cur.parent
    return None


def _owner_uses(
    chan: LocalChan,
    body: Node,
    owner: Node,
    literal_of: dict[int, Launch],
    go_calls: dict[int, Launch],
) -> None:
    for occ in named(body, (chan.name,)):
        lit = innermost_literal(occ, owner)
        if lit is not None and _inside_launched(occ, owner, literal_of):
            continue  # read through the launch, with its own names
        op = classify(occ)
        if lit is not None:
            if op.kind == CLOSE:
                chan.closed = True
            elif not declares(lit, chan.name):
                chan.escapes = True
            continue
        if op.kind == ASSIGN:
            if op.stmt != chan.make and not _is_definition(op, chan):
                chan.ambiguous = True
            continue
        if op.kind == CLOSE:
            chan.closed = True
        elif op.kind == ARG:
            launch = go_calls.get(op.stmt.id)
            if launch is None or launch.target is None:
                chan.escapes = True
                continue
        elif op.kind == ESCAPE:
            chan.escapes = True
        chan.own.append(op)


def _is_definition(op: ChanOp, chan: LocalChan) -> bool:
    """The occurrence is the name being bound by the make itself."""
    holder = op.node.parent
    while holder is not None and holder.type in ("expression_list",):
        holder = holder.parent
    return holder is not None and holder.start_byte <= chan.make.start_byte < holder.end_byte


def _inside_launched(occ: Node, owner: Node, literal_of: dict[int, Launch]) -> bool:
    cur = occ.parent
    while cur is not None and cur != owner:
        if cur.type == "func_literal" and cur.id in literal_of:
            return True
        cur = cur.parent
    return False


def _target_uses(chan: LocalChan, target: Function, names: set[str]) -> list[ChanOp]:
    body = child(target.node, "body")
    if body is None:
        return []
    ops: list[ChanOp] = []
    for occ in named(body, names):
        op = classify(occ)
        lit = innermost_literal(occ, target.node)
        if lit is not None:
            if op.kind == CLOSE:
                chan.closed = True
            elif not declares(lit, text(occ)):
                chan.escapes = True
            continue
        if op.kind == CLOSE:
            chan.closed = True
        elif op.kind in (ARG, ASSIGN, ESCAPE):
            chan.escapes = True
        ops.append(op)
    return ops


def classify(occ: Node) -> ChanOp:
    """What the expression at `occ` (a channel) takes part in."""
    value = occ
    parent = value.parent
    while parent is not None and parent.type == "parenthesized_expression":
        value, parent = parent, parent.parent
    if parent is None:
        return ChanOp(ESCAPE, occ, occ)
    kind = parent.type
    if kind == "send_statement":
        if unparen(child(parent, "channel")) == occ:
            return ChanOp(SEND, occ, parent, guarded=select_alternatives(parent))
        return ChanOp(ESCAPE, occ, parent)  # sending the channel itself
    if kind == "unary_expression" and text(child(parent, "operator")) == "<-":
        return ChanOp(
            RECV,
            occ,
            parent,
            guarded=select_alternatives(parent),
            comma_ok=_comma_ok(parent),
        )
    if kind == "range_clause" and child(parent, "right") == value:
        return ChanOp(RANGE, occ, parent)
    if kind == "argument_list" and parent.parent is not None:
        call = parent.parent
        fn = unparen(child(call, "function"))
        name = text(fn) if fn is not None and fn.type == "identifier" else ""
        if name == "close":
            return ChanOp(CLOSE, occ, call)
        if name in ("len", "cap"):
            return ChanOp(USE, occ, call)
        return ChanOp(ARG, occ, call)
    if kind == "binary_expression":
        return ChanOp(USE, occ, parent)
    if kind == "expression_list" and parent.parent is not None:
        holder = parent.parent
        if (
            holder.type in ("short_var_declaration", "assignment_statement")
            and child(holder, "left") == parent
        ):
            return ChanOp(ASSIGN, occ, holder)
    if kind in ("short_var_declaration", "assignment_statement") and child(parent, "left") == value:
        return ChanOp(ASSIGN, occ, parent)
    if kind == "var_spec" and value in parent.children_by_field_name("name"):
        return ChanOp(ASSIGN, occ, parent)
    return ChanOp(ESCAPE, occ, parent)


def select_alternatives(node: Node) -> bool:
    """Is this send/receive a case of a select that has another case or a default (so
    it does not have to wait for this one)?"""
    cur = node
    while cur is not None and cur.type not in ("communication_case", *FUNC_NODES):
        parent = cur.parent
        # A statement nested inside some case body, not a case's own communication.
        if (
            cur.type in ("block", "statement_list")
            and parent is not None
            and parent.type != "communication_case"
        ):
            return False
        cur = parent
    if cur is None or cur.type != "communication_case":
        return False
    comm = child(cur, "communication")
    if comm is None or not (comm.start_byte <= node.start_byte < comm.end_byte):
        return False
    select = cur.parent
    if select is None:
        return False
    cases = [c for c in select.named_children if c.type in ("communication_case", "default_case")]
    return len(cases) > 1


def _comma_ok(unary: Node) -> bool:
    parent = parent_of(unary)
    if parent is None:
        return False
    if parent.type == "expression_list":
        parent = parent.parent
    if parent is None:
        return False
    if parent.type in ("short_var_declaration", "assignment_statement", "receive_statement"):
        return len(expressions(child(parent, "left"))) == 2
    if parent.type == "var_spec":
        return len(parent.children_by_field_name("name")) == 2
    return False


def done_receive(node: Node) -> bool:
    """`<-x.Done()` (a context, or anything with a Done channel)."""
    if node.type != "unary_expression" or text(child(node, "operator")) != "<-":
        return False
    operand = unparen(child(node, "operand"))
    if operand is None or operand.type != "call_expression":
        return False
    fn = unparen(child(operand, "function"))
    return (
        fn is not None and fn.type == "selector_expression" and text(child(fn, "field")) == "Done"
    )
