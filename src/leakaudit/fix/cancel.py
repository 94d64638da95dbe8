"""The discarded-cancel fix: `ctx, _ := context.WithTimeout(...)` keeps its cancel func
under a free name and defers it; `_ = cancel` gives way to `defer cancel()` after the
call.

Deferring the cancel ends the context when the function returns. That is only right
when nothing made from the context outlives the function, so the fix is offered only
when no value that the context flows into (through calls, assignments and composite
values, followed to a fixpoint) is returned, stored in a field, an element or a
variable declared outside the function, sent on a channel, or captured by a func
literal or a `go` statement. A `*sql.Rows` or an `exec.Cmd` returned after the fix
would die with the context; such a function is left to its author.
"""

from __future__ import annotations

import re

from tree_sitter import Node

from leakaudit.facts.symbols import BUILTIN_TYPES
from leakaudit.findings import Edit
from leakaudit.fix.defer import (
    declared_names,
    enclosing_function,
    in_loop,
    line_edit,
    line_start,
    own_line,
    span_edit,
)
from leakaudit.parsing.syntax import field as child
from leakaudit.parsing.syntax import text, walk

# Expressions a value passes through on its way up to the statement that uses it.
_CARRIERS = frozenset(
    {
        "argument_list",
        "call_expression",
        "selector_expression",
        "parenthesized_expression",
        "unary_expression",
        "binary_expression",
        "index_expression",
        "slice_expression",
        "type_assertion_expression",
        "type_conversion_expression",
        "composite_literal",
        "literal_value",
        "literal_element",
        "keyed_element",
        "expression_list",
    }
)
# Results that cannot hold a context: an error (wrapping ctx.Err() keeps no context
# alive), and the names Go code gives errors.
_PLAIN = BUILTIN_TYPES - {"any", "comparable"}
_ERROR_NAME = re.compile(r"^(err|.*Err|.*Error)$")


def discard_edits(
    content: bytes,
    function: Node,
    statement: Node,
    blank: Node | None,
    var: str | None,
    blank_uses: list[Node],
) -> tuple[tuple[Edit, ...], str]:
    """Edits keeping the cancel func and deferring it, with their title; ((), "") when
    that is not certainly right. `blank` is the `_` the cancel func is assigned to, or
    `var` the name it has, whose only uses are the `blank_uses` statements (`_ = var`)."""
    if statement.type != "short_var_declaration" or in_loop(statement):
        return (), ""
    if statement.parent is None or statement.parent.type not in ("block", "statement_list"):
        return (), ""
    at = own_line(content, statement)
    if at is None:
        return (), ""
    body = child(function, "body")
    left = child(statement, "left")
    if body is None or left is None:
        return (), ""
    contexts = {text(n) for n in left.named_children if n.type == "identifier"} - {"_", var}
    if not contexts or _outlives(body, function, contexts, statement.end_byte):
        return (), ""
    edits: list[Edit] = []
    if blank is not None:
        name = _free_name(content[function.start_byte : function.end_byte])
        edits.append(span_edit(content, blank.start_byte, blank.end_byte, name))
    elif var is not None and blank_uses:
        name = var
        for use in blank_uses:
            if enclosing_function(use) != function or own_line(content, use) is None:
                return (), ""
            if use.parent is None or use.parent.type not in ("block", "statement_list"):
                return (), ""
            start = line_start(content, use)
            end = content.find(b"\n", use.end_byte)
            edits.append(span_edit(content, start, end + 1 if end != -1 else len(content), ""))
    else:
        return (), ""
    line = f"defer {name}()"
    edits.append(line_edit(content, statement, at, line))
    if blank is not None:
        return tuple(edits), f"keep the cancel func as `{name}` and insert `{line}`"
    return tuple(edits), f"insert `{line}` after the call, in place of `_ = {name}`"


def _outlives(body: Node, function: Node, names: set[str], after: int) -> bool:
    """Can a value made from one of `names` outlive the function? (see the module doc)"""
    tainted = set(names)
    local = _declared(function)
    plain = _plain_results(function)
    changed = True
    while changed:
        changed = False
        for ident in walk(body, into_funcs=True):
            if ident.type != "identifier" or ident.start_byte < after:
                continue
            if text(ident) not in tainted:
                continue
            if enclosing_function(ident) != function or _in_go(ident, function):
                return True  # captured by a func literal, or by a goroutine
            node = ident
            while node.parent is not None and node.parent.type in _CARRIERS:
                node = node.parent
            holder = node.parent
            if holder is None:
                continue
            if holder.type == "send_statement":
                return True
            if holder.type == "return_statement" and not plain:
                return True
            if holder.type in (
                "assignment_statement",
                "short_var_declaration",
                "var_spec",
                "range_clause",
            ):
                if child(holder, "left") == node:
                    continue  # assigned to, not read
                for target in _targets(holder):
                    if target.type != "identifier":
                        return True  # a field or an element: it outlives the call
                    name = text(target)
                    if name == "_" or _ERROR_NAME.match(name):
                        continue
                    if name not in local:
                        return True  # a variable of an enclosing scope
                    if name not in tainted:
                        tainted.add(name)
                        changed = True
    return False


def _plain_results(function: Node) -> bool:
    """Does the function return only values that cannot hold a context (errors, bools,
    numbers, strings)? Then `return work(ctx)` hands back no context."""
    result = child(function, "result")
    if result is None:
        return True
    if result.type != "parameter_list":
        return text(result) in _PLAIN
    types = [child(p, "type") for p in result.named_children if p.type == "parameter_declaration"]
    return all(t is not None and text(t) in _PLAIN for t in types)


def _targets(holder: Node) -> list[Node]:
    if holder.type == "var_spec":
        return [c for c in holder.named_children if c.type == "identifier"]
    left = child(holder, "left")
    return list(left.named_children) if left is not None else []


def _declared(function: Node) -> set[str]:
    """Names declared in the function: its parameters, results and its body's variables."""
    kinds = ("parameter_declaration", "var_spec", "const_spec", "short_var_declaration")
    out: set[str] = set()
    for node in walk(function, into_funcs=False):
        if node.type in (*kinds, "range_clause"):
            out |= declared_names(node)
    return out


def _in_go(node: Node, function: Node) -> bool:
    cur = node.parent
    while cur is not None and cur != function:
        if cur.type == "go_statement":
            return True
        cur = cur.parent
    return False


def _free_name(function: bytes) -> str:
    """`cancel`, or `cancel2`, ...: a name the function's text never spells. The new
    variable's scope lies inside the function, so nothing there can mean another
    `cancel`, and `:=` declares it rather than assigning to one already in scope."""
    used = set(re.findall(rb"\b(cancel\d*)\b", function))
    n = 1
    while True:
        name = "cancel" if n == 1 else f"cancel{n}"
        if name.encode() not in used:
            return name
        n += 1
