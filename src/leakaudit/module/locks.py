"""What a package's exported methods do to the locks of their receivers, exported in
its summary so that the lock checks of the packages importing it see through a call
of them: `st.Lock()` on a `*store.Store` whose `Lock` leaves `s.mu` held takes that
lock for the caller (a lock helper), `st.Unlock()` lets go of it (an unlock helper),
and `st.Len()` while it is held takes it again (a double lock) or orders it against
the caller's own locks.

The facts are those the lock checks compute for the package's own methods
(checks/locks/held.py `lockers`, checks/sites.py `lock_helpers`), restricted to
exported methods (nothing else can be called from another package). A lock is named
by its path below the receiver, unexported fields included: the importer never spells
it, but two facts about one lock must agree.
"""

from __future__ import annotations

from leakaudit.checks.api import Package
from leakaudit.facts.typing import Callee
from leakaudit.module.summary import (
    BORROWS,
    HOLDS,
    RELEASES,
    TAKES,
    LockFact,
    exported,
)
from leakaudit.parsing.syntax import field as child
from leakaudit.parsing.syntax import method_receiver
from leakaudit.ruleset.model import Rule

__all__ = ["HOLDS", "RELEASES", "TAKES", "exported_locks", "imported", "imported_field_effect"]


def exported_locks(pkg: Package) -> dict[str, dict[str, tuple[LockFact, ...]]]:
    """Family -> "Type.Method" -> the facts of the package's exported methods, for
    each family whose rules acquire receivers (pkg.lock_rules)."""
    out: dict[str, dict[str, tuple[LockFact, ...]]] = {}
    for family, rule in sorted(pkg.lock_rules.items()):
        facts = _own_facts(pkg, rule)
        if facts:
            out[family] = facts
    return out


def _own_facts(pkg: Package, rule: Rule) -> dict[str, tuple[LockFact, ...]]:
    from leakaudit.checks.locks.held import own_lockers
    from leakaudit.checks.sites import lock_helpers, lock_methods
    from leakaudit.module.effects import declarations_by_name, field_effect

    taking = own_lockers(pkg, rule)
    if not taking:
        return {}
    helpers = lock_helpers(pkg, rule)
    declared = declarations_by_name(pkg)
    out: dict[str, list[LockFact]] = {}
    fields: dict[str, set[str]] = {}  # receiver type -> the paths of its locks
    for (rtype, method), found in sorted(taking.items()):
        fields.setdefault(rtype, set()).update(locker.field for locker in found)
        decl = declared.get((rtype, method))
        if not exported(method) or decl is None or decl[1].is_test:
            continue  # an importer cannot call it
        helper = helpers.get((rtype, method))
        for locker in found:
            if helper is not None and helper.field == locker.field:
                fact = LockFact(locker.field, HOLDS, locker.read, locker.chain, helper.release)
            else:
                fact = LockFact(locker.field, TAKES, locker.read, locker.chain)
            out.setdefault(f"{rtype}.{method}", []).append(fact)
    # Unlock helpers: an exported method of a type with locks that lets go of one its
    # caller holds, on every path (`func (s *Store) Unlock() { s.mu.Unlock() }`). Only
    # methods whose text releases that lock of their receiver are followed (most that
    # say `Unlock(` release a lock they took themselves, which the text tells at once).
    gives = sorted({*lock_methods(rule)[1], *rule.release.methods})
    for (recv, name), (decl, source) in sorted(
        declared.items(), key=lambda item: (item[0][0] or "", item[0][1])
    ):
        if recv not in fields or source.is_test or not exported(name):
            continue
        body = child(decl, "body")
        receiver = method_receiver(decl)[0]
        data = (body.text or b"") if body is not None else b""
        if not receiver or not any(m.encode() + b"(" in data for m in gives):
            continue
        callee = Callee(".", recv, name, name)
        for path in sorted(fields[recv]):
            held = f"{receiver}.{path}" if path else receiver
            if not any(f"{held}.{m}(".encode() in data for m in gives):
                continue
            if field_effect(pkg, callee, -1, path, rule) == RELEASES:
                out.setdefault(f"{recv}.{name}", []).append(LockFact(path, RELEASES))
    return {key: tuple(facts) for key, facts in out.items()}


def imported(pkg: Package, rule: Rule) -> dict[tuple[str, str], tuple[LockFact, ...]]:
    """(qualified receiver type, method) -> the facts the module's other packages'
    summaries give for the rule's family ("example.com/store.Store", "Lock")."""

    def compute() -> dict[tuple[str, str], tuple[LockFact, ...]]:
        out: dict[tuple[str, str], tuple[LockFact, ...]] = {}
        for path, summary in sorted(pkg.module.summaries.items()):
            for key, facts in summary.locks.get(rule.family, {}).items():
                rtype, _, method = key.rpartition(".")
                out[(f"{path}.{rtype}", method)] = facts
        return out

    return pkg.memo(("imported-locks", rule.family), compute)  # type: ignore[no-any-return]


def imported_field_effect(
    pkg: Package, callee: Callee, index: int, field: str, rule: Rule
) -> str | None:
    """What another package's method does with the lock `field` of its receiver (index
    -1) that the caller holds: RELEASES for an unlock helper, BORROWS when the summary
    knows the method and it does not let go of that lock; None when unknown."""
    if index != -1 or callee.package is None or callee.receiver is None:
        return None
    facts = imported(pkg, rule).get((f"{callee.package}.{callee.receiver}", callee.name))
    if facts is None:
        return None
    if any(f.field == field and f.effect == RELEASES for f in facts):
        return RELEASES
    return BORROWS
