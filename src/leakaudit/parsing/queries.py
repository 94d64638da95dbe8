"""Tree-sitter queries: finding the few nodes that matter without a Python walk.

Matching runs in C. A Python walk over every node of a file costs more than parsing
it, so code that looks for a handful of node kinds or callee names asks a query
instead. Compiled queries are cached: compiling costs milliseconds, and packages ask
the same questions again and again.
"""

from __future__ import annotations

import re
from collections.abc import Container, Iterable
from functools import lru_cache

from tree_sitter import Node, Query, QueryCursor

from leakaudit.parsing.parser import GO
from leakaudit.parsing.syntax import WORD_BYTES, call_named_by, leaf_at, word_starts

LITERALS = "(func_literal) @fn"


@lru_cache(maxsize=256)
def compiled(pattern: str) -> Query:
    return Query(GO, pattern)


def captures(pattern: str, node: Node) -> dict[str, list[Node]]:
    """Capture name -> captured nodes, for one compiled-once pattern."""
    return QueryCursor(compiled(pattern)).captures(node)


def _strings(values: Iterable[str]) -> str:
    return " ".join('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values)


def calls_pattern(names: frozenset[str], nodes: frozenset[str] = frozenset()) -> str:
    """Calls whose callee ends in one of `names` (captured as @call: the name node),
    calls through a parenthesized callee (@paren: its `function`, to be checked by the
    caller: `(f)(x)` is rare and not worth a pattern per nesting depth), and nodes of
    the given types (@node)."""
    parts: list[str] = []
    if names:
        alts = _strings(sorted(names))
        parts.append(f"((call_expression function: (identifier) @call) (#any-of? @call {alts}))")
        parts.append(
            "((call_expression function: (selector_expression field: (field_identifier) @call))"
            f" (#any-of? @call {alts}))"
        )
        parts.append("(call_expression function: (parenthesized_expression) @paren)")
    parts.extend(f"({kind}) @node" for kind in sorted(nodes))
    return "\n".join(parts)


# Node types a keyword starts: where a byte search can point the query cursor.
_KEYWORDS = {
    "go_statement": "go",
    "defer_statement": "defer",
    "select_statement": "select",
    "for_statement": "for",
    "return_statement": "return",
    "goto_statement": "goto",
    "func_literal": "func",
}


def _alternation(words: list[str]) -> str:
    """A regex matching exactly `words`, as a prefix tree: Python's regex engine tries
    alternatives one by one, and sharing prefixes makes that several times faster."""
    if len(words) == 1:
        return re.escape(words[0])
    branches: dict[str, list[str]] = {}
    optional = False
    for word in words:
        if word:
            branches.setdefault(word[0], []).append(word[1:])
        else:
            optional = True
    alts = []
    for first, rests in sorted(branches.items()):
        rest = _alternation(sorted(rests)) if rests != [""] else ""
        alts.append(re.escape(first) + (f"(?:{rest})" if "|" in rest or "?" in rest else rest))
    body = alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"
    return f"(?:{body})?" if optional else body


@lru_cache(maxsize=256)
def finder(names: frozenset[str], nodes: frozenset[str] = frozenset()) -> re.Pattern[bytes] | None:
    """A byte regex for the words that must occur where `calls_pattern(names, nodes)`
    can match (callee names, statement keywords); None when some node type starts with
    no keyword, and the query must look everywhere."""
    words = set(names)
    for kind in nodes:
        if kind not in _KEYWORDS:
            return None
        words.add(_KEYWORDS[kind])
    if not words:
        return None
    return re.compile(_alternation(sorted(words)).encode() + rb"\b")


@lru_cache(maxsize=256)
def _finders(
    names: frozenset[str], nodes: frozenset[str], selectors_only: bool
) -> tuple[re.Pattern[bytes], ...] | None:
    """The byte regexes `calls_and_nodes` runs; with `selectors_only`, the names only
    where a selector's dot comes before them (the word is group 1), the keywords apart.
    A regex starting with the literal dot lets the engine jump from dot to dot: several
    times faster than trying some 60 names at every byte."""
    if not selectors_only or not names:
        words = finder(names, nodes)
        return None if words is None else (words,)
    keywords = finder(frozenset(), nodes) if nodes else None
    if nodes and keywords is None:
        return None
    dotted = re.compile(rb"\.\s*(" + _alternation(sorted(names)).encode() + rb")\b")
    return (dotted,) if keywords is None else (dotted, keywords)


def captures_near(
    pattern: str,
    node: Node,
    content: bytes,
    words: re.Pattern[bytes] | None,
    skip: Container[int] = (),
) -> dict[str, list[Node]]:
    """`captures(pattern, node)` for a pattern whose every match covers a whole-word
    occurrence of `words` in the file's bytes: a C regex finds those few places far
    faster than a query cursor visits every node, and the cursor then only looks there
    (nodes captured from two places are reported once; words starting at an offset in
    `skip` are passed over)."""
    if words is None:
        return captures(pattern, node)
    out: dict[str, list[Node]] = {}
    cursor: QueryCursor | None = None
    seen: set[tuple[str, int]] = set()
    for match in words.finditer(content):
        start = match.start()
        if (start and content[start - 1] in WORD_BYTES) or start in skip:
            continue  # the tail of a longer identifier, or a place known not to match
        if cursor is None:
            cursor = QueryCursor(compiled(pattern))
        cursor.set_byte_range(start, match.end())
        for name, found in cursor.captures(node).items():
            for captured in found:
                key = (name, captured.id)
                if key not in seen:
                    seen.add(key)
                    out.setdefault(name, []).append(captured)
    return out


def calls_and_nodes(
    root: Node,
    content: bytes,
    names: frozenset[str],
    nodes: frozenset[str] = frozenset(),
    skip: frozenset[bytes] = frozenset(),
    selectors_only: bool = False,
) -> tuple[list[tuple[str, Node]], list[Node]] | None:
    """What `calls_pattern(names, nodes)` matches, found from the syntax at each word
    `finder` finds instead of a query cursor per word (a cursor run costs several times
    the few node steps that tell a call's name or a statement's keyword): (callee name,
    call) pairs, including calls through a parenthesized callee, and the nodes of the
    given types; the words in `skip` are passed over. With `selectors_only`, only calls
    whose callee is a selector (`x.Name(...)`, `pkg.Name(...)`): a method or another
    package's function is never called by its bare name. None when some node type
    starts with no keyword: ask the query."""
    patterns = _finders(names, nodes, selectors_only)
    if patterns is None:
        return None
    calls: list[tuple[str, Node]] = []
    found: list[Node] = []
    seen: set[int] = set()
    for words in patterns:
        group = words.groups  # 1: the word is the group after a dot; 0: the whole match
        for match in words.finditer(content):
            start, end = match.span(group)
            if start and content[start - 1] in WORD_BYTES:
                continue  # the tail of a longer identifier
            if skip and content[start:end] in skip:
                continue
            node = root.descendant_for_byte_range(start, end)
            if node is None or node.start_byte != start or node.end_byte != end:
                continue
            kind = node.type
            if kind == "identifier" or kind == "field_identifier":
                call = call_named_by(node)
                if call is not None and call.id not in seen:
                    seen.add(call.id)
                    calls.append((content[start:end].decode(), call))
            elif not node.is_named:  # a keyword: the statement it starts
                parent = node.parent
                if (
                    parent is not None
                    and parent.type in nodes
                    and parent.start_byte == start
                    and parent.id not in seen
                ):
                    seen.add(parent.id)
                    found.append(parent)
    return calls, found


def selectors_naming(root: Node, content: bytes, name: str) -> list[Node]:
    """Selector expressions `x.name` in the file, in source order, found from each
    occurrence of the word (what a query for `x.name` would capture)."""
    out: list[Node] = []
    word = name.encode()
    for at in word_starts(content, word):
        node = leaf_at(root, at, at + len(word), "field_identifier")
        sel = node.parent if node is not None else None
        if sel is not None and sel.type == "selector_expression":
            out.append(sel)
    return out
