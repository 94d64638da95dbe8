"""The release is the last write, so its error matters: `zw.Close()` writes a gzip
writer's footer, and a `defer zw.Close()` that drops the error turns a failed write into
a corrupt file nobody hears about.

A site is reported when the function calls the rule's release on the variable and never
uses the error of any such call (an expression or deferred statement, or `_ =`). One
checked call, on the success path (`if err := zw.Close(); err != nil`), settles it: a
deferred Close beside it only cleans up after an error. A writer handed to other code
is that code's to check.
"""

from __future__ import annotations

from tree_sitter import Node

from leakaudit.checks.api import Function, Package, Sink
from leakaudit.checks.sites import find_sites, interest, method_calls_on
from leakaudit.checks.uses import Use, UseClassifier
from leakaudit.parsing.syntax import field as child
from leakaudit.parsing.syntax import result_dropped, text, walk
from leakaudit.ruleset.model import ReleaseSpec, Rule


def run(pkg: Package, rule: Rule, sink: Sink) -> None:
    methods = rule.release.methods

    def check(fn: Function) -> None:
        reported: set[int] = set()
        body = child(fn.node, "body")
        if body is None:
            return
        for site in find_sites(pkg, fn, rule):
            if site.binding != "var" or site.var is None or "." in site.var:
                continue
            if _into_memory(fn, site.call):
                continue  # a bytes.Buffer takes every write: Close cannot fail there
            calls = method_calls_on(body, site.var, methods, into_funcs=True)
            if not calls or any(not result_dropped(call) for call in calls):
                continue
            # Without the release methods: what is left of the uses is where it goes.
            uses = UseClassifier(site.var, ReleaseSpec(), fn.types, fn.scope, fn.spend)
            if uses.effect(body).use >= Use.STORED:
                continue  # handed off: the receiver checks
            first = min(calls, key=lambda n: n.start_byte)
            if first.id in reported:
                continue  # one Close, two writers assigned to the variable: one finding
            reported.add(first.id)
            sink.report(
                rule,
                "unchecked",
                fn.file,
                first,
                fn.name,
                var=site.var,
                call=site.callee.text,
                release=text(child(child(first, "function"), "field")),
            )

    sink.each(pkg.reported(interest(rule)), rule, check)


_MEMORY = frozenset({"bytes.Buffer", "strings.Builder"})


def _into_memory(fn: Function, call: Node) -> bool:
    """Does the writer write into a bytes.Buffer or strings.Builder (`&buf`, a
    `new(bytes.Buffer)`)? Their writes never fail, so neither does the last one."""
    args = child(call, "arguments")
    first = next((a for a in (args.named_children if args else ()) if a.type != "comment"), None)
    if first is None:
        return False
    if first.type == "unary_expression" and text(child(first, "operator")) == "&":
        first = child(first, "operand")
    if first is None:
        return False
    kind = fn.types.type_of(first, fn.scope) or ""
    if kind.lstrip("*") in _MEMORY:
        return True
    return first.type == "identifier" and _made_in_memory(fn, text(first))


# How a buffer is made when its type is not written out (`buf := bytes.NewBuffer(nil)`).
_MAKERS = ("bytes.NewBuffer", "new(bytes.Buffer)", "&bytes.Buffer{", "new(strings.Builder)")


def _made_in_memory(fn: Function, name: str) -> bool:
    for node in walk(fn.node, into_funcs=False):
        if node.type not in ("short_var_declaration", "assignment_statement"):
            continue
        left, right = child(node, "left"), child(node, "right")
        if left is None or right is None:
            continue
        names = [text(n) for n in left.named_children]
        values = [text(v) for v in right.named_children]
        if (
            name in names
            and len(values) == len(names)
            and values[names.index(name)].startswith(_MAKERS)
        ):
            return True
    return False
