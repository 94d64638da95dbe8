"""Find calls to named package functions (`time.Tick`), resolved through imports so
aliases count and look-alike locals do not."""

from __future__ import annotations

from collections.abc import Iterator

from tree_sitter import Node

from leakaudit.checks.context import Function
from leakaudit.checks.sites import callee_name
from leakaudit.parsing.syntax import field as child
from leakaudit.parsing.syntax import walk
from leakaudit.ruleset.model import Rule


def targets(rule: Rule) -> frozenset[str]:
    """The rule's `options.calls`, e.g. ["time.Tick"] (import path, dot, function)."""
    return frozenset(str(c) for c in rule.options.get("calls", ()))  # type: ignore[union-attr]


def matching_calls(fn: Function, wanted: frozenset[str]) -> Iterator[Node]:
    names = {w.rsplit(".", 1)[-1] for w in wanted}
    body = child(fn.node, "body")
    if body is None or not names:
        return
    for node in walk(body):
        if node.type != "call_expression" or callee_name(node) not in names:
            continue
        callee = fn.types.callee(node, fn.scope)
        if callee is not None and callee.receiver is None and callee.qualified in wanted:
            yield node
