"""Option flags: a helper that releases what it would hand out when its caller sets a
boolean field of an argument (`rest.Opts{NoResponse: true}`: the client closes the
body itself). Its summary says which parameter field that is; a call that sets the
field to a literal `true` gets nothing fresh to release.

Both halves are read from the syntax alone: on the helper's side, every return that
hands the resource out on success sits where the field is false (under `if !p.F`, in
the `else` of `if p.F`, or after an `if p.F { ...; return }`), or passes the parameter
on to a helper with that option; on the caller's side, the argument is a composite
literal that spells `F: true` (or a local bound only to one, or given `o.F = true`
before the call), and no other statement assigns the field.
"""

from __future__ import annotations

import re
from collections.abc import Container, Iterable, Mapping

from tree_sitter import Node

from leakaudit.facts.cfg import block_leaves
from leakaudit.facts.typing import Scope, declared_value
from leakaudit.parsing.syntax import field as child
from leakaudit.parsing.syntax import text, unaddressed, unnegated, unparen

_FUNCS = frozenset({"function_declaration", "method_declaration", "func_literal"})


def exemption(
    func: Node,
    returns: Iterable[Node],
    failing: Container[Node],
    passed: Mapping[Node, tuple[str, str]],
) -> tuple[int, str] | None:
    """(parameter index, field) such that every return in `returns` that is not among
    `failing` (those that return a non-nil error: the caller owes nothing there) runs
    only where that boolean field of that parameter is false, or returns the result of
    a call that releases it itself when the field is set (`passed`: a wrapper's
    `return c.inner.Call(ctx, opts)`); None when there is none."""
    params = _param_names(func)
    body = child(func, "body")
    if not params or body is None:
        return None
    common: set[tuple[str, str]] | None = None
    for ret in returns:
        if ret in failing:
            continue
        if ret.type != "return_statement":
            return None  # a body or a result that cannot be told apart by a flag
        guards = _false_guards(ret, func)
        if ret in passed:
            guards.add(passed[ret])
        common = guards if common is None else common & guards
        if not common:
            return None
    if not common:
        return None
    data = body.text or b""
    for name, fld in sorted(common):
        if name in params and not _assigned(data, f"{name}.{fld}"):
            return params[name], fld
    return None


def tests_a_flag(func: Node) -> bool:
    """The cheap test first: the body has an `if p.F` or `if !p.F` on a parameter."""
    body, params = child(func, "body"), _param_names(func)
    if body is None or not params:
        return False
    names = b"|".join(re.escape(n.encode()) for n in params)
    return re.search(rb"\bif\s+!?(?:" + names + rb")\.\w+\s*\{", body.text or b"") is not None


def set_flags(scope: Scope, call: Node) -> dict[int, frozenset[str]]:
    """Argument index -> the boolean fields surely `true` in the call's argument there:
    spelled `F: true` in a composite literal (`&Opts{F: true}`, or a local bound only to
    one), or set by `o.F = true` in a statement the call runs after. A field that any
    other statement assigns is not sure."""
    out: dict[int, frozenset[str]] = {}
    args = child(call, "arguments")
    values = [a for a in (args.named_children if args is not None else ()) if a.type != "comment"]
    for index, arg in enumerate(values):
        node = unaddressed(arg)
        if node is None:
            continue
        if node.type == "composite_literal":
            found = {name for name, value in _keyed(node) if value == "true"}
        elif node.type == "identifier":
            found = _local_flags(scope, text(node), call)
        else:
            continue
        if found:
            out[index] = frozenset(found)
    return out


