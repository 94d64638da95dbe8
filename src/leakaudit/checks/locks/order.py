"""mutex-lock-order: two places take the same two locks in opposite orders.

A lock is named by what it protects across functions: the struct type and field that
declare it (`Store.mu`), the struct itself for an embedded mutex (`Registry`), or a
package variable. Local mutexes are left out (no other function can take them), and so
is taking a lock of the same name twice (two values of one type: which comes first
depends on the values, not on the code).

From each lock, the blocks reached while it is held (checks/locks/held.py): a lock of
another name taken there, directly or by a call of a method of the package that takes
a lock of its receiver, orders the two. When the package orders some pair both ways,
the places taking the less established order are reported, each pointing at a place
taking the other (fewer places outside tests, then fewer in all; both when even): a
warning, as both paths must run at once, on values that share the locks, for the
goroutines to wait for each other forever.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from tree_sitter import Node

from leakaudit.checks.api import Function, Package, Sink, location
from leakaudit.checks.locks.held import (
    Locker,
    held,
    locker_calls_any,
    lockers,
)
from leakaudit.checks.sites import Site, find_sites, holding_functions

# What a function must call for the check to look at it (the check API, checks/__init__.py).
from leakaudit.checks.sites import interest as interest
from leakaudit.findings import Related
from leakaudit.parsing.syntax import field as child
from leakaudit.parsing.syntax import line_of, text, unparen
from leakaudit.ruleset.model import Rule


@dataclass(frozen=True)
class _Order:
    """`first` is held where `second` is taken: at `node`, in `fn`."""

    first: str
    second: str
    fn: Function
    held_at: Node  # where `first` was taken
    node: Node  # where `second` is taken (a Lock call, or a call of a method taking it)
    via: str  # "" or the method chain that takes `second`


def run(pkg: Package, rule: Rule, sink: Sink) -> None:
    taking = lockers(pkg, rule)
    orders: list[_Order] = []

    def collect(fn: Function) -> None:
        sites = find_sites(pkg, fn, rule)
        named = [(site, name) for site in sites if (name := _name(fn, site)) is not None]
        for site, name in named:
            orders.extend(_after(pkg, fn, rule, site, name, named, taking))

    # Every function of the package orders locks, also those whose findings a scan of
    # a few files drops (the other half of a pair may be there).
    sink.each(holding_functions(pkg, rule, reported=False), rule, collect)
    quiet = pkg.quiet
    by_pair: dict[tuple[str, str], list[_Order]] = {}
    for order in orders:
        by_pair.setdefault((order.first, order.second), []).append(order)
    for (first, second), found in sorted(by_pair.items()):
        opposite = by_pair.get((second, first))
        if not opposite or _weight(found) > _weight(opposite):
            continue  # no inversion; or this is the established order: the other is off
        other = min(opposite, key=lambda o: (o.fn.file.path, o.node.start_byte))
        for order in found:
            if order.fn.file.path in quiet:
                continue
            there = location(other.fn.file, other.node, first_line_only=True)
            related = (
                Related(
                    location(order.fn.file, order.held_at, first_line_only=True),
                    f"{first} taken here",
                ),
                Related(there, f"{first} taken while {second} is held, in {other.fn.name}"),
            )
            sink.report(
                rule,
                "inverted",
                order.fn.file,
                order.node,
                order.fn.name,
                related,
                first=first,
                second=second,
                via=f" (through {order.via})" if order.via else "",
                other=other.fn.name,
                line=line_of(other.node),
                path=other.fn.file.path,
            )


def _weight(orders: list[_Order]) -> tuple[int, int]:
    """How established an order is: the places outside tests that take it, then all."""
    return sum(1 for o in orders if not o.fn.file.is_test), len(orders)


def _after(
    pkg: Package,
    fn: Function,
    rule: Rule,
    site: Site,
    name: str,
    named: list[tuple[Site, str]],
    taking: dict[tuple[str, str], list[Locker]],
) -> list[_Order]:
    """The locks of other names this function takes while `site` is held."""
    others = [(s, n) for s, n in named if n != name]
    calls = _locking_calls(fn, taking)
    if not others and not calls:
        return []
    own = (
        replace(rule, release=replace(rule.release, methods=site.release)) if site.release else rule
    )
    region = held(pkg, fn, own, site)
    loop = _loop_of(site.statement)
    out: list[_Order] = []

    def ordered(node: Node) -> bool:
        if not region.at(node):
            return False
        # Before the lock in its own loop: reached in a later iteration, where the
        # loop's variables may hold other values (the deferred unlocks of each pile up).
        return not (
            loop is not None and _within(node, loop) and node.start_byte < site.call.start_byte
        )

    for other, other_name in others:
        if ordered(other.statement):
            out.append(_Order(name, other_name, fn, site.call, other.call, ""))
    taken = {other.call.id for other, _ in others}
    for call, lock_name, chain in calls:
        if lock_name == name or call.id in taken:
            continue  # the same lock again (mutex-double-lock's), or a helper's site
        if ordered(call):
            out.append(_Order(name, lock_name, fn, site.call, call, chain))
    return out


def _loop_of(stmt: Node) -> Node | None:
    node = stmt.parent
    while node is not None and node.type not in (
        "func_literal",
        "function_declaration",
        "method_declaration",
    ):
        if node.type == "for_statement":
            return node
        node = node.parent
    return None


def _within(node: Node, outer: Node) -> bool:
    return outer.start_byte <= node.start_byte and node.end_byte <= outer.end_byte


def _name(fn: Function, site: Site) -> str | None:
    """What the lock of `site` is called across functions; None for a local mutex."""
    if site.lock is not None:
        return site.lock  # a lock helper's call names the lock it takes
    function = unparen(child(site.call, "function"))
    node = unparen(child(function, "operand")) if function is not None else None
    while node is not None and node.type == "selector_expression":
        if text(child(node, "field")) not in ("Mutex", "RWMutex"):
            break
        node = unparen(child(node, "operand"))  # s.mu.Mutex, s.Mutex: what embeds it
    if node is None:
        return None
    if node.type == "identifier":
        var = text(node)
        if var in fn.types.symbols.vars and not fn.scope.binds_locally(var):
            return f"var {var}"
        tname = fn.types.type_of(node, fn.scope)  # an embedded mutex: the struct is the lock
        if tname is None or tname.lstrip("*").startswith("sync."):
            return None
        return _type(tname)
    if node.type != "selector_expression":
        return None
    owner = fn.types.type_of(child(node, "operand"), fn.scope)
    return f"{_type(owner)}.{text(child(node, 'field'))}" if owner is not None else None


def _type(tname: str | None) -> str | None:
    """A declared type as the report names it: `Store`, or `path.Store` for another
    package's; None for what typing could not name."""
    if tname is None:
        return None
    tname = tname.lstrip("*")
    if tname.startswith("."):
        return tname[1:]
    return tname if "." in tname else None


def _locking_calls(
    fn: Function, taking: dict[tuple[str, str], list[Locker]]
) -> list[tuple[Node, str, str]]:
    """(call, the name of the lock it takes, through which methods) for the calls in the
    function's own body of package methods that take a lock of their receiver."""
    out = []
    for call, tname, found in locker_calls_any(fn, taking):
        owner = _type(tname)
        if owner is None:
            continue
        for locker in found:
            lock_name = f"{owner}.{locker.field}" if locker.field else owner
            out.append((call, lock_name, " → ".join(f"{m}()" for m in locker.chain)))
    return out
