"""The companion-call fix: after the one `for rows.Next() { ... }` loop, check
`rows.Err()` and return its error.

Only where that is certainly right: the function holding the loop returns an error as
its last result, and every other result has a zero value that can be written from the
signature alone (numbers, strings, bools, nil-able types, structs declared in the same
file). A generic type parameter or a named type from another package could be
anything, so those functions are left alone.
"""

from __future__ import annotations

from tree_sitter import Node

from leakaudit.facts.symbols import BUILTIN_TYPES
from leakaudit.findings import Edit
from leakaudit.fix.defer import enclosing_function, line_edit, line_start, own_line
from leakaudit.parsing.syntax import field as child
from leakaudit.parsing.syntax import selector_parts, text, walk

_NUMBERS = BUILTIN_TYPES - {"bool", "string", "error", "any", "comparable"}
_NIL_TYPES = frozenset(
    {"pointer_type", "slice_type", "map_type", "channel_type", "function_type", "interface_type"}
)


def check_after_loop(
    content: bytes, root: Node, body: Node, var: str, after: str, require: str
) -> tuple[tuple[Edit, ...], str]:
    """The edit inserting the check of `var.require()` after the loop over
    `var.after()` in `body`, and its title; ((), "") when not certainly right."""
    loops = [
        n
        for n in walk(body, into_funcs=True)
        if n.type == "for_statement" and _loops_over(n, var, after)
    ]
    if len(loops) != 1:
        return (), ""
    loop = loops[0]
    if loop.parent is None or loop.parent.type not in ("block", "statement_list"):
        return (), ""
    at = own_line(content, loop)
    function = enclosing_function(loop)
    if at is None or function is None:
        return (), ""
    zeros = _zero_results(root, function)
    if zeros is None:
        return (), ""
    indent = content[line_start(content, loop) : loop.start_byte].decode("utf-8", "replace")
    values = ", ".join([*zeros, "err"])
    check = f"if err := {var}.{require}(); err != nil {{"
    lines = f"{check}\n{indent}\treturn {values}\n{indent}}}"
    title = f"check `{var}.{require}()` after the loop and return its error"
    return (line_edit(content, loop, at, lines),), title


def _loops_over(loop: Node, var: str, after: str) -> bool:
    """`for var.after() { ... }`"""
    cond = next((c for c in loop.named_children if c.type == "call_expression"), None)
    if cond is None:
        return False
    args = child(cond, "arguments")
    no_args = args is not None and not [a for a in args.named_children if a.type != "comment"]
    return no_args and selector_parts(child(cond, "function")) == [var, after]


def _zero_results(root: Node, function: Node) -> list[str] | None:
    """The zero values of every result but the last, which must be `error`; None when
    one cannot be written for certain."""
    if child(function, "type_parameters") is not None:
        return None
    result = child(function, "result")
    if result is None:
        return None
    if result.type != "parameter_list":
        return [] if text(result) == "error" else None
    types: list[Node] = []
    for param in result.named_children:
        if param.type != "parameter_declaration":
            continue
        kind = child(param, "type")
        if kind is None:
            return None
        names = [c for c in param.named_children if c.type == "identifier"]
        types += [kind] * max(1, len(names))
    if not types or text(types[-1]) != "error":
        return None
    zeros = []
    for kind in types[:-1]:
        zero = _zero(root, kind)
        if zero is None:
            return None
        zeros.append(zero)
    return zeros


def _zero(root: Node, kind: Node) -> str | None:
    name = text(kind)
    if kind.type in _NIL_TYPES or name in ("error", "any"):
        return "nil"
    if name in _NUMBERS:
        return "0"
    if name == "string":
        return '""'
    if name == "bool":
        return "false"
    if kind.type == "type_identifier" and _struct_in_file(root, name):
        return name + "{}"
    return None


def _struct_in_file(root: Node, name: str) -> bool:
    """A non-generic struct type declared at the top of the same file."""
    for decl in root.named_children:
        if decl.type != "type_declaration":
            continue
        for spec in decl.named_children:
            if spec.type != "type_spec" or text(child(spec, "name")) != name:
                continue
            if child(spec, "type_parameters") is not None:
                return False
            kind = child(spec, "type")
            return kind is not None and kind.type == "struct_type"
    return False
