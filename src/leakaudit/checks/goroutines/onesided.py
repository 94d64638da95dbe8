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
from leakaudit.checks.goroutines.channels import (
    ASSIGN,
    CLOSE,
    RANGE,
    RECV,
    SEND,
    USE,
    classify,
    make_capacity,
)
from leakaudit.facts.typing import declared_value
from leakaudit.findings import Related
from leakaudit.parsing.parser import SourceFile
from leakaudit.parsing.queries import selectors_naming
from leakaudit.parsing.syntax import expressions, leaf_at, text, unparen, word_starts
from leakaudit.parsing.syntax import field as child
from leakaudit.ruleset.model import Rule

_UNKNOWN = "?"


@dataclass
class _Uses:
    sends: list[tuple[Node, Function, bool]] = field(default_factory=list)  # (op, fn, blocks)
    receives: list[tuple[Node, Function, bool]] = field(default_factory=list)
    closed: bool = False
    escapes: bool = False
    # make(...) calls assigned to the field: (capacity, the call, its file)
    makes: list[tuple[int | None, Node, SourceFile]] = field(default_factory=list)

    def made(self, value: Node | None, source: SourceFile) -> None:
        """The field is given `value`: a make of a known capacity, or another channel."""
        capacity = make_capacity(value) if value is not None else False
        if capacity is False:
            if value is None or text(value) != "nil":
                self.escapes = True  # `s.ch = other`: an alias of another channel now
            return
        self.makes.append((capacity, value, source))  # type: ignore[arg-type]


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
                if literal is not None:
                    _literal(literal, source, fields, uses)
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


def _classify(
    fn: Function, node: Node, fields: set[tuple[str, str]], uses: dict[tuple[str, str], _Uses]
) -> None:
    """One use of `x.field`, by what the goroutine checks call each channel operation."""
    name = text(child(node, "field"))
    kind = (fn.types.type_of(unparen(child(node, "operand")), fn.scope) or "").lstrip("*")
    found = uses[(kind if (kind, name) in fields else _UNKNOWN, name)]
    op = classify(node)
    if op.kind == SEND:
        found.sends.append((op.stmt, fn, not op.guarded))
    elif op.kind == RECV:
        found.receives.append((op.stmt, fn, not op.guarded))
    elif op.kind == RANGE:
        found.receives.append((op.stmt, fn, True))
    elif op.kind == CLOSE:
        found.closed = True
    elif op.kind == ASSIGN:
        targets = expressions(child(op.stmt, "left"))
        at = next((i for i, t in enumerate(targets) if t == node), len(targets))
        found.made(declared_value(op.stmt, at), fn.file)
    elif op.kind != USE or op.stmt.type == "binary_expression":
        # Passed, returned, read into a variable, compared: followed no further (len and
        # cap are neither side).
        found.escapes = True


def _literal_at(root: Node, at: int, length: int) -> Node | None:
    """The composite literal whose type is the word at `at` (`Hub{`, `&Hub{`, and a
    generic one, `Req[K, V]{`)."""
    node = leaf_at(root, at, at + length, "type_identifier")
    literal = node.parent if node is not None else None
    if literal is not None and literal.type == "generic_type":
        literal = literal.parent
    return literal if literal is not None and literal.type == "composite_literal" else None


def _literal(
    literal: Node,
    source: SourceFile,
    fields: set[tuple[str, str]],
    uses: dict[tuple[str, str], _Uses],
) -> None:
    """`&Hub{events: make(chan T)}` makes the field; `Hub{ln, 2, stop}` gives every
    channel field of Hub, by position, whichever channel the caller has: an alias of
    something else, not judged."""
    kind = child(literal, "type")
    if kind is not None and kind.type == "generic_type":
        kind = child(kind, "type")  # `Req[K, V]{...}`: a Req
    tname = "." + text(kind).lstrip("*")
    body = child(literal, "body")
    elements = [c for c in (body.named_children if body else ()) if c.type != "comment"]
    if elements and not any(e.type == "keyed_element" for e in elements):
        for owner, name in fields:
            if owner == tname:
                uses[(owner, name)].escapes = True
        return
    for element in elements:
        named = [c for c in element.named_children if c.type != "comment"]
        if element.type != "keyed_element" or len(named) != 2:
            continue
        key, value = named
        if (tname, text(key)) in fields:
            inner = value.named_children[0] if value.type == "literal_element" else value
            uses[(tname, text(key))].made(unparen(inner), source)


def _used(found: _Uses) -> bool:
    return bool(found.sends or found.receives or found.closed or found.escapes)


def _judge(rule: Rule, sink: Sink, key: tuple[str, str], found: _Uses) -> None:
    chan = f"{key[0].lstrip('.')}.{key[1]}"
    if found.sends and not found.receives and all(c == 0 for c, _, _ in found.makes):
        blocking = [(op, fn) for op, fn, must in found.sends if must]
        if not blocking:
            return
        op, fn = min(blocking, key=lambda s: (s[1].file.path, s[0].start_byte))
        made = " (never made: a nil channel)" if not found.makes else ""
        related = tuple(
            Related(location(source, node, first_line_only=True), f"{chan} made here")
            for _, node, source in found.makes[:1]
        )
        sink.report(rule, "never-received", fn.file, op, fn.name, related, chan=chan, made=made)
        return
    if found.receives and not found.sends and not found.closed:
        blocking = [(op, fn) for op, fn, must in found.receives if must]
        if not blocking:
            return
        op, fn = min(blocking, key=lambda s: (s[1].file.path, s[0].start_byte))
        sink.report(rule, "never-sent", fn.file, op, fn.name, (), chan=chan)
