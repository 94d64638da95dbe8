"""The package graph of the scanned tree: import paths from go.mod (each module's own,
so a go.work workspace or several modules side by side resolve too), each directory's
imports of the others, and an order that puts a package after what it imports.

Read from the bytes with a regex, before anything is parsed: the main process orders
the units, and a warm scan must not load the parser to do it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from leakaudit import gomod

# The import declarations precede every other declaration; a file's head is enough.
_IMPORT_BLOCK = re.compile(rb"^import\s*\((.*?)^\)", re.MULTILINE | re.DOTALL)
_IMPORT_ONE = re.compile(rb"^import\s+(?:[A-Za-z_.][\w]*\s+)?\"([^\"]+)\"", re.MULTILINE)
_SPEC_PATH = re.compile(rb"^\s*(?:[A-Za-z_.][\w]*\s+)?[\"`]([^\"`]+)[\"`]", re.MULTILINE)
_LINE_COMMENT = re.compile(rb"//[^\n]*")
_BLOCK_COMMENT = re.compile(rb"/\*.*?\*/", re.DOTALL)
_FIRST_DECL = re.compile(rb"^(?:func|type|var|const)\b", re.MULTILINE)


def imports_of(content: bytes) -> set[str]:
    """The import paths a Go file names (blank and dot imports included: they are edges
    all the same)."""
    end = _FIRST_DECL.search(content)
    head = content[: end.start()] if end else content
    if b"import" not in head:
        return set()
    if b"/*" in head:
        head = _BLOCK_COMMENT.sub(b"", head)
    out: set[str] = set()
    for block in _IMPORT_BLOCK.finditer(head):
        body = _LINE_COMMENT.sub(b"", block.group(1))
        out.update(m.group(1).decode("utf-8", "replace") for m in _SPEC_PATH.finditer(body))
    out.update(m.group(1).decode("utf-8", "replace") for m in _IMPORT_ONE.finditer(head))
    return out


def import_path(real_dir: str) -> str | None:
    """The import path of the package in `real_dir` (absolute, resolved): its module's
    path joined with the directory below the go.mod. None outside any module."""
    mod = gomod.nearest_resolved(real_dir)
    if mod is None or not mod.module:
        return None
    below = os.path.relpath(real_dir, os.path.dirname(str(mod.path)))
    if below == ".":
        return mod.module
    if below.startswith(".."):
        return None
    return f"{mod.module}/{below.replace(os.sep, '/')}"


@dataclass
class Graph:
    """Units (by index) with their import paths, the module-internal imports of each
    (from non-test files, and from test files apart), and the analysis order."""

    paths: list[str | None]
    imports: list[set[int]] = field(default_factory=list)  # non-test files' edges
    test_imports: list[set[int]] = field(default_factory=list)  # only _test.go files'
    # Import paths no unit has, that a non-test file of a module package names: other
    # modules', the standard library's, or packages of the module outside the scan.
    missing: set[str] = field(default_factory=set)
    # Units a unit's calls through an interface run the one implementation of, which
    # it does not import (add_implementation_edges): it reads their summaries too.
    extra: list[set[int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.extra:
            self.extra = [set() for _ in self.paths]

    def deps(self, unit: int) -> set[int]:
        """Every unit whose summary this one may read: what its files import, tests
        included (the scheduler leaves out those that come later in the order: a
        cycle through an external test package, whose summaries are not there yet)."""
        return self.imports[unit] | self.test_imports[unit] | self.extra[unit]

    def imported(self) -> set[int]:
        """The units some other unit imports (tests included)."""
        out: set[int] = set()
        for unit in range(len(self.paths)):
            out |= self.imports[unit] | self.test_imports[unit] | self.extra[unit]
        return out

    def order(self) -> list[int]:
        """Units after the units they import. Go has no import cycles, but test files
        can close one (package a's external test imports b, which imports a): within
        such a cycle the non-test edges alone decide, and the test edge that points
        forward is left unsatisfied (its summary is missing, not wrong)."""
        n = len(self.paths)
        full = [sorted(self.imports[i] | self.test_imports[i] | self.extra[i]) for i in range(n)]
        out: list[int] = []
        for component in _components(full):
            if len(component) == 1:
                out.extend(component)
                continue
            members = set(component)
            inner = [sorted(self.imports[i] & members) for i in range(n)]
            out.extend(_postorder(sorted(component), inner))
        return out


def add_implementation_edges(graph: Graph, table: dict[str, str | None]) -> None:
    """For each interface whose one implementation is in another package: the package
    declaring the interface, and those importing it, come after the implementing one
    (they read its summary), unless that would close a cycle (the implementing package
    imports them: its summary cannot come first, and the call stays at its type)."""
    by_path = {p: i for i, p in enumerate(graph.paths) if p is not None}
    for iface, impl in sorted(table.items()):
        if impl is None:
            continue
        declaring, implementing = (
            by_path.get(iface.rsplit(".", 1)[0]),
            by_path.get(impl.rsplit(".", 1)[0]),
        )
        if declaring is None or implementing is None or declaring == implementing:
            continue
        users = {declaring} | {u for u, deps in enumerate(graph.imports) if declaring in deps}
        below = _reach(graph, implementing)
        for user in sorted(users - below - {implementing}):
            graph.extra[user].add(implementing)


def _reach(graph: Graph, start: int) -> set[int]:
    """The units `start` depends on, directly or not, itself included."""
    seen, stack = {start}, [start]
    while stack:
        unit = stack.pop()
        for dep in graph.imports[unit] | graph.test_imports[unit] | graph.extra[unit]:
            if dep not in seen:
                seen.add(dep)
                stack.append(dep)
    return seen


def modules(real_dirs: Iterable[str]) -> dict[str, str]:
    """Module path -> its root directory, for the modules the directories belong to."""
    out: dict[str, str] = {}
    for real_dir in real_dirs:
        mod = gomod.nearest_resolved(real_dir)
        if mod is not None and mod.module:
            out.setdefault(mod.module, os.path.dirname(str(mod.path)))
    return out


def module_dir(path: str, roots: dict[str, str]) -> str | None:
    """The directory an import path names inside one of the modules in `roots`
    (None: another module's, or the standard library's)."""
    parts = path.split("/")
    if any(part in ("", ".", "..") or "\\" in part or "\0" in part for part in parts):
        return None  # not an import path the go tool accepts: never leave the module
    prefix = path
    while prefix:
        root = roots.get(prefix)
        if root is not None:
            rest = path[len(prefix) + 1 :]
            found = os.path.normpath(os.path.join(root, *rest.split("/")) if rest else root)
            real, real_root = os.path.realpath(found), os.path.realpath(root)
            if real != real_root and not real.startswith(real_root.rstrip(os.sep) + os.sep):
                return None  # a symlink out of the module: not followed
            return found
        cut = prefix.rfind("/")
        if cut < 0:
            return None
        prefix = prefix[:cut]
    return None


def build(
    directories: list[str], real_root: str, files: Iterable[tuple[int, str, Iterable[str]]]
) -> Graph:
    """The graph of the units in `directories` (relative to `real_root`), from (unit
    index, file name, the file's `imports_of`) of their files."""
    paths = [import_path(os.path.normpath(os.path.join(real_root, d))) for d in directories]
    by_path = {p: i for i, p in enumerate(paths) if p is not None}
    graph = Graph(paths, [set() for _ in paths], [set() for _ in paths])
    for unit, name, imports in files:
        wanted = graph.test_imports if name.endswith("_test.go") else graph.imports
        for path in imports:
            target = by_path.get(path)
            if target is None:
                if paths[unit] is not None and "." in path.split("/", 1)[0]:
                    graph.missing.add(path)  # the standard library has no dot there
            elif target != unit:
                wanted[unit].add(target)
    for unit in range(len(paths)):
        graph.test_imports[unit] -= graph.imports[unit]
    return graph


def _postorder(nodes: list[int], edges: list[list[int]]) -> list[int]:
    """Depth-first postorder (iterative: import chains can be long)."""
    seen: set[int] = set()
    out: list[int] = []
    for start in nodes:
        if start in seen:
            continue
        seen.add(start)
        stack = [(start, iter(edges[start]))]
        while stack:
            node, it = stack[-1]
            nxt = next((m for m in it if m not in seen), None)
            if nxt is None:
                stack.pop()
                out.append(node)
            else:
                seen.add(nxt)
                stack.append((nxt, iter(edges[nxt])))
    return out


def _components(edges: list[list[int]]) -> list[list[int]]:
    """Strongly connected components, each after the components it reaches (Tarjan's
    order), iteratively."""
    n = len(edges)
    index = [-1] * n
    low = [0] * n
    on_stack = [False] * n
    stack: list[int] = []
    out: list[list[int]] = []
    counter = 0
    for root in range(n):
        if index[root] != -1:
            continue
        work = [(root, 0)]
        while work:
            node, i = work.pop()
            if i == 0:
                index[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack[node] = True
            recurse = False
            targets = edges[node]
            while i < len(targets):
                m = targets[i]
                i += 1
                if index[m] == -1:
                    work.append((node, i))
                    work.append((m, 0))
                    recurse = True
                    break
                if on_stack[m]:
                    low[node] = min(low[node], index[m])
            if recurse:
                continue
            if low[node] == index[node]:
                component = []
                while True:
                    m = stack.pop()
                    on_stack[m] = False
                    component.append(m)
                    if m == node:
                        break
                out.append(component)
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return out
