"""Small, allocation-light helpers over tree-sitter Go nodes."""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterator
from functools import lru_cache

from tree_sitter import Node

_ASCII_NAME = re.compile(r"[A-Za-z0-9_]+")
FUNC_NODES = ("function_declaration", "method_declaration", "func_literal")


def text(node: Node | None) -> str:
    if node is None:
        return ""
    data = node.text  # a slice of the source made on every access: read it once
    return "" if data is None else data.decode("utf-8", "replace")


def unparen(node: Node | None) -> Node | None:
    while node is not None and node.type == "parenthesized_expression":
        node = node.named_children[0] if node.named_children else None
    return node


# `field(node, name)`: the method itself, not a wrapper around it. It is called some
# 300,000 times per large scan, and a Python frame per call cost as much as the lookup.
field: Callable[[Node, str], Node | None] = Node.child_by_field_name


def return_values(ret: Node | None) -> list[Node]:
    """The values a return statement lists (`return a, b` -> [a, b]; a naked return,
    or no return, -> [])."""
    if ret is None:
        return []
    return expressions(next((c for c in ret.named_children if c.type != "comment"), None))


def unaddressed(node: Node | None) -> Node | None:
    """The expression under a `&` (`&Opts{...}` -> the literal), parentheses removed."""
    node = unparen(node)
    if (
        node is not None
        and node.type == "unary_expression"
        and text(field(node, "operator")) == "&"
    ):
        node = unparen(field(node, "operand"))
    return node


def expressions(node: Node | None) -> list[Node]:
    """The items of an expression_list (or the single expression itself)."""
    if node is None:
        return []
    if node.type == "expression_list":
        return [c for c in node.named_children if c.type != "comment"]
    return [node]


def statements(block: Node | None) -> list[Node]:
    """Statements of a block or case clause (tree-sitter-go wraps them in statement_list)."""
    if block is None:
        return []
    lists = [c for c in block.named_children if c.type == "statement_list"]
    if lists:
        return [c for lst in lists for c in lst.named_children if c.type != "comment"]
    if block.type.endswith("case"):
        return []  # a case's value, type or communication is not one of its statements
    return [c for c in block.named_children if c.type != "comment"]


def walk(node: Node, *, into_funcs: bool = False) -> Iterator[Node]:
    """Pre-order descendants of `node` (itself included); by default stops at func literals,
    which are analyzed as functions of their own."""
    stack = [node]
    while stack:
        cur = stack.pop()
        yield cur
        if not into_funcs and cur is not node and cur.type == "func_literal":
            continue
        stack.extend(reversed(cur.named_children))


# The bytes of a word, as a bytes regex's \w and \b tell them (ASCII).
WORD_BYTES = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


def word_starts(data: bytes, word: bytes) -> Iterator[int]:
    """Offsets of the whole-word occurrences of `word` in `data` (ASCII word bytes, as a
    bytes regex's \\b tells them). A substring search needs no regex to compile: the
    checks look for thousands of different names per scan."""
    at = data.find(word)
    size = len(word)
    while at >= 0:
        end = at + size
        if (at == 0 or data[at - 1] not in WORD_BYTES) and (
            end == len(data) or data[end] not in WORD_BYTES
        ):
            yield at
            at = data.find(word, end)
        else:
            at = data.find(word, at + 1)


def leaf_at(node: Node, start: int, end: int, kind: str) -> Node | None:
    """The node of type `kind` under `node` that is exactly the bytes [start, end) of
    the file (a word found by a byte search), if there is one: a word inside a string,
    a comment or a longer name is none."""
    found = node.descendant_for_byte_range(start, end)
    if found is None or found.type != kind:
        return None
    return found if (found.start_byte, found.end_byte) == (start, end) else None


def named(node: Node, names: Collection[str], kind: str = "identifier") -> Iterator[Node]:
    """The identifiers (or another leaf `kind`, e.g. field_identifier) under `node`
    spelled as one of `names`, in source order (func literals included): what a walk
    filtered by kind and name yields, found by a C regex over the node's bytes instead."""
    if not names:
        return
    if not all(_ASCII_NAME.fullmatch(name) for name in names):
        found_all = walk(node, into_funcs=True)
        yield from (n for n in found_all if n.type == kind and text(n) in names)
        return
    # Longest first: where a name occurs as a whole identifier, no longer one matches.
    alts = "|".join(sorted(names, key=len, reverse=True))
    regex = re.compile(alts.encode())
    data = node.text or b""
    base, pos = node.start_byte, 0
    while True:
        match = regex.search(data, pos)
        if match is None:
            return
        found = leaf_at(node, base + match.start(), base + match.end(), kind)
        if found is not None:
            yield found
            pos = match.end()
        else:
            pos = match.start() + 1


# `Node.parent` walks down from the root each time, so a walk up costs the square of
# the depth. Walks up stop after this many steps and answer by byte ranges instead.
PARENT_STEPS = 64


