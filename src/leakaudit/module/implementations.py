"""Which type implements an interface, across the packages of a module.

A call through an interface runs one of the types implementing it. When the module
holds exactly one (outside tests and generated code), a call through the interface is
a call of that type's method: its summary says what it does with a resource it is
given and whether it hands out a fresh one. Go interfaces are often declared where
they are used (`type store interface` in the service) and implemented in a package
that the user does not import (the postgres package main wires in), so this is
decided for the whole module, before any package is analyzed: the scheduler needs it
to analyze the implementing package first.

Read from the bytes with regexes, like the imports (module/graph.py): the main process
decides the order, and a warm scan must not load the parser to do it. Only interfaces
whose method signatures name one of the rules' resource types matter, which keeps
the table (and what a change to it invalidates) small.
"""

from __future__ import annotations

import re
import sys
from collections import defaultdict
from collections.abc import Iterable
from typing import NamedTuple

# `func (r *T) Name(` and `func (T) Name[`: the receiver's type name and the method.
# Each pattern starts with a newline, not `^`: led by a literal, the regex engine
# jumps from one candidate to the next instead of trying every line (a file never
# starts with a declaration: the package clause comes first).
_METHOD = re.compile(
    rb"\nfunc[ \t]*\(\s*(?:[A-Za-z_]\w*\s+)?\*?\s*([A-Za-z_]\w*)\s*(?:\[[^\]]*\])?\s*\)"
    rb"\s*([A-Za-z_]\w*)"
)
# `type Name interface {`, or the start of a `type (` group.
_TYPE = re.compile(rb"\ntype[ \t]*(?:([A-Za-z_]\w*)\s+interface\s*\{|\()")
_GROUP_MEMBER = re.compile(rb"^\s+([A-Za-z_]\w*)\s+interface\s*\{", re.MULTILINE)
_LINE_COMMENT = re.compile(rb"//[^\n]*")
_ELEMENT = re.compile(rb"^\s*([A-Za-z_]\w*)\s*\(")


class Interface(NamedTuple):
    name: str
    # Its method names; None when it embeds another interface or lists type terms
    # (its method set is not all here: never resolved).
    methods: tuple[str, ...] | None
    body: str  # its text, to tell whether it names a resource type


class FileMethods(NamedTuple):
    """What one file declares that implementing is decided on. Named tuples of
    interned strings: remembered for every file of the module, they are loaded by
    every warm scan (as dataclasses, that load cost four times as much)."""

    interfaces: tuple[Interface, ...] = ()
    methods: tuple[tuple[str, str], ...] = ()  # (receiver type, method name)


def scan(content: bytes) -> FileMethods:
    """The interfaces and methods a Go file declares at its top level."""
    if b"/*" in content:
        content = _without_block_comments(content)
    methods = tuple((_name(m.group(1)), _name(m.group(2))) for m in _METHOD.finditer(content))
    if b"interface" not in content:
        return FileMethods((), methods)
    starts: list[tuple[bytes, int]] = []
    for m in _TYPE.finditer(content):
        if m.group(1) is not None:
            starts.append((m.group(1), m.end()))
            continue
        end = content.find(b"\n)", m.end())  # a group: its members, indented
        group = content[m.end() : end if end != -1 else len(content)]
        starts.extend((g.group(1), m.end() + g.end()) for g in _GROUP_MEMBER.finditer(group))
    interfaces = []
    for name, at in starts:
        body = _body(content, at)
        if body is not None:
            said = body.decode("utf-8", "replace")
            interfaces.append(Interface(_name(name), _methods(body), said))
    return FileMethods(tuple(interfaces), methods)


def _without_block_comments(content: bytes) -> bytes:
    """`content` with each `/* ... */` cut out (plain searches: a lazy regex over a whole
    file cost as much as every other search here together)."""
    parts, at = [], 0
    while (start := content.find(b"/*", at)) != -1:
        end = content.find(b"*/", start + 2)
        parts.append(content[at:start])
        if end == -1:
            return b"".join(parts)
        at = end + 2
    parts.append(content[at:])
    return b"".join(parts)


def _body(content: bytes, at: int) -> bytes | None:
    """The text between the `{` just before `at` and its matching `}`."""
    depth = 1
    for i in range(at, min(len(content), at + 64 * 1024)):
        c = content[i]
        if c == 0x7B:  # {
            depth += 1
        elif c == 0x7D:  # }
            depth -= 1
            if depth == 0:
                return content[at:i]
    return None


def _name(word: bytes) -> str:
    return sys.intern(word.decode("utf-8", "replace"))


def _methods(body: bytes) -> tuple[str, ...] | None:
    names: set[str] = set()
    depth = 0
    for raw in _LINE_COMMENT.sub(b"", body).replace(b";", b"\n").split(b"\n"):
        line = raw.strip()
        if not line:
            continue
        if depth == 0:
            found = _ELEMENT.match(line)
            if found is None:
                return None  # an embedded interface or a type term
            names.add(_name(found.group(1)))
        depth += line.count(b"(") - line.count(b")")  # a signature over several lines
        depth = max(depth, 0)
    return tuple(sorted(names)) if names else None


def resolve(
    packages: Iterable[tuple[str, Iterable[FileMethods]]], words: Iterable[str]
) -> dict[str, str | None]:
    """For each interface naming a resource type (one of `words` in its body), by
    qualified name ("path.Name"): the qualified name of the one type of the module
    whose methods cover it, or None when several do. Interfaces no type implements
    are left out. `packages`: (import path, its non-test, non-generated files)."""
    wanted = re.compile(r"\b(?:" + "|".join(re.escape(w) for w in sorted(set(words))) + r")\b")
    interfaces: list[tuple[str, frozenset[str]]] = []
    by_method: dict[str, set[str]] = defaultdict(set)  # method name -> qualified types
    owned: dict[str, set[str]] = defaultdict(set)  # qualified type -> its method names
    for path, files in packages:
        for facts in files:
            for iface in facts.interfaces:
                if iface.methods is not None and wanted.search(iface.body):
                    interfaces.append((f"{path}.{iface.name}", frozenset(iface.methods)))
            for recv, name in facts.methods:
                qualified = f"{path}.{recv}"
                owned[qualified].add(name)
                by_method[name].add(qualified)
    out: dict[str, str | None] = {}
    for qualified, methods in sorted(interfaces):
        rarest = min(methods, key=lambda m: len(by_method.get(m, ())))
        found = [t for t in sorted(by_method.get(rarest, ())) if methods <= owned[t]]
        if len(found) == 1:
            out[qualified] = found[0]
        elif found:
            out[qualified] = None
    return out
