"""channel-one-sided: a channel in an unexported struct field that only one side uses.

Go's visibility makes this sound: an unexported field is read and written only by its
own package, so its every use is in the package's files. A send on such a channel that
nothing in the package ever receives from blocks forever (unbuffered, or never made:
a nil channel); a receive from one that nothing ever sends on or closes waits forever.

Only operations that must complete are reported: a plain send or receive, a `range`, or
a `select` with that one case and no default (a case of a larger select is merely dead).
A field whose channel goes anywhere else (passed, assigned, returned: read through
another name) is not judged, and neither is one whose make gives it a buffer, nor a
use whose receiver's type is unknown (it counts as every use at once).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from tree_sitter import Node

from leakaudit.checks.api import Function, Package, Sink, location
from leakaudit.findings import Related
from leakaudit.parsing.queries import selectors_naming
from leakaudit.parsing.syntax import field as child
from leakaudit.parsing.syntax import leaf_at, text, unparen, word_starts
from leakaudit.ruleset.model import Rule

_UNKNOWN = "?"


@dataclass
class _Uses:
    sends: list[tuple[Node, Function, bool]] = field(default_factory=list)  # (op, fn, blocks)
    receives: list[tuple[Node, Function, bool]] = field(default_factory=list)
    closed: bool = False
    escapes: bool = False
    makes: list[Node] = field(default_factory=list)  # the values assigned: make(...)


def run(pkg: Package, rule: Rule, sink: Sink) -> None:
    """Every package: the struct declarations say at once whether there is anything to
    look at (no interest in calls or statements could)."""
    fields = _channel_fields(pkg)
    if not fields:
        return
    names = sorted({name for _, name in fields})
    types = sorted({owner.lstrip(".") for owner, _ in fields})
    uses: dict[tuple[str, str], _Uses] = defaultdict(_Uses)
    for source in pkg.files:
        # The words lead to the nodes (`x.events`, `Hub{...}`): no walk of every body.
        for name in names:
            for node in selectors_naming(source.root, source.content, name):
                fn = pkg.function_of(node, source)
                if fn is None:
                    uses[(_UNKNOWN, name)].escapes = True  # in a function not analyzed
                    continue
                _classify(fn, node, fields, uses)
        for tname in types:
            for at in word_starts(source.content, tname.encode()):
                literal = _literal_at(source.root, at, len(tname))
                if literal is None:
                    continue
                _positional(literal, fields, uses)
                body = child(literal, "body")
                for element in body.named_children if body is not None else ():
                    if element.type == "keyed_element":
                        _literal_make(element, fields, uses)
    for key in sorted(fields):
        found = uses.get(key)
        unknown = uses.get((_UNKNOWN, key[1]))
        if found is None or found.escapes or (unknown is not None and _used(unknown)):
            continue
        _judge(rule, sink, key, found)


def _channel_fields(pkg: Package) -> set[tuple[str, str]]:
    """(".Type", field) of the package's struct fields of channel type that no other
    package can reach (unexported)."""
    out = set()
    for tname, decl in pkg.symbols.types.items():
        if decl.kind != "struct" or decl.body is None or b"chan" not in (decl.body.text or b""):
            continue  # (a struct's fields are typed on first use: most need not be)
        for fname, ftype in decl.fields.items():
            if ftype == "chan" and fname[:1].islower() and fname[:1] != "_":
                out.add(("." + tname, fname))
    return out


def _owner(fn: Function, operand: Node | None, name: str, fields: set[tuple[str, str]]) -> str:
    kind = (fn.types.type_of(operand, fn.scope) or "").lstrip("*")
    return kind if (kind, name) in fields else _UNKNOWN


def _classify(
    fn: Function, node: Node, fields: set[tuple[str, str]], uses: dict[tuple[str, str], _Uses]
) -> None:
    name = text(child(node, "field"))
    key = (_owner(fn, unparen(child(node, "operand")), name, fields), name)
    found = uses[key]
    parent = node.parent
    while parent is not None and parent.type == "parenthesized_expression":
        parent = parent.parent
    if parent is None:
        found.escapes = True
        return
    if parent.type == "send_statement" and child(parent, "channel") == node:
        found.sends.append((parent, fn, _must_complete(parent)))
    elif parent.type == "unary_expression" and text(child(parent, "operator")) == "<-":
        found.receives.append((parent, fn, _must_complete(parent)))
    elif parent.type == "range_clause" and child(parent, "right") == node:
        found.receives.append((parent, fn, True))
    elif parent.type == "argument_list" and _builtin_call(parent) in ("close", "len", "cap"):
        found.closed = found.closed or _builtin_call(parent) == "close"
    elif parent.type == "expression_list" and (value := _assigned_to(parent)) is not None:
        if value.type == "call_expression" and _callee(value) == "make":
            found.makes.append(value)
        else:
            found.escapes = True  # `s.ch = other`: an alias of another channel now
    else:
        found.escapes = True  # passed, returned, read into a variable: followed no further


def _literal_at(root: Node, at: int, length: int) -> Node | None:
    """The composite literal whose type is the word at `at` (`Hub{`, `&Hub{`)."""
    node = leaf_at(root, at, at + length, "type_identifier")
    literal = node.parent if node is not None else None
    return literal if literal is not None and literal.type == "composite_literal" else None


def _literal_make(
    node: Node, fields: set[tuple[str, str]], uses: dict[tuple[str, str], _Uses]
) -> None:
    """`&Hub{events: make(chan T)}`: a make site of the literal's type's field."""
    named = [c for c in node.named_children if c.type != "comment"]
    if len(named) != 2:
        return
    key_node, value = named
    name = text(key_node)
    literal = node.parent.parent if node.parent is not None else None
    if literal is None or literal.type != "composite_literal":
        return
    tname = "." + text(child(literal, "type")).lstrip("*")
    if (tname, name) not in fields:
        return
    value = unparen(value.named_children[0] if value.type == "literal_element" else value)
    found = uses[(tname, name)]
    if value is not None and value.type == "call_expression" and _callee(value) == "make":
        found.makes.append(value)
    elif value is not None and text(value) != "nil":
        found.escapes = True


def _positional(
    literal: Node, fields: set[tuple[str, str]], uses: dict[tuple[str, str], _Uses]
) -> None:
    """`T{ln, 2, stop}`: values by position, whichever channel `stop` is; every channel
    field of T is then an alias of something else, and is not judged."""
    body = child(literal, "body")
    elements = [c for c in (body.named_children if body else ()) if c.type != "comment"]
    if not elements or any(e.type == "keyed_element" for e in elements):
        return
    tname = "." + text(child(literal, "type")).lstrip("*")
    for owner, name in fields:
        if owner == tname:
            uses[(owner, name)].escapes = True


def _must_complete(op: Node) -> bool:
    """A send or receive that blocks until it completes: not a case of a select that has
    another case or a default."""
    cur = op.parent
    while cur is not None and cur.type in ("expression_statement", "expression_list"):
        cur = cur.parent
    if cur is not None and cur.type in ("receive_statement", "short_var_declaration"):
        cur = cur.parent
    if cur is None or cur.type != "communication_case":
        return True
    select = cur.parent
    cases = [c for c in select.named_children if c.type in ("communication_case", "default_case")]
    return len(cases) == 1


def _builtin_call(args: Node) -> str:
    call = args.parent
    return _callee(call) if call is not None and call.type == "call_expression" else ""


def _callee(call: Node) -> str:
    function = child(call, "function")
    return text(function) if function is not None and function.type == "identifier" else ""


def _assigned_to(targets: Node) -> Node | None:
    """The value assigned to the one target in `targets` (`s.ch = make(...)`), when the
    list is the left side of an assignment; None otherwise."""
    holder = targets.parent
    if holder is None or holder.type != "assignment_statement":
        return None
    if child(holder, "left") != targets:
        return None
    right = child(holder, "right")
    left_items = targets.named_children
    values = right.named_children if right is not None else []
    if len(left_items) != len(values):
        return None
    return values[0] if len(values) == 1 else None


def _used(found: _Uses) -> bool:
    return bool(found.sends or found.receives or found.closed or found.escapes)


def _unbuffered(make: Node) -> bool:
    args = child(make, "arguments")
    named = [a for a in (args.named_children if args else ()) if a.type != "comment"]
    return len(named) == 1 or (len(named) == 2 and text(named[1]) == "0")


def _judge(rule: Rule, sink: Sink, key: tuple[str, str], found: _Uses) -> None:
    chan = f"{key[0].lstrip('.')}.{key[1]}"
    if found.sends and not found.receives and all(_unbuffered(m) for m in found.makes):
        blocking = [(op, fn) for op, fn, must in found.sends if must]
        if not blocking:
            return
        op, fn = min(blocking, key=lambda s: (s[1].file.path, s[0].start_byte))
        made = " (never made: a nil channel)" if not found.makes else ""
        related = tuple(
            Related(location(fn.file, m, first_line_only=True), f"{chan} made here")
            for m in found.makes[:1]
            if m.start_byte >= 0 and _same_file(fn, m)
        )
        sink.report(rule, "never-received", fn.file, op, fn.name, related, chan=chan, made=made)
        return
    if found.receives and not found.sends and not found.closed:
        blocking = [(op, fn) for op, fn, must in found.receives if must]
        if not blocking:
            return
        op, fn = min(blocking, key=lambda s: (s[1].file.path, s[0].start_byte))
        sink.report(rule, "never-sent", fn.file, op, fn.name, (), chan=chan)


def _same_file(fn: Function, node: Node) -> bool:
    root = node
    while root.parent is not None:
        root = root.parent
    return root == fn.file.root
