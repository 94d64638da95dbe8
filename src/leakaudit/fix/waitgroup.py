"""The misplaced-Add fix: `go func() { wg.Add(1); ... }()` becomes `wg.Add(1)` on the
line before the `go` statement.

Only where moving it changes nothing but when it runs: the Add is the literal's first
statement, alone on its line; the `go` statement runs the literal itself and has its
line to itself in a block; and the Add names nothing the literal declares (its
parameters), so it means the same thing outside it.
"""

from __future__ import annotations

from tree_sitter import Node

from leakaudit.findings import Edit
from leakaudit.fix.defer import line_edit, line_start, own_line, span_edit
from leakaudit.parsing.syntax import field as child
from leakaudit.parsing.syntax import text, unparen, walk


def move_add_edits(content: bytes, go: Node, add: Node) -> tuple[tuple[Edit, ...], str]:
    """Edits moving the statement `add` out of the goroutine `go` launches to just
    before it, with their title; ((), "") when not certainly right."""
    literal = _launched_literal(go)
    if literal is None or add.type != "expression_statement":
        return (), ""
    body = child(literal, "body")
    children = body.named_children if body is not None else []
    statements = [c for c in children if c.type != "comment"]
    if len(statements) == 1 and statements[0].type == "statement_list":
        statements = [c for c in statements[0].named_children if c.type != "comment"]
    if not statements or statements[0] != add:
        return (), ""
    if go.parent is None or go.parent.type not in ("block", "statement_list"):
        return (), ""
    end = own_line(content, add)
    if end is None or own_line(content, go) is None:
        return (), ""
    if content[line_start(content, go) : go.start_byte].strip():
        return (), ""
    if _names(add) & _parameters(literal):
        return (), ""
    remove = span_edit(content, line_start(content, add), end, "")
    statement = text(add)
    insert = line_edit(content, go, line_start(content, go), statement)
    return (insert, remove), f"move `{statement}` to the line before the `go` statement"


def _launched_literal(go: Node) -> Node | None:
    """The func literal `go func() { ... }()` runs, or None."""
    call = next((c for c in go.named_children if c.type == "call_expression"), None)
    function = unparen(child(call, "function")) if call is not None else None
    return function if function is not None and function.type == "func_literal" else None


def _names(node: Node) -> set[str]:
    return {text(n) for n in walk(node, into_funcs=True) if n.type == "identifier"}


def _parameters(literal: Node) -> set[str]:
    params = child(literal, "parameters")
    return _names(params) if params is not None else set()