def _local_flags(scope: Scope, name: str, call: Node) -> set[str]:
    found: Scope | None = scope
    while found is not None:
        if name in found.params:
            return set()  # the caller's value: not known here
        entries = found.entries(name)
        if entries:
            break
        found = found.outer
    if found is None or found.body is None:
        return set()
    body = found.body
    out: set[str] = set()
    if len(entries) == 1:
        bound = unaddressed(declared_value(*entries[0]))
        if bound is not None and bound.type == "composite_literal":
            out = {field for field, value in _keyed(bound) if value == "true"}
    last_binding = max(decl.start_byte for decl, _ in entries)
    around = _blocks_around(call)
    unsure: set[str] = set()
    pattern = rb"(?<![\w.])" + re.escape(name.encode()) + rb"\.(\w+)\s*=(?!=)\s*(\w*)"
    for match in re.finditer(pattern, body.text or b""):
        field, value = match.group(1).decode(), match.group(2)
        at = body.start_byte + match.start()
        stmt = body.descendant_for_byte_range(at, at + len(name))
        while stmt is not None and stmt.type != "assignment_statement" and stmt != body:
            stmt = stmt.parent
        sure = (
            value == b"true"
            and stmt is not None
            and stmt.type == "assignment_statement"
            and stmt.parent is not None
            and stmt.parent.id in around
            and last_binding < stmt.start_byte < call.start_byte
        )
        if sure:
            out.add(field)
        else:
            unsure.add(field)
    return out - unsure


def _blocks_around(node: Node) -> set[int]:
    """The ids of the statement lists that hold `node`, up to its function's: a
    statement in one of them that comes before `node` runs before it."""
    out: set[int] = set()
    cur = node.parent
    while cur is not None:
        if cur.type == "statement_list":
            out.add(cur.id)
        if cur.type in ("function_declaration", "method_declaration"):
            break
        cur = cur.parent
    return out


def _keyed(literal: Node) -> Iterable[tuple[str, str]]:
    """(field, value text) of a composite literal's keyed elements."""
    body = child(literal, "body")
    for element in body.named_children if body is not None else ():
        parts = [c for c in element.named_children if c.type != "comment"]
        if element.type == "keyed_element" and len(parts) == 2:
            yield text(parts[0]).strip(), text(parts[1]).strip()


def _assigned(data: bytes, path: str) -> bool:
    """Some statement assigns `path` (`o.F = ...`, `o.F := `), not just compares it."""
    return re.search(rb"(?<![\w.])" + re.escape(path.encode()) + rb"\s*:?=(?!=)", data) is not None


def _param_names(func: Node) -> dict[str, int]:
    out: dict[str, int] = {}
    plist = child(func, "parameters")
    index = 0
    for decl in plist.named_children if plist is not None else ():
        if decl.type not in ("parameter_declaration", "variadic_parameter_declaration"):
            continue
        for name in decl.children_by_field_name("name") or [None]:
            if name is not None:
                out[text(name)] = index
            index += 1
    return out


def _false_guards(node: Node, func: Node) -> set[tuple[str, str]]:
    """The (operand, field) pairs whose boolean selector `operand.field` is surely false
    where `node` runs: it sits under `if !o.f`, in the `else` of `if o.f`, or after an
    `if o.f { ... }` whose branch always leaves the function."""
    out: set[tuple[str, str]] = set()
    inner, cur = node, node.parent
    while cur is not None and cur != func and cur.type not in _FUNCS:
        if cur.type == "if_statement" and inner != child(cur, "condition"):
            flag, negated = _flag(child(cur, "condition"))
            if flag is not None and (inner == child(cur, "consequence")) == negated:
                out.add(flag)
        elif cur.type == "statement_list":
            for stmt in cur.named_children:
                if stmt.start_byte >= inner.start_byte:
                    break
                if stmt.type == "if_statement" and child(stmt, "alternative") is None:
                    flag, negated = _flag(child(stmt, "condition"))
                    leaves = block_leaves(child(stmt, "consequence"))
                    if flag is not None and not negated and leaves:
                        out.add(flag)
        inner, cur = cur, cur.parent
    return out


def _flag(cond: Node | None) -> tuple[tuple[str, str] | None, bool]:
    """`o.f` -> ((o, f), False); `!o.f` -> ((o, f), True); else (None, False)."""
    node, value = unnegated(cond, True)
    if node is None or node.type != "selector_expression":
        return None, False
    operand = unparen(child(node, "operand"))
    if operand is None or operand.type != "identifier":
        return None, False
    return (text(operand), text(child(node, "field"))), not value
