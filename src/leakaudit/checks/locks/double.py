"""mutex-double-lock: a goroutine locks a mutex it already holds, and waits for itself.

From each lock (an acquire site of the rule, as mutex-not-unlocked finds them: a lock
taken back after an unlock in the same block, or in a function entered holding it, is
none), the blocks of the control-flow graph reached while it is held: up to a
statement that releases it (a deferred release does not end the region: it runs at
the return). In that region:

- the lock itself, reached again around a loop while still held (`defer mu.Unlock()`
  in the loop body, or a `continue` before the unlock): the next iteration waits;
- another lock of the same path: `Lock` then `Lock`, `RLock` then `Lock`, `Lock` then
  `RLock`; `RLock` then `RLock` only when the package also write-locks that field
  (a writer queued between the two read locks blocks the second: Go's RWMutex lets no
  new reader in while a writer waits);
- a call on what holds the path (`s.refresh()` while `s.mu` is held) of a method of
  the package that takes that lock of its receiver, itself or through the methods it
  calls on its receiver;
- a call of a func literal bound to a local name that locks the path before any
  unlock of it (`bump := func() { s.mu.Lock(); ... }`, then `bump()`);
- for a package-level mutex (`var mu sync.Mutex`), a call of a package function that
  write-locks it, itself or through the package functions it calls (`register()` →
  `store()`).

Not followed: code launched with `go`, deferred calls, func literals other than those
called by their local name (they may run on another goroutine or later), and
conditions the lock was taken under (`if x { mu.Lock() }`: where `x` is false later,
it is not held).
"""

from __future__ import annotations

from dataclasses import replace

from tree_sitter import Node

from leakaudit.checks.api import Function, Package, Sink, location
from leakaudit.checks.locks.held import (
    READ,
    Locker,
    held,
    holder_calls,
    lockers,
)
from leakaudit.checks.obligation import straight_release
from leakaudit.checks.sites import Site, find_sites, holding_functions

# What a function must call for the check to look at it (the check API, checks/__init__.py).
from leakaudit.checks.sites import interest as interest
from leakaudit.findings import Related
from leakaudit.module.effects import declarations_by_name
from leakaudit.parsing.syntax import FUNC_NODES, expressions, line_of, text, unparen, walk
from leakaudit.parsing.syntax import field as child
from leakaudit.ruleset.model import Rule


def run(pkg: Package, rule: Rule, sink: Sink) -> None:
    taking = lockers(pkg, rule)
    written = _write_locked(pkg, rule)

    def check(fn: Function) -> None:
        sites = find_sites(pkg, fn, rule)
        for site in sites:
            _check_site(pkg, fn, rule, site, sites, taking, written, sink)
            _check_global(pkg, fn, rule, site, sink)

    sink.each(holding_functions(pkg, rule), rule, check)


def _check_site(
    pkg: Package,
    fn: Function,
    rule: Rule,
    site: Site,
    sites: list[Site],
    taking: dict[tuple[str, str], list[Locker]],
    written: set[str],
    sink: Sink,
) -> None:
    var = site.var or ""
    others = [s for s in sites if s is not site and s.var == var]
    calls = holder_calls(fn, var, taking)
    read = site.callee.name == READ
    loop = None if read else _loop_around(site.statement, fn.node)
    if loop is not None:
        plain = straight_release(site, _own_rule(rule, site))
        if plain is not None and plain.kind == "released" and not plain.exits:
            loop = None  # unlocked further down its block, nothing leaving before: no graph
    closures = _closure_calls(fn, var, site, write_only=read)
    if not others and not calls and loop is None and not closures:
        return  # nothing in the function could take it again: no graph needed
    region = held(pkg, fn, _own_rule(rule, site), site)
    first = location(fn.file, site.call, first_line_only=True)
    held_since = line_of(site.call)
    # Another package's lock is named by what holds it: its field is not ours to spell.
    shown = site.unlock[0] if site.unlock is not None else var
    related = (Related(first, f"{shown} locked here"),)
    if loop is not None and region.at(site.statement):
        # Around the loop, still held: the next iteration takes it again.
        deferred = _deferred_release(loop, site)
        sink.report(
            rule,
            "next-iteration",
            fn.file,
            site.call,
            fn.name,
            related,
            var=shown,
            call=site.callee.text,
            why=(
                f"its unlock (line {line_of(deferred)}) is deferred to the return"
                if deferred is not None
                else "not every path through the loop body unlocks it"
            ),
        )
    for other in others:
        if not region.at(other.statement):
            continue
        again_read = other.callee.name == READ
        if read and again_read and _identity(var) not in written:
            continue  # two read locks, and no writer to queue between them
        kind = "read-then-write" if read and not again_read else "direct"
        if read and again_read:
            kind = "recursive-read"
        sink.report(
            rule,
            kind,
            fn.file,
            other.call,
            fn.name,
            related,
            var=shown,
            call=other.callee.text,
            line=held_since,
        )
    taken = {other.call.id for other in others}
    for call, locker in calls:
        if call.id in taken or not region.at(call):
            continue  # a lock helper's call is a lock site itself: reported above
        if read and locker.read and _identity(var) not in written:
            continue
        kind = "recursive-read-call" if read and locker.read else "through-call"
        callee = " ".join(text(child(call, "function")).split())
        chain = " → ".join(f"{m}()" for m in locker.chain)
        _through(sink, rule, fn, call, related, kind, shown, callee, chain, held_since)
    for call, name, literal in closures:
        if region.at(call):
            chain = f"the func literal at line {line_of(literal)}"
            _through(sink, rule, fn, call, related, "through-call", shown, name, chain, held_since)


