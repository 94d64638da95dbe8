"""Companion calls: after calling one of `after` on a resource, one of `require` must be
called too, e.g. a `rows.Next()` loop ends on error as well as on exhaustion, and only
`rows.Err()` tells them apart."""

from __future__ import annotations

from dataclasses import replace

from tree_sitter import Node

from leakaudit.checks.api import Function, Package, Sink
from leakaudit.checks.sites import find_sites, interest
from leakaudit.checks.uses import Use, UseClassifier
from leakaudit.fix.companion import check_after_loop
from leakaudit.parsing.syntax import field as child
from leakaudit.parsing.syntax import selector_parts, walk
from leakaudit.ruleset.model import Rule


def run(pkg: Package, rule: Rule, sink: Sink) -> None:
    spec = rule.companion
    if spec is None:
        return

    def check(fn: Function) -> None:
        for site in find_sites(pkg, fn, rule):
            if site.binding != "var" or site.var is None:
                continue
            body = child(fn.node, "body")
            if body is None:
                continue
            called: set[str] = set()
            for node in walk(body, into_funcs=True):
                if node.type == "call_expression":
                    parts = selector_parts(child(node, "function"))
                    if parts is not None and len(parts) == 2 and parts[0] == site.var:
                        if parts[1] in spec.after and _asserted_true(node):
                            continue  # `require.True(t, rows.Next())`: false fails the test
                        called.add(parts[1])
            if not called.intersection(spec.after) or called.intersection(spec.require):
                continue
            uses = UseClassifier(site.var, rule.release, fn.types, fn.scope, fn.spend)
            if uses.effect(body).use >= Use.STORED:
                continue  # handed off: the receiver checks
            after = sorted(called.intersection(spec.after))[0]
            sink.report(
                rule,
                "unchecked",
                fn.file,
                site.call,
                fn.name,
                var=site.var,
                call=site.callee.text,
                after=after,
                require=spec.require[0],
            )
            edits, title = check_after_loop(
                fn.file.content, fn.file.root, body, site.var, "Next", spec.require[0]
            )
            if edits:
                sink.findings[-1] = replace(sink.findings[-1], fix=edits, fix_title=title)

    sink.each(pkg.reported(interest(rule)), rule, check)


# Assertions that fail a test when their argument is false (testify's True, gotest.tools'
# Assert): a `Next()` given to one is never taken for the end of the results.
_ASSERTS_TRUE = frozenset({"True", "Truef", "Assert"})


def _asserted_true(call: Node) -> bool:
    """Is `call` an argument of an assertion that it is true?"""
    args = call.parent
    outer = args.parent if args is not None and args.type == "argument_list" else None
    if outer is None or outer.type != "call_expression":
        return False
    parts = selector_parts(child(outer, "function"))
    return parts is not None and parts[-1] in _ASSERTS_TRUE
