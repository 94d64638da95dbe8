"""Calls that leak only if the calling function can return (time.Tick): fine in a loop
that runs for the life of the process, a leak anywhere the function ends."""

from __future__ import annotations

from tree_sitter import Node

from leakaudit.checks.api import Function, Package, Sink
from leakaudit.checks.calls import interest, matching_calls, targets
from leakaudit.facts.cfg import CFG, Block, Kind
from leakaudit.parsing.syntax import expressions, text, unparen
from leakaudit.parsing.syntax import field as child
from leakaudit.ruleset.model import Rule


def run(pkg: Package, rule: Rule, sink: Sink) -> None:
    wanted = targets(rule)

    def check(fn: Function) -> None:
        if fn.file.package == "main":
            return  # the process's own lifetime
        if rule.options.get("skip-tests") and fn.file.is_test:
            return
        for call in matching_calls(pkg, fn, wanted):
            if _can_return_after(fn.cfg, call):
                sink.report(rule, "leak", fn.file, call, fn.name)

    sink.each(pkg.reported(interest(rule)), rule, check)


def _can_return_after(graph: CFG, call: Node) -> bool:
    start = graph.block_of(call)
    if start is None:
        return True
    endless = _endless_sources(call)
    seen = {start.index}
    stack = [start]
    while stack:
        block = stack.pop()
        if block is graph.exit:
            return True
        for edge in block.succs:
            if _ranges_forever(block, edge.value, endless):
                continue
            if edge.target.index not in seen:
                seen.add(edge.target.index)
                stack.append(edge.target)
    return False


def _ranges_forever(block: Block, taken: bool, endless: set[str]) -> bool:
    """The exit edge of `for range <ticker channel>`: that channel is never closed."""
    if block.kind != Kind.LOOP or block.node is None or taken:
        return False
    ranged = unparen(child(block.node, "right"))
    return ranged is not None and text(ranged) in endless


def _endless_sources(call: Node) -> set[str]:
    """The call itself and the variable it is assigned to: channels that never close."""
    out = {text(call)}
    parent = call.parent
    if parent is not None and parent.type == "expression_list":
        holder = parent.parent
        if holder is not None and holder.type in ("short_var_declaration", "assignment_statement"):
            left = expressions(child(holder, "left"))
            right = expressions(parent)
            if len(left) == len(right) and call in right:
                out.add(text(left[right.index(call)]))
    return out
