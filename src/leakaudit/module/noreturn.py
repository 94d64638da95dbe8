"""Functions that never return: a call to one ends the caller's path, as `os.Exit` and
`log.Fatal` do. A helper that calls `log.Fatalf` on every path (`fatalf(...)`), a local
closure doing the same, or such a helper in another package of the module: a resource
held at that call is not leaked through it.

Told from the function's own control-flow graph (its exit unreachable from its entry),
built with this same predicate, so helpers of helpers count too. Only functions whose
body names a never-returning call, or another such function, are looked at.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from typing import TYPE_CHECKING

from tree_sitter import Node

from leakaudit.facts.cfg import is_noreturn_call
from leakaudit.parsing.syntax import field as child
from leakaudit.parsing.syntax import text, unparen

if TYPE_CHECKING:
    from leakaudit.checks.api import Function, Package
    from leakaudit.parsing.parser import SourceFile

# Two searches, each led by a literal: one regex with `\bpanic\(` as an alternative
# took ten times as long (the engine then tries every position).
_WORDS_DOTTED = re.compile(
    rb"\.(?:Fatal|Fatalf|Fatalln|FailNow|SkipNow|Skip|Skipf|Exit|Exitf|Goexit"
    rb"|Panic|Panicf|Panicln)\("
)
_WORDS_PANIC = re.compile(rb"panic\(")


def _stops_at(data: bytes) -> list[int]:
    """Where `data` names a never-returning call (`panic(` after a non-word byte)."""
    out = [m.start() for m in _WORDS_DOTTED.finditer(data)]
    for m in _WORDS_PANIC.finditer(data):
        at = m.start()
        if at == 0 or not (data[at - 1 : at].isalnum() or data[at - 1] == 95):
            out.append(at)
    return sorted(out)


_PENDING = object()
_BINDS_LITERAL = re.compile(rb"=[ \t]*func\(")


def never_returns_call(pkg: Package, fn: Function, call: Node) -> bool:
    """Does `call` (in `fn`) never return?"""
    if is_noreturn_call(call):
        return True
    callee = unparen(child(call, "function"))
    if callee is None:
        return False
    if callee.type == "identifier":
        name = text(callee)
        if name not in _mentioned(pkg):
            return False
        literal = fn.scope.literal(name)
        if literal is not None:
            return _never_returns(pkg, literal, fn.file)
        if not fn.types.undeclared(fn.node, name):
            return False
        return _declared_never_returns(pkg, None, name)
    if callee.type != "selector_expression":
        return False
    name = text(child(callee, "field"))
    operand = unparen(child(callee, "operand"))
    if operand is not None and operand.type == "identifier" and text(operand) in fn.types.imports:
        if name not in _module_names(pkg):
            return False
        from leakaudit.checks.sites import callee_of

        found = callee_of(fn, call)
        facts = pkg.module.func(found.qualified) if found and found.package else None
        return facts is not None and facts.noreturn
    if name not in _candidates(pkg):
        return False
    from leakaudit.checks.sites import callee_of

    found = callee_of(fn, call)
    if found is None or found.package != "." or found.receiver is None:
        return False
    return _declared_never_returns(pkg, found.receiver, name)


def declared_never_returns(pkg: Package, decl: Node, source: SourceFile) -> bool:
    """For the summary: does this declaration never return?"""
    if _name_of(decl) not in _candidates(pkg):
        return False
    return _never_returns(pkg, decl, source)


def _declared_never_returns(pkg: Package, receiver: str | None, name: str) -> bool:
    from leakaudit.module.effects import declaration

    found = declaration(pkg, receiver, name)
    return found is not None and _never_returns(pkg, found[0], found[1].file)


def _never_returns(pkg: Package, func: Node, source: SourceFile) -> bool:
    key = ("never-returns", func.id)
    memo = pkg._cache
    if key in memo:
        return memo[key] is True  # a call cycle meets itself unfinished: it may return
    body = child(func, "body")
    data = body.text or b"" if body is not None else b""
    if body is None or b"recover()" in data or not _names_stop(pkg, data):
        memo[key] = False
        return False
    memo[key] = _PENDING
    fn = pkg.function(func, source)
    try:
        graph = fn.cfg if fn is not None else None
        memo[key] = graph is not None and graph.exit.index not in graph.reachable()
    except Exception:  # over budget: it may return
        memo[key] = False
    return memo[key] is True


def _names_stop(pkg: Package, data: bytes) -> bool:
    """The body names a never-returning call, or a function that may be one."""
    if _stops_at(data):
        return True
    return any(name.encode() + b"(" in data for name in _candidates(pkg))


def stopping_names(pkg: Package) -> frozenset[str]:
    """Names of the package's functions that may never return (a cheap superset)."""
    return _candidates(pkg)


def _candidates(pkg: Package) -> frozenset[str]:
    """Names of the package's functions and methods whose body names a never-returning
    call: the only ones that can be one (or call one, one level down)."""

    def compute() -> frozenset[str]:
        out = set()
        for source in pkg.files:
            hits = _stops_at(source.content)
            if not hits:
                continue  # one search per file, not one per declaration
            decls = pkg.declarations_in(source)
            starts = [d.start_byte for d in decls]
            for at in hits:
                i = bisect_right(starts, at) - 1
                if i >= 0 and at < decls[i].end_byte:
                    out.add(_name_of(decls[i]))
        return frozenset(out)

    return pkg.memo("noreturn-candidates", compute)  # type: ignore[no-any-return]


def _mentioned(pkg: Package) -> frozenset[str]:
    """`_candidates` plus the names of local closures that may stop: a bare call's name
    must be one of these to be worth a look."""

    def compute() -> frozenset[str]:
        out = set(_candidates(pkg))
        for source in pkg.files:
            data = source.content
            for match in _BINDS_LITERAL.finditer(data):
                end = match.start()  # back over `:` and blanks to the name before `=`
                while end > 0 and data[end - 1 : end] in b": \t":
                    end -= 1
                start = end
                while start > 0 and (data[start - 1 : start].isalnum() or data[start - 1] == 95):
                    start -= 1
                if start < end:
                    out.add(data[start:end].decode("utf-8", "replace"))
        return frozenset(out)

    return pkg.memo("noreturn-mentioned", compute)  # type: ignore[no-any-return]


def _module_names(pkg: Package) -> frozenset[str]:
    def compute() -> frozenset[str]:
        return frozenset(
            key.rsplit(".", 1)[-1]
            for summary in pkg.module.summaries.values()
            for key, facts in summary.funcs.items()
            if facts.noreturn
        )

    return pkg.memo("noreturn-module", compute)  # type: ignore[no-any-return]


def _name_of(decl: Node) -> str:
    return text(child(decl, "name"))