def _through(
    sink: Sink,
    rule: Rule,
    fn: Function,
    call: Node,
    related: tuple[Related, ...],
    kind: str,
    var: str,
    callee: str,
    chain: str,
    line: int,
) -> None:
    """Report `call`, which takes `var` again through `chain`, held since `line`."""
    sink.report(
        rule, kind, fn.file, call, fn.name, related, var=var, call=callee, chain=chain, line=line
    )


def _closure_calls(
    fn: Function, var: str, site: Site, write_only: bool
) -> list[tuple[Node, str, Node]]:
    """(call, name, literal) for calls after the site, in fn's own body, of a func literal that
    fn binds to a local name (`bump := func() { s.mu.Lock(); ... }`) and that locks
    `var` itself (only write locks, `write_only`, when a read lock is held)."""
    if not var:
        return []
    body = child(fn.node, "body")
    said = (body.text or b"") if body is not None else b""
    locks = said.count(f"{var}.Lock()".encode()) + said.count(f"{var}.RLock()".encode())
    if body is None or b"func(" not in said or locks < 2:
        return []  # no literal locking it besides the site itself: most functions
    takes = [f"{var}.Lock()".encode()] + ([] if write_only else [f"{var}.RLock()".encode()])
    bound: dict[str, Node] = {}
    for node in walk(body):
        if node.type != "short_var_declaration":
            continue
        left, right = expressions(child(node, "left")), expressions(child(node, "right"))
        for name, value in zip(left, right, strict=False):
            literal = unparen(value)
            if (
                name.type == "identifier"
                and literal is not None
                and literal.type == "func_literal"
                and _locks_first(literal.text or b"", var, takes)
            ):
                bound[text(name)] = literal
    if not bound:
        return []
    return [
        (call, name, bound[name])
        for call, name in _bare_calls(fn.node)
        if name in bound and call.start_byte > site.call.end_byte
    ]


def _locks_first(said: bytes, var: str, takes: list[bytes]) -> bool:
    """Does the literal's text lock `var` before any unlock of it (one that lets go and
    takes it back, called while it is held, is no double lock)?"""
    first = min((at for t in takes if (at := said.find(t)) != -1), default=-1)
    if first == -1:
        return False
    gives = [said.find(f"{var}.{m}()".encode()) for m in ("Unlock", "RUnlock")]
    return not any(0 <= at < first for at in gives)


def _check_global(pkg: Package, fn: Function, rule: Rule, site: Site, sink: Sink) -> None:
    """A package-level mutex (`var mu sync.Mutex`) held, read-locked or not, while
    calling a function of the package that write-locks it, itself or through the
    package functions it calls."""
    var = site.var or ""
    if not _is_global(pkg, fn, var):
        return
    taking = _global_lockers(pkg, rule).get(var)
    source = fn.node.text or b""
    if not taking or not any(f"{name}(".encode() in source for name in taking):
        return
    calls = [
        (call, taking[name])
        for call, name in _bare_calls(fn.node)
        if name in taking and call.start_byte > site.call.end_byte
    ]
    if not calls:
        return
    region = held(pkg, fn, _own_rule(rule, site), site)
    related = (Related(location(fn.file, site.call, first_line_only=True), f"{var} locked here"),)
    for call, chain in calls:
        if region.at(call):
            said = " → ".join(f"{m}()" for m in chain)
            _through(
                sink,
                rule,
                fn,
                call,
                related,
                "through-call",
                var,
                chain[0],
                said,
                line_of(site.call),
            )


