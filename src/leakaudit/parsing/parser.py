"""Go source → tree-sitter tree, with the facts every later stage needs about a file."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

import tree_sitter_go
from tree_sitter import Language, Node, Parser, Tree

from leakaudit.parsing.generated import is_generated

__all__ = [
    "GO",
    "SourceFile",
    "error_count",
    "first_error",
    "is_generated",
    "line_count",
    "parse",
    "parser",
]

GO = Language(tree_sitter_go.language())


@lru_cache(maxsize=1)
def parser() -> Parser:
    return Parser(GO)


@dataclass
class SourceFile:
    path: str  # relative to the scan root, forward slashes
    content: bytes
    tree: Tree
    package: str  # the package clause's name ("" when missing)
    # The root node, made once: Tree.root_node builds a new Node on every access.
    root: Node = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.root = self.tree.root_node

    @property
    def is_test(self) -> bool:
        return self.path.endswith("_test.go")

    def line_count(self) -> int:
        return line_count(self.content)


def line_count(content: bytes) -> int:
    """Lines as an editor numbers them (a last line without its newline counts)."""
    return content.count(b"\n") + (0 if content.endswith(b"\n") else 1)


def parse(path: str, content: bytes) -> SourceFile:
    tree = parser().parse(content)
    if tree.root_node.has_error and b"new(" in content:
        tree = _without_new_expr_errors(content, tree)
    package = ""
    cursor = tree.walk()  # the clause comes first: step to it, no list of every child
    more = cursor.goto_first_child()
    while more:
        child = cursor.node
        more = cursor.goto_next_sibling()
        if child is not None and child.type == "package_clause":
            ident = child.named_children[0] if child.named_children else None
            package = (
                ident.text.decode("utf-8", "replace") if ident is not None and ident.text else ""
            )
            break
    return SourceFile(path=path, content=content, tree=tree, package=package)


# Go 1.26's `new(expr)` (`new(42)`, `new(time.Now())`): tree-sitter-go 0.25 parses `new`'s
# argument as a type only, so every such call is a syntax error that hides the function
# holding it. The call is re-read as a call of another function of the same length (the
# bytes keep every offset, so locations, snippets and fixes stay right).
_NEW = re.compile(rb"(?<![\w.])new\(")
_STAND_IN = b"_nw"
_ROUNDS = 3  # a repaired call can uncover the next one


def _without_new_expr_errors(content: bytes, tree: Tree) -> Tree:
    """The tree of `content` with each `new(` that fails to parse read as a plain call;
    the original tree when that does not reduce the errors."""
    repaired = content
    best = tree
    for _ in range(_ROUNDS):
        spots = [m.start() for m in _NEW.finditer(repaired) if _fails(best.root_node, m.start())]
        if not spots:
            break
        buf = bytearray(repaired)
        for at in spots:
            buf[at : at + 3] = _STAND_IN
        candidate = parser().parse(bytes(buf))
        if error_count(candidate.root_node) >= error_count(best.root_node):
            break
        repaired, best = bytes(buf), candidate
        if not best.root_node.has_error:
            break
    return best


def _fails(root: Node, at: int) -> bool:
    """Is the `new` at byte `at` part of a syntax error (its call, or an ERROR node)?"""
    node = root.descendant_for_byte_range(at, at + 3)
    while node is not None and node.type not in ("call_expression", "source_file"):
        if node.is_error:
            return True
        node = node.parent
    return node is not None and node.has_error


def error_count(root: Node) -> int:
    """Syntax errors in a tree: ERROR nodes and missing tokens."""
    if not root.has_error:
        return 0
    count, stack = 0, [root]
    while stack:
        node = stack.pop()
        if node.is_error or node.is_missing:
            count += 1
        if node.has_error:
            stack.extend(node.children)
    return count


def first_error(root: Node) -> Node | None:
    """The first ERROR or MISSING node in document order, or None for a clean parse."""
    if not root.has_error:
        return None
    stack = [root]
    while stack:
        node = stack.pop()
        if node.is_error or node.is_missing:
            return node
        if node.has_error:
            stack.extend(reversed(node.children))
    return root
