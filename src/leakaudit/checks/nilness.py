"""Facts a branch condition establishes about nil-ness: `err != nil` taken true means err
is non-nil on that edge. Only what a condition *guarantees* is returned."""

from __future__ import annotations

from tree_sitter import Node

from leakaudit.parsing.syntax import field as child
from leakaudit.parsing.syntax import text, unparen

# (variable name, is_nil)
Fact = tuple[str, bool]


def facts(cond: Node | None, value: bool) -> frozenset[Fact]:
    cond = unparen(cond)
    if cond is None:
        return frozenset()
    kind = cond.type
    if kind == "unary_expression" and text(child(cond, "operator")) == "!":
        return facts(child(cond, "operand"), not value)
    if kind != "binary_expression":
        return frozenset()
    op = text(child(cond, "operator"))
    left, right = unparen(child(cond, "left")), unparen(child(cond, "right"))
    if op == "&&":
        return facts(left, True) | facts(right, True) if value else frozenset()
    if op == "||":
        return frozenset() if value else facts(left, False) | facts(right, False)
    if op not in ("==", "!="):
        return frozenset()
    if right is not None and right.type == "nil" and left is not None and left.type == "identifier":
        name = text(left)
    elif (
        left is not None and left.type == "nil" and right is not None and right.type == "identifier"
    ):
        name = text(right)
    else:
        return frozenset()
    is_nil = (op == "==") == value
    return frozenset({(name, is_nil)})