def parent_of(node: Node) -> Node | None:
    """The node's parent, past any parentheses around the node."""
    parent = node.parent
    while parent is not None and parent.type == "parenthesized_expression":
        parent = parent.parent
    return parent


def blank_assigned(node: Node) -> bool:
    """`_ = node`: the value is assigned to the blank identifier only, read by nobody."""
    parent = parent_of(node)
    holder = parent.parent if parent is not None and parent.type == "expression_list" else None
    if holder is None or holder.type != "assignment_statement" or field(holder, "right") != parent:
        return False
    return all(text(n) == "_" for n in expressions(field(holder, "left")))


def result_dropped(call: Node) -> bool:
    """Is the call's result thrown away: a statement of its own (also under `go` or
    `defer`), or `_ = call`?"""
    parent = parent_of(call)
    if parent is not None and parent.type in (
        "expression_statement",
        "go_statement",
        "defer_statement",
    ):
        return True
    return blank_assigned(call)


def call_named_by(name: Node) -> Node | None:
    """The call whose callee is `name` (`name(...)`, `x.name(...)`, `(x.name)(...)`)."""
    callee = name
    parent = name.parent
    if name.type == "field_identifier":
        if parent is None or parent.type != "selector_expression":
            return None
        callee, parent = parent, parent.parent
    while parent is not None and parent.type == "parenthesized_expression":
        callee, parent = parent, parent.parent
    if parent is None or parent.type != "call_expression":
        return None
    return parent if parent.child_by_field_name("function") == callee else None


def calls_bare(call: Node | None, name: str) -> bool:
    """Does `call` call `name` by its bare name: a builtin (`close(ch)`) or a function
    of its own package, not a method (`x.close()`)?"""
    function = unparen(field(call, "function")) if call is not None else None
    return function is not None and function.type == "identifier" and text(function) == name


def selector_parts(node: Node | None) -> list[str] | None:
    """`a.b.c` → ["a", "b", "c"]; None when the chain has calls or indexes."""
    parts: list[str] = []
    node = unparen(node)
    while node is not None and node.type == "selector_expression":
        parts.append(text(field(node, "field")))
        node = unparen(field(node, "operand"))
    if node is None or node.type != "identifier":
        return None
    parts.append(text(node))
    parts.reverse()
    return parts


def line_of(node: Node) -> int:
    return node.start_point[0] + 1


def enclosing_function(node: Node) -> Node | None:
    cur = node.parent
    while cur is not None and cur.type not in FUNC_NODES:
        cur = cur.parent
    return cur


def path_of(node: Node | None) -> str | None:
    """A variable or a chain of its fields as one string (`s.mu`, `c.state.mu`); None for
    anything else."""
    parts = selector_parts(node)
    return ".".join(parts) if parts else None


def calls_found(
    body: Node, pattern: re.Pattern[bytes], skip: frozenset[str] = frozenset()
) -> list[tuple[Node, Node]]:
    """(call, its selector) for each `x.name(` the pattern finds in the body's text
    (group 1: the name), that is a call and not inside a node of a type in `skip` (a
    go or defer statement, a func literal). Found from the text: walking every node of
    every function costs far more where few of them hold such a call."""
    data = body.text or b""
    out = []
    for match in pattern.finditer(data):
        start = body.start_byte + match.start(1)
        name = body.descendant_for_byte_range(start, start + len(match.group(1)))
        function = name.parent if name is not None else None
        call = function.parent if function is not None else None
        if (
            function is None
            or call is None
            or function.type != "selector_expression"
            or call.type != "call_expression"
            or field(call, "function") != function
        ):
            continue
        node, inside = call.parent, False
        while node is not None and node != body:
            if node.type in skip:
                inside = True
                break
            node = node.parent
        if not inside:
            out.append((call, function))
    return out


def unnegated(cond: Node | None, value: bool) -> tuple[Node | None, bool]:
    """The condition under its `!`s, and what it is on the edge where the whole
    condition is `value`."""
    cond = unparen(cond)
    while (
        cond is not None
        and cond.type == "unary_expression"
        and text(field(cond, "operator")) == "!"
    ):
        cond, value = unparen(field(cond, "operand")), not value
    return cond, value


def method_receiver(method: Node) -> tuple[str, str]:
    """(name, type) of a method's receiver: `s` and `Store` for `(s *Store)`, the `*`
    and any type arguments left off; "" for what a declaration leaves out."""
    recv = field(method, "receiver")
    for param in recv.named_children if recv is not None else ():
        if param.type != "parameter_declaration":
            continue
        name, tnode = field(param, "name"), field(param, "type")
        tname = text(tnode).lstrip("*").split("[", 1)[0] if tnode is not None else ""
        return (text(name) if name is not None else ""), tname
    return "", ""


@lru_cache(maxsize=64)
def method_call_pattern(names: frozenset[str]) -> re.Pattern[bytes] | None:
    """`.name(` for any of `names` (group 1: the name), as `calls_found` takes it;
    None for no names."""
    if not names:
        return None
    return re.compile(rb"\.(" + b"|".join(re.escape(n.encode()) for n in sorted(names)) + rb")\(")
