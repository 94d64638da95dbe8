"""Find calls to named package functions (`time.Tick`), resolved through imports so
aliases count and look-alike locals do not."""

from __future__ import annotations

from collections.abc import Iterator

from tree_sitter import Node

from leakaudit.checks.api import Function, Interest, Package
from leakaudit.checks.sites import callee_of
from leakaudit.ruleset.model import Rule


def targets(rule: Rule) -> frozenset[str]:
    """The rule's `options.calls`, e.g. ["time.Tick"] (import path, dot, function)."""
    return frozenset(str(c) for c in rule.options.get("calls", ()))  # type: ignore[union-attr]


def interest(rule: Rule) -> Interest:
    """Functions calling something named like a target (`Tick`) in a file importing its
    package are the candidates: a target is only ever called through that import."""
    return Interest(imported=frozenset(_split(target) for target in targets(rule)))


def _split(target: str) -> tuple[str, str]:
    path, _, name = target.rpartition(".")
    return path, name


def matching_calls(pkg: Package, fn: Function, wanted: frozenset[str]) -> Iterator[Node]:
    names = frozenset(w.rsplit(".", 1)[-1] for w in wanted)
    if not names:
        return
    for node in pkg.calls_in(fn, names):
        callee = callee_of(fn, node)
        if callee is not None and callee.receiver is None and callee.qualified in wanted:
            yield node
