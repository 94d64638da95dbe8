"""Go source → tree-sitter tree, with the facts every later stage needs about a file."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import tree_sitter_go
from tree_sitter import Language, Node, Parser, Tree

from leakaudit.parsing.generated import is_generated

__all__ = ["GO", "SourceFile", "first_error", "is_generated", "line_count", "parse", "parser"]

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