def _own_rule(rule: Rule, site: Site) -> Rule:
    """The rule with the site's own release (RLock's is RUnlock)."""
    if not site.release:
        return rule
    return replace(rule, release=replace(rule.release, methods=site.release))


def _is_global(pkg: Package, fn: Function, var: str) -> bool:
    """Is `var` a package-level mutex variable, not shadowed in fn?"""
    return (
        bool(var)
        and "." not in var
        and pkg.symbols.vars.get(var) in ("sync.Mutex", "sync.RWMutex")
        and not fn.scope.binds_locally(var)
    )


def _global_lockers(pkg: Package, rule: Rule) -> dict[str, dict[str, tuple[str, ...]]]:
    """Package-level mutex -> package function name -> the chain of calls by which it
    write-locks that mutex (`("flush",)` when flush locks it itself; `("save",
    "flush")` when save calls flush): a bounded fixpoint over bare calls."""

    def compute() -> dict[str, dict[str, tuple[str, ...]]]:
        out: dict[str, dict[str, tuple[str, ...]]] = {}
        for fn in holding_functions(pkg, rule, reported=False):
            if fn.node.type != "function_declaration":
                continue
            name = text(child(fn.node, "name"))
            for site in find_sites(pkg, fn, rule):
                var = site.var or ""
                if site.callee.name != READ and not site.guards and _is_global(pkg, fn, var):
                    out.setdefault(var, {}).setdefault(name, (name,))
        if not out:
            return out
        funcs = {
            name: decl
            for (recv, name), (decl, _) in declarations_by_name(pkg).items()
            if recv is None and child(decl, "body") is not None
        }
        calls: dict[str, list[tuple[Node, str]]] = {}
        for taking in out.values():
            for _ in range(4):
                added = False
                for name, decl in funcs.items():
                    said = decl.text or b""
                    if name in taking or not any(f"{n}(".encode() in said for n in taking):
                        continue  # it names none of the lockers: no syntax to walk
                    if name not in calls:
                        calls[name] = _bare_calls(decl)
                    for _call, callee in calls[name]:
                        chain = taking.get(callee)
                        if chain is not None and len(chain) < 6:
                            taking[name] = (name, *chain)
                            added = True
                            break
                if not added:
                    break
        return out

    return pkg.memo(("global-lockers", rule.id), compute)  # type: ignore[no-any-return]


def _bare_calls(func: Node) -> list[tuple[Node, str]]:
    """(call, name) for `name(...)` calls in the function's own body, not in func
    literals, go statements or deferred calls (those run elsewhere or later)."""
    body = child(func, "body")
    out: list[tuple[Node, str]] = []
    stack = [body] if body is not None else []
    while stack:
        cur = stack.pop()
        if cur.type in ("go_statement", "defer_statement") or cur.type in FUNC_NODES:
            continue
        if cur.type == "call_expression":
            callee = child(cur, "function")
            if callee is not None and callee.type == "identifier":
                out.append((cur, text(callee)))
        stack.extend(reversed(cur.named_children))
    return out


def _loop_around(node: Node, stop: Node) -> Node | None:
    """The innermost loop around node, below its function (func literals stop it)."""
    cur = node.parent
    while cur is not None and cur != stop and cur.type not in FUNC_NODES:
        if cur.type == "for_statement":
            return cur
        cur = cur.parent
    return None


def _deferred_release(loop: Node, site: Site) -> Node | None:
    """A `defer x.Unlock()` of the site's lock in the loop's body, if any."""
    body = child(loop, "body")
    var = site.var or ""
    if body is None or not var:
        return None
    said = b"defer " + var.encode() + b"."
    for stmt in walk(body):
        if stmt.type == "defer_statement" and (stmt.text or b"").startswith(said):
            return stmt
    return None


def _identity(var: str) -> str:
    """A lock as the package names it across functions: its field (`mu` of `s.mu`)."""
    return var.rsplit(".", 1)[-1]


def _write_locked(pkg: Package, rule: Rule) -> set[str]:
    """Identities of the locks some function of the package write-locks."""

    def compute() -> set[str]:
        out: set[str] = set()
        for fn in holding_functions(pkg, rule, reported=False):
            for site in find_sites(pkg, fn, rule):
                if site.callee.name != READ and site.var:
                    out.add(_identity(site.var))
        return out

    return pkg.memo(("write-locked", rule.id), compute)  # type: ignore[no-any-return]
