"""What is held where: the blocks of a function reached while a lock it took is still
held, and the methods of a package that take a lock of their receiver. Shared by the
lock checks (double locking, lock order)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from tree_sitter import Node

from leakaudit.checks.api import Function, Package
from leakaudit.checks.obligation import (
    block_at,
    bool_test,
    constant_condition,
    flag_facts,
    guard_fails,
    passes_of,
    straight_release,
)
from leakaudit.checks.sites import Site, find_sites, lock_methods
from leakaudit.checks.sites import interest as site_interest
from leakaudit.checks.uses import Use, UseClassifier
from leakaudit.facts.cfg import Block, Kind, block_leaves
from leakaudit.module.effects import declarations_by_name
from leakaudit.module.locks import imported
from leakaudit.module.summary import RELEASES
from leakaudit.parsing.syntax import (
    calls_found,
    line_of,
    method_call_pattern,
    method_receiver,
    path_of,
    text,
    unparen,
    walk,
)
from leakaudit.parsing.syntax import field as child
from leakaudit.ruleset.model import Rule

READ = "RLock"
# Code that may run on another goroutine, or later: its calls are not made here.
NOT_FOLLOWED = frozenset({"func_literal", "go_statement", "defer_statement"})


@dataclass(frozen=True)
class Locker:
    """A method that takes a lock of its receiver: the lock's path below the receiver
    ("mu"; "" for an embedded mutex), whether only for reading, and the chain of
    methods through which it does ("refresh", "load")."""

    field: str
    read: bool
    chain: tuple[str, ...]
    line: int


class Held:
    """Where a lock is held: a stretch of the source, when the lock's own block shows it
    (no control-flow graph needed), or the blocks of the graph reached while it is."""

    def __init__(
        self,
        fn: Function,
        span: tuple[int, int] | None = None,
        blocks: set[int] | None = None,
    ) -> None:
        self.fn, self.span, self.blocks = fn, span, blocks

    def at(self, node: Node) -> bool:
        """Is the lock held where `node` (a statement or a call in it) runs?"""
        if self.span is not None:
            return self.span[0] <= node.start_byte and node.end_byte <= self.span[1]
        block = block_of_call(self.fn, node)
        return block is not None and self.blocks is not None and block.index in self.blocks


def held(pkg: Package, fn: Function, rule: Rule, site: Site) -> Held:
    """Where the lock of `site` is held (once per lock: the lock checks share it)."""

    def compute() -> Held:
        span = _straight_span(fn, site, rule)
        if span is not None:
            return Held(fn, span=span)
        return Held(fn, blocks=_held_blocks(pkg, fn, rule, site))

    return fn.memo(("held", site.call.id, rule.release), compute)  # type: ignore[no-any-return]


def _straight_span(fn: Function, site: Site, rule: Rule) -> tuple[int, int] | None:
    """(from, to) in bytes when the source shows where the lock is held: `Lock(); defer
    Unlock()` at the top of the function body and no other unlock of it after (to the
    end of the function), or `Lock(); ...; Unlock()` in one block with nothing between
    that leaves the block or mentions the lock (to the unlock)."""
    found = straight_release(site, rule)
    body = child(fn.node, "body")
    if found is None or body is None or found.exits:
        return None
    if found.kind == "released":
        return site.statement.end_byte, found.node.start_byte
    holder = site.statement.parent
    if holder is not None and holder.type == "statement_list":
        holder = holder.parent
    var = site.var or ""
    rest = (body.text or b"")[found.node.end_byte - body.start_byte :]
    if holder != body or any(f"{var}.{m}()".encode() in rest for m in rule.release.methods):
        return None
    return found.node.end_byte, body.end_byte


def _held_blocks(pkg: Package, fn: Function, rule: Rule, site: Site) -> set[int]:
    start = block_at(fn, site.statement)
    if start is None:
        return set()
    uses = UseClassifier(
        site.var or "", rule.release, fn.types, fn.scope, fn.spend, passes_of(pkg, fn, rule)
    )
    held: set[int] = set()
    work: list[Block] = [start]
    seen = {start.index}
    flags: dict[str, tuple[bool, bool]] = {}

    def unheld(cond: Node, value: bool) -> bool:
        """On this edge the lock is not held: a literal false, a guard it was taken
        under that is false now, a flag set only after it was taken (or released)."""
        constant = constant_condition(cond)
        if constant is not None and constant != value:
            return True
        if any(guard_fails(cond, value, g) for g in site.guards):
            return True
        named = bool_test(cond, value)
        if named is None:
            return False
        if named[0] not in flags:
            flags[named[0]] = flag_facts(fn, named[0], uses, site.statement)
        return flags[named[0]][0 if named[1] else 1]

    while work:
        block = work.pop()
        for edge in block.succs:
            if edge.cond is not None and unheld(edge.cond, edge.value):
                continue
            target = edge.target
            if target.index in seen:
                if target is start and start.index not in held:
                    held.add(start.index)  # around a loop, still held: taken again
                continue
            seen.add(target.index)
            if target.kind in (Kind.NORETURN, Kind.EXIT):
                continue
            if target.kind != Kind.DEFER and _releases(uses, target):
                continue  # released here (a goroutine it starts may unlock it: no telling when)
            held.add(target.index)
            work.append(target)
    return held


def _releases(uses: UseClassifier, block: Block) -> bool:
    return block.node is not None and uses.effect(block.node).use >= Use.HANDOFF


def holder_calls(
    fn: Function, var: str, taking: dict[tuple[str, str], list[Locker]]
) -> list[tuple[Node, Locker]]:
    """Calls in the function's own body on what holds `var` (`s` for `s.mu`, `e` for
    an embedded `e`) of a method that takes that same lock of its receiver."""
    out: list[tuple[Node, Locker]] = []
    holders = frozenset(var.rsplit(".", k)[0] for k in range(var.count(".") + 1))
    for call, holder, found in _locker_calls(fn, taking, holders):
        if var != holder and not var.startswith(holder + "."):
            continue
        rest = var[len(holder) + 1 :] if var != holder else ""
        out.extend((call, locker) for locker in found if locker.field == rest)
    return out


def _locker_calls(
    fn: Function, taking: dict[tuple[str, str], list[Locker]], holders: frozenset[str]
) -> list[tuple[Node, str, list[Locker]]]:
    """(call, the path it is called on, what that method locks) for each call in the
    function's own body, on one of `holders`, of a method known to lock its receiver
    (typing only the receivers of those calls)."""
    return [
        (call, holder, found)
        for call, holder, _, found in _typed_locker_calls(fn, taking)
        if holder in holders
    ]


def locker_calls_any(
    fn: Function, taking: dict[tuple[str, str], list[Locker]]
) -> list[tuple[Node, str, list[Locker]]]:
    """(call, its receiver's type, what the method locks) for each call in the
    function's own body of a method known to lock its receiver, whatever receives it."""
    return [(call, tname, found) for call, _, tname, found in _typed_locker_calls(fn, taking)]


def _typed_locker_calls(
    fn: Function, taking: dict[tuple[str, str], list[Locker]]
) -> list[tuple[Node, str, str, list[Locker]]]:
    def compute() -> list[tuple[Node, str, str, list[Locker]]]:
        body = child(fn.node, "body")
        pattern = method_call_pattern(frozenset(name for _, name in taking))
        if body is None or pattern is None:
            return []
        out: list[tuple[Node, str, str, list[Locker]]] = []
        for call, function in calls_found(body, pattern, NOT_FOLLOWED):
            operand = child(function, "operand")
            holder = path_of(unparen(operand))
            if holder is None:
                continue
            tname = fn.types.type_of(operand, fn.scope)
            if tname is None:
                continue
            method = text(child(function, "field"))
            found = taking.get((tname.lstrip("*").removeprefix("."), method))
            if found:
                out.append((call, holder, tname, found))
        return out

    return fn.memo(("locker-calls", id(taking)), compute)  # type: ignore[no-any-return]


def block_of_call(fn: Function, call: Node) -> Block | None:
    """The block whose code holds the call: the smallest block node around it (a
    statement, a condition, a return)."""
    best: Block | None = None
    for block in fn.cfg.blocks:
        node = block.node
        if node is None or not (
            node.start_byte <= call.start_byte and call.end_byte <= node.end_byte
        ):
            continue
        if (
            best is None
            or best.node is None
            or node.end_byte - node.start_byte < best.node.end_byte - best.node.start_byte
        ):
            best = block
    return best


def lockers(pkg: Package, rule: Rule) -> dict[tuple[str, str], list[Locker]]:
    """(receiver type, method) -> the locks of its receiver the method takes: directly
    (a lock site on a path below its receiver), or by calling on its receiver a method
    that does (to a fixpoint). Only methods whose text calls one of those are read.
    The module's other packages' methods are keyed by their qualified type."""

    def compute() -> dict[tuple[str, str], list[Locker]]:
        out = dict(own_lockers(pkg, rule))
        # The module's other packages' methods, from their summaries, by qualified type.
        for key, facts in imported(pkg, rule).items():
            taken = [Locker(f.field, f.read, f.chain, 0) for f in facts if f.effect != RELEASES]
            if taken:
                out[key] = taken
        return out

    return pkg.memo(("lockers", rule.acquire, rule.release), compute)  # type: ignore[no-any-return]


def own_lockers(pkg: Package, rule: Rule) -> dict[tuple[str, str], list[Locker]]:
    """`lockers` of the package's own methods."""

    def compute() -> dict[tuple[str, str], list[Locker]]:
        out: dict[tuple[str, str], list[Locker]] = {}
        for fn in pkg.candidates(site_interest(rule)):
            recv = _receiver(fn.node)
            if recv is None:
                continue
            rname, rtype = recv
            method = text(child(fn.node, "name"))
            for site in find_sites(pkg, fn, rule):
                var = site.var or ""
                if site.guards or (var != rname and not var.startswith(rname + ".")):
                    continue  # a lock under a condition (`if !locked`) may not be taken
                field = var[len(rname) + 1 :] if var != rname else ""
                read = site.callee.name == READ
                out.setdefault((rtype, method), []).append(
                    Locker(field, read, (method,), line_of(site.call))
                )
        if not out:
            return out
        # Through calls on the receiver: a bounded fixpoint over the package's methods
        # whose text calls a method known to lock.
        calls: dict[tuple[str, str], list[tuple[Node, str]]] = {}
        called = _called_on_receiver(pkg)
        for _ in range(4):
            added = False
            for (rtype, name), (decl, rname, names) in called.items():
                if not any((rtype, n) in out for n in names):
                    continue
                if (rtype, name) not in calls:
                    calls[(rtype, name)] = _receiver_calls(decl, rname)
                for call, callee_name in calls[(rtype, name)]:
                    if _on_arguments(decl, call):
                        continue  # whether it runs is its caller's choice: not a sure lock
                    for locker in out.get((rtype, callee_name), []):
                        if len(locker.chain) >= 6 or name in locker.chain:
                            continue
                        if _released_before(decl, rname, locker.field, call, rule):
                            continue  # it lets go of the lock first: the callee may take it
                        via = Locker(locker.field, locker.read, (name, *locker.chain), locker.line)
                        have = out.setdefault((rtype, name), [])
                        if all(h.field != via.field for h in have):
                            have.append(via)
                            added = True
            if not added:
                break
        return out

    return pkg.memo(("own-lockers", rule.acquire, rule.release), compute)  # type: ignore[no-any-return]


def _on_arguments(decl: Node, call: Node) -> bool:
    """The call runs only on a condition that reads the method's parameters: in a branch
    of `if !create`, `if _, ok := p["token"]; !ok`, a switch on one, or past such an `if`
    that returns. The callers that hold the lock may pass arguments that never take
    that path (`findRoot(ctx, false)`), so the method is no sure locker through it."""
    params = _parameter_names(decl)
    if not params:
        return False
    inner, cur = call, call.parent
    while cur is not None and cur != decl and cur.type != "func_literal":
        if cur.type == "if_statement" and inner not in (
            child(cur, "condition"),
            child(cur, "initializer"),
        ):
            if _reads(cur, params, "initializer", "condition"):
                return True
        elif cur.type in ("expression_switch_statement", "type_switch_statement"):
            if inner.type.endswith("case") and _reads(cur, params, "initializer", "value"):
                return True
        elif cur.type == "statement_list":
            for stmt in cur.named_children:
                if stmt.start_byte >= inner.start_byte:
                    break
                if (
                    stmt.type == "if_statement"
                    and _reads(stmt, params, "initializer", "condition")
                    and block_leaves(child(stmt, "consequence"))
                ):
                    return True
        inner, cur = cur, cur.parent
    return False


def _reads(stmt: Node, params: frozenset[str], *fields: str) -> bool:
    return any(
        node.type == "identifier" and text(node) in params
        for name in fields
        if (part := child(stmt, name)) is not None
        for node in walk(part)
    )


def _parameter_names(decl: Node) -> frozenset[str]:
    plist = child(decl, "parameters")
    return frozenset(
        text(name)
        for d in (plist.named_children if plist is not None else ())
        for name in d.children_by_field_name("name")
        if text(name) != "_"
    )


def _called_on_receiver(pkg: Package) -> dict[tuple[str, str], tuple[Node, str, set[str]]]:
    """(receiver type, method) -> (its declaration, its receiver's name, the names of
    the methods its text calls on that receiver), for the package's methods outside
    tests: one search of each body's text, and no Function made for it."""

    def compute() -> dict[tuple[str, str], tuple[Node, str, set[str]]]:
        out: dict[tuple[str, str], tuple[Node, str, set[str]]] = {}
        for (recv, name), (decl, source) in declarations_by_name(pkg).items():
            if recv is None or source.is_test:
                continue
            body = child(decl, "body")
            found = _receiver(decl)
            if body is None or found is None:
                continue
            data = body.text or b""
            rname = found[0].encode()
            if rname + b"." not in data:
                continue
            names = {m.decode() for m in _calls_on(rname).findall(data)}
            if names:
                out[(recv, name)] = (decl, found[0], names)
        return out

    return pkg.memo("methods-calling-their-receiver", compute)  # type: ignore[no-any-return]


@lru_cache(maxsize=256)
def _calls_on(rname: bytes) -> re.Pattern[bytes]:
    return re.compile(rb"\b" + re.escape(rname) + rb"\.(\w+)\(")


def _receiver(decl: Node) -> tuple[str, str] | None:
    """(receiver name, receiver type) of a method that names its receiver."""
    if decl.type != "method_declaration":
        return None
    name, tname = method_receiver(decl)
    return (name, tname) if name and tname else None


def _released_before(decl: Node, rname: str, field: str, call: Node, rule: Rule) -> bool:
    """Does the method release its receiver's lock `field` somewhere before `call`?"""
    path = f"{rname}.{field}" if field else rname
    releases = {*lock_methods(rule)[1], *rule.release.methods}
    body = child(decl, "body")
    data = (body.text or b"") if body is not None else b""
    stop = call.start_byte - (body.start_byte if body is not None else 0)
    return any(f"{path}.{m}(".encode() in data[:stop] for m in releases)


def _receiver_calls(decl: Node, rname: str) -> list[tuple[Node, str]]:
    """`r.method(...)` calls in the method's own body (not in go, defer or closures)."""
    body = child(decl, "body")
    if body is None:
        return []
    return [
        (call, text(child(function, "field")))
        for call, function in calls_found(body, _calls_on(rname.encode()), NOT_FOLLOWED)
        if text(unparen(child(function, "operand"))) == rname
    ]
