"""mutex-double-lock: a goroutine locks a mutex it already holds, and waits for itself.

From each lock (an acquire site of the rule, as mutex-not-unlocked finds them: a lock
taken back after an unlock in the same block, or in a function entered holding it, is
none), the blocks of the control-flow graph reached while it is held: up to a
statement that releases it (a deferred release does not end the region: it runs at
the return). In that region:

- another lock of the same path: `Lock` then `Lock`, `RLock` then `Lock`, `Lock` then
  `RLock`; `RLock` then `RLock` only when the package also write-locks that field
  (a writer queued between the two read locks blocks the second: Go's RWMutex lets no
  new reader in while a writer waits);
- a call on what holds the path (`s.refresh()` while `s.mu` is held) of a method of
  the package that takes that lock of its receiver, itself or through the methods it
  calls on its receiver.

Not followed: code launched with `go`, deferred calls, func literals (they may run on
another goroutine or later), and conditions the lock was taken under (`if x {
mu.Lock() }`: where `x` is false later, it is not held).
"""

from __future__ import annotations

from dataclasses import replace

from leakaudit.checks.api import Function, Package, Sink, location
from leakaudit.checks.locks.held import (
    READ,
    Locker,
    held,
    holder_calls,
    lockers,
)
from leakaudit.checks.sites import Site, find_sites, holding_functions

# What a function must call for the check to look at it (the check API, checks/__init__.py).
from leakaudit.checks.sites import interest as interest
from leakaudit.findings import Related
from leakaudit.parsing.syntax import field as child
from leakaudit.parsing.syntax import line_of, text
from leakaudit.ruleset.model import Rule


def run(pkg: Package, rule: Rule, sink: Sink) -> None:
    taking = lockers(pkg, rule)
    written = _write_locked(pkg, rule)

    def check(fn: Function) -> None:
        sites = find_sites(pkg, fn, rule)
        for site in sites:
            _check_site(pkg, fn, rule, site, sites, taking, written, sink)

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
    if not others and not calls:
        return  # nothing in the function could take it again: no graph needed
    own = rule
    if site.release:
        own = replace(rule, release=replace(rule.release, methods=site.release))
    region = held(pkg, fn, own, site)
    first = location(fn.file, site.call, first_line_only=True)
    held_since = line_of(site.call)
    # Another package's lock is named by what holds it: its field is not ours to spell.
    shown = site.unlock[0] if site.unlock is not None else var
    related = (Related(first, f"{shown} locked here"),)
    read = site.callee.name == READ
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
        callee = " ".join(text(child(call, "function")).split())
        chain = " → ".join(f"{m}()" for m in locker.chain)
        sink.report(
            rule,
            "recursive-read-call" if read and locker.read else "through-call",
            fn.file,
            call,
            fn.name,
            related,
            var=shown,
            call=callee,
            chain=chain,
            line=held_since,
        )


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
