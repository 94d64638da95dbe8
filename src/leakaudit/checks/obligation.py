"""The obligation analysis: a resource acquired at a call must, on every path from there
to the function's exit, be released or handed off.

Per acquire site, a forward may-analysis over the CFG tracks a small set of states:
not yet acquired, open (the call's error still describes it), open (error variable
since overwritten), and done (released, handed off, or known nil). A path that reaches
a `return` or the function's end with an open state leaks. Paths on which the call's
error is non-nil owe nothing: the resource is nil there.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from tree_sitter import Node

from leakaudit.checks import nilness
from leakaudit.checks.api import Function, Package, Sink, callee_name, function_name, location
from leakaudit.checks.sites import Site, calls_method_on, find_sites, holding_functions

# What a function must call for the check to look at it (the check API, checks/__init__.py).
from leakaudit.checks.sites import interest as interest
from leakaudit.checks.uses import Effect, Passes, Use, UseClassifier
from leakaudit.facts.cfg import Block, Edge, Kind
from leakaudit.facts.typing import declared_value
from leakaudit.findings import Location, Related, Severity
from leakaudit.fix.cancel import discard_edits
from leakaudit.fix.defer import advice, defer_edit, exit_edits, with_args
from leakaudit.module.effects import (
    checked_non_nil,
    error_returned,
    is_error_name,
    returns_error_last,
)
from leakaudit.module.summary import ON_SUCCESS
from leakaudit.parsing import queries
from leakaudit.parsing.syntax import (
    FUNC_NODES,
    expressions,
    line_of,
    method_receiver,
    return_values,
    statements,
    text,
    unnegated,
    unparen,
    walk,
)
from leakaudit.parsing.syntax import field as child
from leakaudit.result import Acquisition
from leakaudit.ruleset.model import ReleaseSpec, Rule

_NO_NAME = "\x00"  # a variable name no Go code can mention
UNSEEN, OPEN, LOOSE, DONE = 1, 2, 4, 8  # LOOSE: open, but its error variable was overwritten
# Passed to a callee that releases it only when it succeeds (IF_OK) or only when it
# fails (IF_FAILED): settled by the check of that call's error, one way or the other.
IF_OK, IF_FAILED = 16, 32
LIVE = OPEN | LOOSE | IF_OK | IF_FAILED
REOPENED = 64  # with LOOSE: open again because such a call's error said so


@dataclass
class _Outcome:
    leaks: list[tuple[Block | None, Node]] = field(default_factory=list)  # (exit block, node)
    reassigned: list[Node] = field(default_factory=list)
    deferred: bool = False
    handed_off: bool = False
    stored_fields: set[tuple[str | None, str]] = field(default_factory=set)  # (owner, field)
    error_checked: bool = False
    released: bool = False  # some path releases it
    exhausted: bool = False  # some path iterates it to the end (rows.Next() false): closed
    overwritten: bool = False  # some path assigns the variable something else
    lent: list[Node] = field(default_factory=list)  # calls it was passed to, which keep nothing
    # Why a lent call left it open, when not "does not release it" (by node id).
    lent_why: dict[int, str] = field(default_factory=dict)
    # Some path wraps it in a value kept past the call (`return pb.NewFooClient(conn)`).
    wrapped: bool = False
    handed_to: list[tuple[int, str]] = field(default_factory=list)  # (line, where it went)
    # The statements storing it in a field (`s := &Store{f: f}`), with the field's owner
    # type and name: a local holder may be dropped later (`_dropped_holder`).
    stores: list[tuple[Node, str | None, str]] = field(default_factory=list)


def run(pkg: Package, rule: Rule, sink: Sink) -> None:
    from leakaudit.module.owners import derived_rules

    _run(pkg, rule, sink)
    # Values that own this rule's resource (a struct whose constructor stored it):
    # followed as the resource itself, released by the method that releases the field.
    for derived in derived_rules(pkg, rule):
        _run(pkg, derived, sink)


def stored_fields(pkg: Package, fn: Function, rule: Rule) -> set[tuple[str | None, str]]:
    """(owner type, field) of the fields `fn` stores resources it acquires in, on paths
    that neither leak nor release them."""
    out: set[tuple[str | None, str]] = set()
    sites = find_sites(pkg, fn, rule)
    for site in sites:
        if site.binding == "stored" and site.field:
            out.add((site.owner, site.field))
        elif site.binding == "escapes":
            keyed = _keyed_field(fn, site.call)  # &T{ticker: time.NewTicker(d)}
            if keyed is not None:
                out.add(keyed)
        elif site.binding == "var":
            outcome = _flow(fn, rule, site, sites, passes_of(pkg, fn, rule))
            if not outcome.leaks:
                out |= outcome.stored_fields
    return out


_TESTING = frozenset({"testing.T", "testing.B", "testing.TB", "testing.F"})


def _given_test_context(fn: Function, call: Node) -> bool:
    """An argument of `call` is `t.Context()` of a test's *testing.T (or B, TB, F), or
    a local bound once to it (`ctx := t.Context()`)."""
    arguments = child(call, "arguments")
    for arg in arguments.named_children if arguments is not None else ():
        arg = unparen(arg)
        if arg is not None and arg.type == "identifier":
            arg = _only_value(fn, text(arg))
        if arg is not None and _is_test_context(fn, arg):
            return True
    return False


def _is_test_context(fn: Function, expr: Node) -> bool:
    if expr.type != "call_expression":
        return False
    method = unparen(child(expr, "function"))
    if method is None or method.type != "selector_expression":
        return False
    if text(child(method, "field")) != "Context":
        return False
    operand = unparen(child(method, "operand"))
    return operand is not None and fn.types.type_of(operand, fn.scope) in _TESTING


def _only_value(fn: Function, name: str) -> Node | None:
    """The value of the one declaration of local `name` in `fn` (None: several, or
    none, or not a single value)."""
    entries = fn.scope.entries(name)
    return declared_value(*entries[0]) if len(entries) == 1 else None


def _ranges_over(clause: Node | None, var: str, fields: tuple[str, ...]) -> bool:
    """`for range var.C` (or `for x := range var.C`) with C one of `fields`."""
    if clause is None or clause.type != "range_clause":
        return False
    ranged = unparen(child(clause, "right"))
    return (
        ranged is not None
        and ranged.type == "selector_expression"
        and text(child(ranged, "field")) in fields
        and text(unparen(child(ranged, "operand"))) == var
    )


def bool_test(cond: Node, value: bool) -> tuple[str, bool] | None:
    """(name, what it is on this edge) for a condition that is a bare local or its
    negation: `done`, `!done`."""
    cond, value = unnegated(cond, value)
    if cond is None or cond.type != "identifier":
        return None
    return text(cond), value


def flag_facts(fn: Function, name: str, uses: UseClassifier, site: Node) -> tuple[bool, bool]:
    """Whether nothing is held on an edge where the bool local `name` is (true, false).
    A flag is set to one constant only after its declaration (`done = true`, or
    `running = false` for `for running := true; running; {`), and starts at the
    other. Where it holds the set value: nothing is held when every set follows a
    release of the variable (in the same block, or in the select case that received
    from it). Where it holds the start value: nothing is held when it was declared
    before the acquisition and every set comes after it (`if didOpen { f.Close() }`).
    Only for a local declared in `fn` itself."""
    entries = fn.scope.entries(name)
    if not entries or name in fn.scope.params:
        return False, False
    first, first_position = entries[0]
    sets = []
    kinds = set()
    for decl, position in entries[1:]:
        value = declared_value(decl, position)
        if value is None or value.type not in ("true", "false"):
            return False, False  # set to something else too: not a plain flag
        kinds.add(value.type)
        sets.append(decl)
    if len(kinds) != 1:
        return False, False
    set_to = kinds.pop() == "true"
    after_release = all(_follows_release(decl, uses) for decl in sets)
    initial = declared_value(first, first_position)
    if initial is None:
        starts_unset = first.type == "var_spec" and set_to  # `var done bool` is false
    else:
        starts_unset = initial.type == ("false" if set_to else "true")
    after_acquire = (
        starts_unset
        and first.end_byte <= site.start_byte
        and all(decl.start_byte >= site.end_byte for decl in sets)
    )
    return (after_release, after_acquire) if set_to else (after_acquire, after_release)


def _follows_release(stmt: Node, uses: UseClassifier) -> bool:
    """A release of the variable comes before `stmt` in its block, or is the receive
    of the select case `stmt` is in."""
    block = stmt.parent
    for sibling in block.named_children if block is not None else ():
        if sibling.start_byte >= stmt.start_byte:
            break
        if uses.effect(sibling).use == Use.RELEASE:
            return True
    case = block
    while case is not None and case.type not in ("communication_case", "func_literal"):
        case = case.parent
    if case is None or case.type != "communication_case":
        return False
    communication = child(case, "communication")
    return communication is not None and uses.effect(communication).use == Use.RELEASE


def _keyed_field(fn: Function, call: Node) -> tuple[str | None, str] | None:
    """(struct type, field) when `call` is the value of a keyed composite literal
    element: `T{field: call}`."""
    element = call.parent
    while element is not None and element.type == "parenthesized_expression":
        element = element.parent
    keyed = element.parent if element is not None else None
    if element is None or element.type != "literal_element" or keyed is None:
        return None
    if keyed.type != "keyed_element" or child(keyed, "value") != element:
        return None
    literal = keyed.parent
    while literal is not None and literal.type != "composite_literal":
        literal = literal.parent
    if literal is None:
        return None
    name = text(child(keyed, "key")).strip()
    owner = fn.types.symbols.field_owner(fn.types.type_of(literal, fn.scope), name)
    return owner, name


def _run(pkg: Package, rule: Rule, sink: Sink) -> None:
    def check(fn: Function) -> None:
        if rule.options.get("exempt-main") and fn.is_main:
            return
        if rule.options.get("skip-tests") and fn.file.is_test:
            return
        sites = find_sites(pkg, fn, rule)
        for site in sites:
            if rule.options.get("exempt-process-lifetime") and _process_lifetime(pkg, site):
                continue
            own = rule
            if site.release and site.release != rule.release.methods:
                own = replace(rule, release=replace(rule.release, methods=site.release))
            holder = fn
            if site.launcher is not None and site.launcher != fn.node:
                # Launched by the function around this literal: that function owes it.
                found = pkg.function(site.launcher, fn.file)
                if found is None:
                    continue
                holder = found
                if rule.options.get("exempt-main") and holder.is_main:
                    continue
            _check_site(pkg, holder, own, site, sites, sink)

    sink.each(holding_functions(pkg, rule), rule, check)


def _process_lifetime(pkg: Package, site: Site) -> bool:
    """The acquisition runs a bounded number of times for the whole process (in main,
    init, what only they call, a sync.Once body): what it holds ends with the process."""
    from leakaudit.checks.goroutines.launches import Lifetime

    lifetime = pkg.memo("process-lifetime", lambda: Lifetime(pkg))
    return lifetime.of(site.call) is not None


def _holds_for_caller(
    pkg: Package, fn: Function, rule: Rule, site: Site, outcome: _Outcome
) -> bool:
    """Does the function return holding it on purpose: it never releases it; or it
    releases it on the paths that return an error, holds it on every path that returns
    a nil one, and another function of the package lets go of it without taking it
    (`AddPending` locks `c.pending` until `Commit` or `Drop` unlocks it)?"""
    if not outcome.released:
        return True
    exits = [node for block, node in outcome.leaks if block is not None]
    if not exits or len(exits) != len(outcome.leaks) or not returns_error_last(fn.node):
        return False  # (the end of the function is no return of nil)
    if not all(error_returned(node, set()) == "nil" for node in exits):
        return False
    return _released_elsewhere(pkg, fn, rule, site)


def _released_elsewhere(pkg: Package, fn: Function, rule: Rule, site: Site) -> bool:
    """Does another method of the receiver's type release the field that `site` holds
    (`c.pending.Unlock()`) before taking it, if it takes it at all, with no method that
    only takes it (a `lock()` helper, which such releasers would pair with instead)?"""
    from leakaudit.module.effects import declarations_by_name, first_takes

    if fn.node.type != "method_declaration":
        return False
    receiver, rtype = method_receiver(fn.node)
    var = site.var or ""
    if not receiver or not var.startswith(receiver + "."):
        return False
    field = var[len(receiver) + 1 :]
    releases = site.release or rule.release.methods
    takes = {c for spec in rule.acquire for c in spec.calls}
    found = False
    for (recv, _), (decl, _) in declarations_by_name(pkg).items():
        body = child(decl, "body")
        name = method_receiver(decl)[0] if recv == rtype else ""
        if not name or decl == fn.node or body is None:
            continue  # (the same field of another type is another lock)
        data = body.text or b""
        path = f"{name}.{field}"
        took = any(f"{path}.{m}(".encode() in data for m in takes)
        gave = any(f"{path}.{m}(".encode() in data for m in releases)
        if took and not gave:
            return False  # a lock helper of its own (`lock()`): the releasers pair with it
        found = found or (gave and not first_takes(data, path, takes, releases))
    return found


def _first_use(fn: Function, name: str, after: Node) -> int | None:
    """Where the variable `name` is first mentioned after the statement `after`."""
    body = child(fn.node, "body")
    if body is None:
        return None
    return min(
        (
            node.start_byte
            for node in walk(body, into_funcs=True)
            if node.type == "identifier"
            and node.start_byte >= after.end_byte
            and text(node) == name
        ),
        default=None,
    )


def _owner_started(rule: Rule) -> tuple[Related, ...]:
    """The goroutine an owner's constructor started, when that is what the value owns
    (module/owners.py): the finding points at it."""
    started = rule.options.get("owner-started")
    if not started:
        return ()
    path, row, col = started  # type: ignore[misc]
    said = f"the goroutine, which waits for {rule.release.methods[0]}()"
    return (Related(Location(path, row, col, row, col + 2), said),)


def _check_site(
    pkg: Package, fn: Function, rule: Rule, site: Site, sites: list[Site], sink: Sink
) -> None:
    call_text = site.callee.text
    if site.binding == "blank" and site.err is not None:
        # `_, err := c.Get(u)`: only paths where err is nil hold a resource.
        outcome = _flow(fn, rule, replace(site, var=_NO_NAME), sites, passes_of(pkg, fn, rule))
        if not outcome.leaks:
            _record(sink, rule, fn, site, "released", outcome)
            return
    if site.partner is not None and _calls_method(fn, site.partner, rule.release.methods):
        # `r, w := io.Pipe(); defer r.Close()`: a write to a pipe whose reader is closed
        # fails at once, and no reader is left to wait for the writer's close.
        handed = _Outcome(
            handed_off=True, handed_to=[(line_of(site.call), f"{site.partner} closed")]
        )
        _record(sink, rule, fn, site, "handed-off", handed)
        return
    if site.binding in ("blank", "dropped"):
        _record(sink, rule, fn, site, "discarded")
        if "discarded" in rule.reports:
            related = _owner_started(rule)
            sink.report(
                rule, "discarded", fn.file, site.call, fn.name, related, var="_", call=call_text
            )
            if rule.fix and rule.release.call and site.binding == "blank":
                _fix_discard(sink, fn, site, _blank_of(site.statement), None, [])
        return
    if site.binding == "escapes":
        escaped = _Outcome(handed_to=[(line_of(site.call), _escaped_to(site.call))])
        _record(sink, rule, fn, site, "handed-off", escaped)
        return
    if rule.options.get("settled-by-test-context") and _given_test_context(fn, site.call):
        _record(sink, rule, fn, site, "released")
        return
    if site.binding == "stored":
        stored = {(site.owner, site.field)} if site.field else set()
        where = f"stored in field {site.field}" if site.field else f"assigned to {site.var}"
        outcome = _Outcome(
            handed_off=True, stored_fields=stored, handed_to=[(line_of(site.call), where)]
        )
        _conclude(pkg, fn, rule, site, outcome, sink)
        return
    assert site.var is not None
    if site.launcher is not None and _launched_settled(fn, rule, site):
        _record(sink, rule, fn, site, "handed-off", _Outcome(handed_off=True))
        return
    if rule.release.resets and _calls_method(fn, site.var, rule.release.resets):
        # `gw.Reset(buf)`: a scratch writer reused per output; each reset begins a use
        # whose end the rule cannot tell from the one it made.
        _record(sink, rule, fn, site, "released")
        return
    owner = _outer_owner(fn, rule, site.var)
    if owner is not None:
        # A closure assigning the enclosing function's variable: that function owns
        # what the variable holds, and releases it (say in a deferred closure).
        where = f"assigned to {site.var}, which {owner} releases or passes on"
        handed = _Outcome(handed_off=True, handed_to=[(line_of(site.call), where)])
        _record(sink, rule, fn, site, "handed-off", handed)
        return
    if site.release:
        plain = straight_release(site, rule)
        if plain is not None:  # most locks: no flow, no control-flow graph
            _record(sink, rule, fn, site, plain.kind)
            return
    outcome = _flow(fn, rule, site, sites, passes_of(pkg, fn, rule))
    leaves_it = outcome.leaks and not (
        outcome.released or outcome.exhausted or outcome.deferred or outcome.handed_off
    )
    moved = _in_enclosing(pkg, fn, site) if leaves_it else None
    if moved is not None:
        # The callback leaves it open on every path (one that releases it or hands it
        # off on some is judged by its own paths), and the function around it does not
        # release it either: its paths after the statement holding the callback are the
        # ones the resource leaks through (`pacer.Call(func() { resp, err = c.Do(req) })`).
        outer, outer_site = moved
        outcome = _flow(outer, rule, outer_site, [], passes_of(pkg, outer, rule))
        _conclude(pkg, outer, rule, outer_site, outcome, sink)
        return
    if _dropped_holder(pkg, fn, rule, site, outcome, sink):
        return
    _conclude(pkg, fn, rule, site, outcome, sink)


def _dropped_holder(
    pkg: Package, fn: Function, rule: Rule, site: Site, outcome: _Outcome, sink: Sink
) -> bool:
    """Stored only in a field of a value this function makes (`s := &Store{f: f}`, or
    `s.f = f` on it), the resource is that value's to release, with the method of its
    type that releases the field (module/owners.py). A path that drops the value (`if
    err := s.init(); err != nil { return nil, err }`) leaks it: reported as the
    resource's own leak, through that exit. True when reported."""
    from leakaudit.module.owners import owners

    if (
        outcome.leaks
        or outcome.released
        or outcome.reassigned
        or len(outcome.stores) != 1
        or len(outcome.handed_to) != 1
        or "not-released" not in rule.reports
    ):
        return False
    stmt, owner_type, fname = outcome.stores[0]
    holder = _fresh_holder(fn, stmt, site.var or "")
    owner = owners(pkg).get("." + (owner_type or "").lstrip(".")) if owner_type else None
    if holder is None or owner is None or owner.field != fname or owner.rule != rule.id:
        return False
    said = fn.node.text or b""
    var = site.var or "_"
    if any(f"{holder}.{fname}.{m}(".encode() in said for m in rule.release.methods) or (
        rule.release.call and f"{holder}.{fname}(".encode() in said
    ):
        return False  # it releases the field itself somewhere: not followed
    if any(f"{var}.{m}(".encode() in said for m in rule.release.methods) or (
        rule.release.call and re.search(rb"(?<![\w.])" + re.escape(var.encode()) + rb"\(", said)
    ):
        return False  # or the resource through its own variable (`cancel()` on a failure)
    # The holder is released by its owner's methods (a stored cancel func too: by the
    # `Close` that calls it, not by a call of the holder).
    held = replace(
        rule, release=replace(rule.release, methods=owner.release, borrowers=(), call=False)
    )
    follow = replace(site, var=holder, statement=stmt, err=None, release=(), partner=None)
    found = _flow(fn, held, follow, [], passes_of(pkg, fn, held))
    if not found.leaks:
        return False
    _, node = min(found.leaks, key=lambda leak: leak[1].start_byte)
    line = line_of(node)
    closer = owner.release[0]
    related = (
        Related(location(fn.file, stmt, first_line_only=True), f"{var} stored in {holder} here"),
        Related(location(fn.file, node, first_line_only=True), f"{holder} dropped here"),
    )
    _report_unreleased(
        sink,
        rule,
        fn,
        site,
        site.call,
        related,
        var=var,
        exit=f"the return at line {line}, which drops {holder}, where it is stored",
        line=line,
        release=closer,
        advice=f"call `{holder}.{closer}()` before that return",
    )
    _record(sink, rule, fn, site, "leaked", found)
    return True


def _fresh_holder(fn: Function, stmt: Node, var: str) -> str | None:
    """The local variable `stmt` stores `var` in, when this function makes its value:
    `h := &T{f: var}` / `h := T{...}`, or `h.f = var` where `h := &T{...}` (or
    `new(T)`) came before. None otherwise."""
    if stmt.type == "short_var_declaration":
        left, right = expressions(child(stmt, "left")), expressions(child(stmt, "right"))
        if len(left) == 1 and len(right) == 1 and left[0].type == "identifier":
            value = unparen(right[0])
            if value is not None and value.type == "unary_expression":
                value = unparen(child(value, "operand"))
            if value is not None and value.type == "composite_literal":
                return text(left[0])
        return None
    if stmt.type != "assignment_statement":
        return None
    left, right = expressions(child(stmt, "left")), expressions(child(stmt, "right"))
    if len(left) != 1 or len(right) != 1 or text(unparen(right[0])) != var:
        return None
    target = left[0]
    operand = child(target, "operand") if target.type == "selector_expression" else None
    if operand is None or operand.type != "identifier":
        return None
    name = text(operand)
    body = child(fn.node, "body")
    for node in walk(body) if body is not None else ():
        if node.start_byte >= stmt.start_byte:
            break
        if node.type == "short_var_declaration" and _fresh_holder(fn, node, "") == name:
            return name
        if node.type == "short_var_declaration" and (node.text or b"").startswith(
            f"{name} := new(".encode()
        ):
            return name
    return None


# Words a statement must not hold between a lock and its release for the straight-line
# shortcut: anything that can leave the block, or take the lock again.
_LEAVES = (b"return", b"break", b"continue", b"goto", b"panic", b"Fatal", b"Exit", b"Skip")


@dataclass(frozen=True)
class StraightRelease:
    """How the source shows a receiver acquisition released, without following paths."""

    kind: str  # "deferred": the next statement defers it; "released": a later one
    node: Node  # that defer statement, or that releasing statement
    exits: bool  # early exits that release it first were passed on the way


def straight_release(site: Site, rule: Rule) -> StraightRelease | None:
    """The statement right after the acquisition defers its release; or a later
    statement of the same block releases it, and nothing in between can leave the
    block or touch it otherwise, but for early exits that release it first (`if err !=
    nil { mu.Unlock(); return err }`); None: follow the paths."""
    var = site.var or ""
    releases = tuple(f"{var}.{m}()".encode() for m in rule.release.methods)
    sibling = site.statement.next_named_sibling
    while sibling is not None and sibling.type == "comment":
        sibling = sibling.next_named_sibling
    if sibling is None:
        return None
    data = sibling.text or b""
    if sibling.type == "defer_statement" and data.strip() in (b"defer " + r for r in releases):
        return StraightRelease("deferred", sibling, False)
    mentions = _mentions(var)
    exits = False
    while sibling is not None:
        data = sibling.text or b""
        if sibling.type == "expression_statement" and data.strip() in releases:
            return StraightRelease("released", sibling, exits)
        if sibling.type == "if_statement" and _releasing_exit(sibling, mentions, releases):
            exits = True
            sibling = sibling.next_named_sibling
            continue
        if mentions(data) or any(word in data for word in _LEAVES):
            return None
        if sibling.type in ("go_statement", "defer_statement", "labeled_statement"):
            return None
        sibling = sibling.next_named_sibling
    return None


def _releasing_exit(
    stmt: Node, mentions: Callable[[bytes], bool], releases: tuple[bytes, ...]
) -> bool:
    """`if cond { ...; v.Unlock(); return ... }`, no else, nothing else touching `v`."""
    if child(stmt, "alternative") is not None or child(stmt, "initializer") is not None:
        return False
    cond, body = child(stmt, "condition"), child(stmt, "consequence")
    if cond is None or body is None or mentions(cond.text or b""):
        return False
    inner = statements(body)
    if len(inner) < 2 or inner[-1].type != "return_statement":
        return False
    if (inner[-2].text or b"").strip() not in releases or inner[-2].type != "expression_statement":
        return False
    before = inner[:-2]
    return not any(
        mentions(n.text or b"") or any(w in (n.text or b"") for w in _LEAVES) for n in before
    ) and not mentions(inner[-1].text or b"")


def _mentions(var: str) -> Callable[[bytes], bool]:
    """A test of some code's text for the variable or path (as a word of its own)."""
    pattern = re.compile(rb"(?<![\w.])" + re.escape(var.encode()) + rb"\b")
    return lambda data: pattern.search(data) is not None


def _launched_settled(fn: Function, rule: Rule, site: Site) -> bool:
    """A server started on a goroutine is often set up before it is started: stored in
    its owner (`te.srv = s`), given to `t.Cleanup(s.Stop)`, handed on. Anything of the
    kind anywhere in the launching function, or the listener it serves on closed there
    (which ends Serve), leaves it to that owner or stop."""
    assert site.var is not None
    body = child(fn.node, "body")
    if body is None:
        return True
    uses = UseClassifier(site.var, rule.release, fn.types, fn.scope, fn.spend)
    if _passed_on(uses, site.var, body, site.statement):
        return True
    args = child(site.call, "arguments")
    served = [unparen(a) for a in (args.named_children if args is not None else ())]
    return any(
        a is not None and a.type == "identifier" and _calls_method(fn, text(a), ("Close",))
        for a in served
    )


def _passed_on(uses: UseClassifier, var: str, body: Node, besides: Node) -> bool:
    """Some occurrence of `var` in `body` (its closures included), outside `besides`,
    releases it, stores it or hands it on."""
    inside = range(besides.start_byte, besides.end_byte)
    return any(
        occ.type == "identifier"
        and text(occ) == var
        and occ.start_byte not in inside
        and uses._occurrence(occ).use >= Use.STORED
        for occ in walk(body, into_funcs=True)
    )


def _calls_method(fn: Function, var: str, methods: tuple[str, ...]) -> bool:
    """`fn` (its closures included) calls `var.M(...)` for one of `methods`."""
    body = child(fn.node, "body")
    return body is not None and calls_method_on(body, var, methods, into_funcs=True)


def _outer_owner(fn: Function, rule: Rule, var: str) -> str | None:
    """The name of the enclosing function, when `fn` is a func literal that assigns
    `var` without declaring it, and the enclosing function that declares it releases
    it somewhere (a deferred closure, an explicit call) or passes it on (returns it,
    stores it, hands it to a call)."""
    if not fn.is_literal or "." in var:
        return None
    scope = fn.scope
    if var in scope.params or any(d.type != "assignment_statement" for d, _ in scope.entries(var)):
        return None  # its own variable
    outer = scope.outer
    while outer is not None:
        if var in outer.params or any(
            d.type != "assignment_statement" for d, _ in outer.entries(var)
        ):
            break
        outer = outer.outer
    if outer is None or outer.body is None:
        return None
    uses = UseClassifier(var, rule.release, fn.types, outer, fn.spend)
    fn.spend(outer.body.descendant_count)
    if not _passed_on(uses, var, outer.body, fn.node):  # the closure's own: its flow's
        return None
    holder = outer.body.parent
    return function_name(holder) if holder is not None else "the enclosing function"


def _in_enclosing(pkg: Package, fn: Function, site: Site) -> tuple[Function, Site] | None:
    """A func literal assigning a variable the function around it declares: that
    function holds the resource once the statement holding the literal has run (a
    retry helper's callback, `pacer.Call(func() (bool, error) { resp, err = c.Do(req);
    ... })`). The site moved there: the literal's call, at that statement, with the
    error it assigns (`err := pacer.Call(...)`: on its failure the caller owes nothing).
    None when the literal declares it, or the variable is declared further out."""
    var = site.var or ""
    scope = fn.scope
    if not fn.is_literal or "." in var or scope.outer is None:
        return None
    if site.statement.type != "assignment_statement":
        return None  # a receiver taken (`mu.Lock()`), not a result assigned
    if var in scope.params or any(d.type != "assignment_statement" for d, _ in scope.entries(var)):
        return None
    outer_scope = scope.outer
    if var not in outer_scope.params and not any(
        d.type != "assignment_statement" for d, _ in outer_scope.entries(var)
    ):
        return None
    statement, cur = None, fn.node
    while cur.parent is not None and cur.parent.type not in FUNC_NODES:
        if cur.parent.type == "statement_list":
            statement = cur  # the innermost statement of the enclosing function
            break
        cur = cur.parent
    holder = outer_scope.body.parent if outer_scope.body is not None else None
    if statement is None or holder is None or statement.type not in _OUTER_STATEMENTS:
        return None
    outer = pkg.function(holder, fn.file)
    if outer is None:
        return None
    left = expressions(child(statement, "left"))
    err = text(left[0]) if len(left) == 1 and is_error_name(text(left[0])) else None
    return outer, replace(site, statement=statement, binding="var", err=err)


_OUTER_STATEMENTS = frozenset(
    {"expression_statement", "assignment_statement", "short_var_declaration"}
)


def flow_param(pkg: Package, fn: Function, rule: Rule, name: str) -> _Outcome:
    """What `fn` does on its paths with parameter `name`, as if acquired on entry."""
    from leakaudit.facts.typing import Callee

    callee = Callee(None, None, fn.name, fn.name)
    site = Site(fn.node, callee, fn.node, "var", var=name)
    return _flow(fn, rule, site, [], passes_of(pkg, fn, rule), from_entry=True)


def passes_of(pkg: Package, fn: Function, rule: Rule) -> Passes:
    from leakaudit.module.effects import passed

    return lambda call, index, via, field="": passed(pkg, fn, rule, call, index, via, field)


def _flow(
    fn: Function,
    rule: Rule,
    site: Site,
    sites: list[Site],
    passes: Passes | None = None,
    from_entry: bool = False,
) -> _Outcome:
    """Follow `site`'s variable from its acquisition to every exit. `from_entry`: the
    variable is a parameter, held from the function's entry on (a summary asks what
    the function does with it on every path, error paths included)."""
    graph = fn.cfg
    var, err = site.var or "", site.err
    uses = UseClassifier(var, rule.release, fn.types, fn.scope, fn.spend, passes)
    fn.spend(len(graph.blocks))  # the lookups and the recording pass below
    start = graph.entry if from_entry else block_at(fn, site.statement)
    reacquire = {
        block_at(fn, other.statement)
        for other in sites
        if other is not site and other.var == var and other.binding == "var"
    }
    reacquire.discard(None)
    effects: dict[int, Effect] = {}
    err_assigned: dict[int, bool] = {}
    named = var in fn.named_results
    error_only = bool(rule.options.get("error-paths-only")) and not from_entry
    success_only = bool(rule.options.get("success-paths-only")) and not from_entry
    returns_error = success_only and returns_error_last(fn.node)
    outcome = _Outcome()

    before = None if from_entry else site.statement
    if site.release and _deferred_at_top(fn, graph.of_kind(Kind.DEFER), uses, site.statement):
        # `mu.Lock(); defer mu.Unlock()` at the top, then `mu.Unlock(); ...; mu.Lock()`
        # further down: the deferred call unlocks whatever is held when it returns.
        outcome.deferred = True
        return outcome
    if _deferred_closure_releases(graph.of_kind(Kind.DEFER), uses, before):
        # `defer func() { cancel() }()` reads the variable when the function returns,
        # so it releases whatever the variable holds then, this value included.
        outcome.deferred = True
        return outcome

    def effect(block: Block) -> Effect:
        if block.index not in effects:
            effects[block.index] = uses.effect(block.node) if block.node is not None else Effect()
        return effects[block.index]

    def assigns_err(block: Block) -> bool:
        if err is None or block.node is None:
            return False
        if block.index not in err_assigned:
            err_assigned[block.index] = _assigns(block.node, err)
        return err_assigned[block.index]

    def transfer(block: Block, state: int, record: bool) -> int:
        if block is start:
            if record and state & LIVE:
                outcome.reassigned.append(site.statement)
            return OPEN
        if block in reacquire and state & LIVE:
            if record:
                outcome.reassigned.append(block.node or site.statement)
            return _settled(state)
        if not state & LIVE:
            return state
        kind = block.kind
        if kind == Kind.NORETURN:
            return 0
        asserted = _asserted(fn, block, var, err, rule) if kind == Kind.STMT else None
        if asserted == "exhausted" or (asserted == "error" and state & OPEN):
            return (state & ~(LIVE if asserted == "exhausted" else OPEN)) | DONE
        eff = effect(block)
        if eff.lent is not None and record:
            outcome.lent.append(eff.lent)
            if eff.wraps:
                outcome.lent_why[eff.lent.id] = "a wrapper with no way to release it"
                # A wrapper kept past the call uses the resource later: no deferred fix.
                outcome.wrapped = outcome.wrapped or _kept_past(eff.lent, fn)
        if eff.unless is not None and eff.call is not None:
            return conditional(block, eff, state, record)
        if state & (IF_OK | IF_FAILED) and kind != Kind.RETURN and assigns_outcome(block):
            state = judged(state, failed=False, succeeded=False)  # the error is lost
        if kind == Kind.RETURN and eff.use == Use.RELEASE:
            if record:
                outcome.released = True  # `return f.Close()`, `return drain(resp)`
            return _settled(state)
        if kind == Kind.RETURN:
            returned = eff.use >= Use.STORED or (named and not return_values(block.node))
            if returned:
                if record:
                    outcome.handed_off = True
                    outcome.handed_to.append((line_of(block.node), eff.to or "returned"))
                    if eff.use == Use.STORED and eff.field:  # return &T{cancel: cancel}
                        outcome.stored_fields.add((eff.owner, eff.field))
            elif (
                record
                and (not error_only or _returns_error(block.node))
                and not (success_only and _fails(block.node, returns_error, fn))
                and open_at_return(block, state)
            ):
                leak(block, block.node, state)
            return _settled(state)
        if eff.use >= Use.STORED:
            if record:
                if eff.use == Use.RELEASE:
                    outcome.released = True
                if eff.use == Use.RELEASE and kind == Kind.DEFER:
                    outcome.deferred = True
                elif eff.use in (Use.HANDOFF, Use.STORED):
                    outcome.handed_off = True
                    where = block.node if block.node is not None else site.statement
                    outcome.handed_to.append((line_of(where), eff.to or "handed off"))
                if eff.use == Use.STORED and eff.field:
                    outcome.stored_fields.add((eff.owner, eff.field))
                    if block.node is not None:
                        outcome.stores.append((block.node, eff.owner, eff.field))
            return _settled(state)
        if eff.use == Use.ASSIGNED:
            if record:
                outcome.overwritten = True
            return _settled(state)

        if state & OPEN and assigns_err(block):
            return (state & ~OPEN) | LOOSE
        return state

    # The error variables of calls that release the resource only on success (or only
    # on failure), with those calls: a check of one settles the resource either way.
    outcomes: dict[str, list[Node]] = {}

    def conditional(block: Block, eff: Effect, state: int, record: bool) -> int:
        assert eff.call is not None
        if record:
            outcome.released = True
            outcome.lent_why[eff.call.id] = (
                "which releases it only on success"
                if eff.unless == ON_SUCCESS
                else "which releases it only on failure"
            )
        if block.kind == Kind.RETURN:
            # `return decode(resp)`: on one of the call's outcomes it is still open.
            if record and not error_only:
                leak(block, block.node, state, (eff.call,))
            return _settled(state)
        if eff.err is None:
            # The outcome is never looked at: taken as the usual one, success.
            return _settled(state) if eff.unless == ON_SUCCESS else state
        outcomes.setdefault(eff.err, [])
        if eff.call not in outcomes[eff.err]:
            outcomes[eff.err].append(eff.call)
        held = IF_OK if eff.unless == ON_SUCCESS else IF_FAILED
        return (state & ~(LIVE | REOPENED)) | held

    def assigns_outcome(block: Block) -> bool:
        return block.node is not None and any(_assigns(block.node, name) for name in outcomes)

    def judged(state: int, failed: bool, succeeded: bool) -> int:
        """The state once the outcome of the conditional call is known: `failed`,
        `succeeded`, or neither (its error overwritten: taken as a success)."""
        out = state & ~(IF_OK | IF_FAILED)
        if state & IF_OK:
            out |= LOOSE | REOPENED if failed else DONE
        if state & IF_FAILED:
            out |= DONE if failed else LOOSE | REOPENED
        return out

    def open_at_return(block: Block, state: int) -> bool:
        """Open at this return: plainly, or released only on a failure the function
        has not seen, or only on a success when it returns that call's error."""
        if state & (OPEN | LOOSE | IF_FAILED):
            return True
        return bool(state & IF_OK) and any(
            n.type == "identifier" and text(n) in outcomes
            for value in return_values(block.node)
            if value.type != "func_literal"  # a returned literal's body is its own
            for n in walk(value)
        )

    def leak(block: Block | None, node: Node, state: int, calls: tuple[Node, ...] = ()) -> None:
        outcome.leaks.append((block, node))
        if not calls and state & (REOPENED | IF_OK | IF_FAILED):
            calls = tuple(c for found in outcomes.values() for c in found)
        outcome.lent.extend(c for c in calls if c not in outcome.lent)

    nil_names = {var, f"{var}.{rule.release.via}"} if rule.release.via else {var}

    def resource_nil(name: str, is_nil: bool) -> bool:
        return is_nil and name in nil_names

    def settled(name: str, is_nil: bool) -> bool:
        return resource_nil(name, is_nil) or (not is_nil and name == err)

    flags: dict[str, tuple[bool, bool]] = {}

    def flag(name: str) -> tuple[bool, bool]:
        """Nothing held where a bool local the code branches on is (true, false): the
        loop `for !done` whose only `done = true` is in the timer's own case; `if
        didOpen { defer f.Close() }` (flag_facts)."""
        if name not in flags:
            flags[name] = flag_facts(fn, name, uses, site.statement)
        return flags[name]

    def along(block: Block, edge: Edge, state: int, record: bool) -> int:
        edge_cond, value = edge.cond, edge.value
        if not state & LIVE:
            return state
        if (
            rule.release.endless
            and block.kind == Kind.LOOP
            and not value
            and _ranges_over(block.node, var, rule.release.endless)
        ):
            return 0  # `for range t.C` leaves only by a return inside it
        if edge_cond is None:
            return state
        if constant_condition(edge_cond) is not None and constant_condition(edge_cond) != value:
            return 0  # `if false { ... }`: never taken
        if site.guards and any(guard_fails(edge_cond, value, g) for g in site.guards):
            return _settled(state)  # `if x { mu.Lock() }` ... where x is false: not taken
        if state & (IF_OK | IF_FAILED) and outcomes:
            failed = nilness.established(edge_cond, value, lambda n, nil: not nil and n in outcomes)
            succeeded = nilness.established(edge_cond, value, lambda n, nil: nil and n in outcomes)
            if failed or succeeded:
                state = judged(state, failed, succeeded)
                if not state & LIVE:
                    return state
        named = bool_test(edge_cond, value)
        if named is not None and flag(named[0])[0 if named[1] else 1]:
            return _settled(state)
        if nilness.established(edge_cond, value, resource_nil):
            return _settled(state)
        if rule.release.exhausts and _exhausted(edge_cond, value, var, rule.release.exhausts):
            if record:
                outcome.exhausted = True
            return _settled(state)
        # While the call's error still describes the resource, a non-nil error (alone,
        # or in a disjunction with a nil resource) means nothing is open.
        if err is not None and state & OPEN and nilness.established(edge_cond, value, settled):
            if record:
                outcome.error_checked = True
            return (state & ~OPEN) | DONE
        return state

    # Fixpoint over state masks (they only grow), then one recording pass. It starts at
    # the acquisition: before it nothing is open, and a state that is not open passes
    # every block unchanged and records nothing (an acquisition no path reaches owes
    # nothing at all).
    if start is None or start.index not in graph.reachable():
        return outcome
    state_in: dict[int, int] = {start.index: UNSEEN}
    work = [start]
    while work:
        block = work.pop()
        fn.spend()
        out = transfer(block, state_in.get(block.index, 0), record=False)
        for edge in block.succs:
            flowed = along(block, edge, out, record=False)
            old = state_in.get(edge.target.index, 0)
            if flowed | old != old:
                state_in[edge.target.index] = flowed | old
                work.append(edge.target)
    for block in graph.blocks:
        if block.index not in state_in or block is graph.exit:
            continue
        out = transfer(block, state_in[block.index], record=True)
        for edge in block.succs:
            flowed = along(block, edge, out, record=True)
            if (
                edge.target is graph.exit
                and flowed & (LIVE & ~IF_OK)  # released unless it failed: taken as success
                and block.kind != Kind.RETURN
                and not error_only
            ):
                leak(None, fn.node, flowed)
    return outcome


def guard_fails(cond: Node, value: bool, guard: tuple[str, bool]) -> bool:
    """On the edge where `cond` is `value`, is the acquisition's guard (a plain
    condition it was taken under, with its value then) not what it was? A guard taken
    true that is a conjunction (`exists && tl != ldr`) held each of its parts, and one
    taken false that is a disjunction held none: either fails with one of its parts."""
    base, holds = unnegated(cond, value)
    if base is None:
        return False
    said, taken_when = guard
    seen = " ".join(text(base).split())
    if seen == said:
        return holds != taken_when
    parts = _top_level(said, " && " if taken_when else " || ")
    return len(parts) > 1 and seen in parts and holds != taken_when


def _top_level(said: str, operator: str) -> list[str]:
    """`said` split at `operator` outside parentheses and brackets."""
    parts: list[str] = []
    depth, start, at = 0, 0, 0
    while at < len(said):
        c = said[at]
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif depth == 0 and said.startswith(operator, at):
            parts.append(said[start:at].strip())
            at += len(operator)
            start = at
            continue
        at += 1
    parts.append(said[start:].strip())
    return parts


def constant_condition(cond: Node | None) -> bool | None:
    """True or False for a condition that is that literal, else None."""
    cond = unparen(cond)
    if cond is not None and cond.type in ("true", "false"):
        return cond.type == "true"
    return None


def _settled(state: int) -> int:
    """Nothing open any more on the paths this state describes."""
    return (state & ~(LIVE | REOPENED)) | DONE


def _conclude(
    pkg: Package, fn: Function, rule: Rule, site: Site, outcome: _Outcome, sink: Sink
) -> None:
    var = site.var or "_"
    if site.unlock is not None:
        var = site.unlock[0]  # another package's lock helper: its holder is what one unlocks
    if site.partner and outcome.leaks:
        # Before its other end has gone anywhere, nobody can wait on it: an exit there
        # leaves two unused ends (garbage), not a blocked reader.
        used = _first_use(fn, site.partner, site.statement)
        outcome.leaks = [
            (block, node)
            for block, node in outcome.leaks
            if used is not None and node.end_byte > used  # (a return mentioning it counts)
        ]
        if not outcome.leaks and not outcome.reassigned:
            _record(sink, rule, fn, site, "released", outcome)
            return
    call = site.callee.text
    if outcome.reassigned and "reassigned" in rule.reports:
        where = min(outcome.reassigned, key=lambda n: n.start_byte)
        related = (Related(location(fn.file, where, first_line_only=True), "re-acquired here"),)
        sink.report(
            rule,
            "reassigned",
            fn.file,
            site.call,
            fn.name,
            related,
            var=var,
            call=call,
            line=line_of(where),
        )
        _record(sink, rule, fn, site, "leaked", outcome)
        return
    if (
        outcome.leaks
        and rule.options.get("helpers-hold")
        and _holds_for_caller(pkg, fn, rule, site, outcome)
    ):
        # It never releases what it takes, or only where it fails: it returns holding it
        # on purpose (a lock helper, `Begin` of a pair whose `Commit` unlocks), and its
        # callers owe the release.
        held = _Outcome(handed_to=[(line_of(site.call), f"held on return by {fn.name}")])
        _record(sink, rule, fn, site, "handed-off", held)
        return
    if outcome.leaks:
        blanks = _blank_uses(fn, site) if site.var else None
        if blanks is not None:
            # `_ = cancel` is a discard, not a use: report it as one (lostcancel misses it),
            # under the rule that owns discards.
            if "discarded" in rule.reports:
                sink.report(rule, "discarded", fn.file, site.call, fn.name, var=var, call=call)
                if rule.fix and rule.release.call:
                    _fix_discard(sink, fn, site, None, var, blanks)
            _record(sink, rule, fn, site, "discarded", outcome)
            return
        block, node = min(outcome.leaks, key=lambda leak: _exit_line(leak))
        line = _exit_line((block, node))
        if block is None:
            exit_desc = f"the end of the function at line {line}"
            rel_node = _closing_brace(node)
        else:
            exit_desc = f"the return at line {line}"
            rel_node = node
        related = (Related(location(fn.file, rel_node, first_line_only=True), f"{var} leaks here"),)
        at = site.call
        if rule.options.get("report-at-exit"):
            # The exit is the place to fix (a lock left held): point there, and to the
            # acquisition beside it.
            at = rel_node
            taken = location(fn.file, site.call, first_line_only=True)
            related = (Related(taken, f"{var} {rule.options.get('acquired-as', 'acquired')} here"),)
        suffix = ""
        if outcome.lent:
            # It went into a call, which only read it: say so, where a reader would
            # otherwise assume the callee took care of it.
            lent = min(outcome.lent, key=lambda n: n.start_byte)
            callee = " ".join(text(child(lent, "function")).split())
            why = outcome.lent_why.get(lent.id, "which does not release it")
            said = f"passed to {callee}() at line {line_of(lent)}, {why}"
            related += (Related(location(fn.file, lent, first_line_only=True), said),)
            suffix = f" ({said})"
        if "not-released" in rule.reports:
            release = (site.release or rule.release.methods or ("",))[0]
            if site.unlock is not None:
                release = site.unlock[1]
            kind, severity, reader = "not-released", None, None
            if site.partner and "partner-goroutine" in rule.reports:
                reader = _launched_with(fn, site.partner)
            related += _owner_started(rule)
            if reader is not None:
                # The other end is read by a goroutine: the leak is that goroutine,
                # blocked forever.
                kind = "partner-goroutine"
                level = rule.options.get("partner-goroutine-severity")
                severity = Severity(str(level)) if level else None
                said = f"the goroutine reading {site.partner} waits forever"
                related += (Related(location(fn.file, reader, first_line_only=True), said),)
            _report_unreleased(
                sink,
                rule,
                fn,
                site,
                at,
                related,
                var=var,
                exit=exit_desc,
                line=line,
                release=release,
                advice=(
                    f"keep {var} beside the wrapper that outlives this call, where it can be closed"
                    if outcome.wrapped
                    else _advice(fn, rule, site, var, release, outcome)
                ),
                kind=kind,
                severity=severity,
                partner=site.partner or "",
                reader=reader,
            )
            if suffix:
                finding = sink.findings[-1]
                sink.findings[-1] = replace(finding, message=finding.message + suffix)
            beside = bool(rule.options.get("fix-beside-release"))
            if rule.fix and _plainly_unreleased(site, outcome, beside):
                edits, title = defer_edit(
                    fn.file.content,
                    site.statement,
                    var,
                    site.err,
                    rule.fix,
                    (site.release or rule.release.methods or ("",))[0],
                    fn.is_noreturn,
                    site.release_args,
                )
                if edits:
                    sink.findings[-1] = replace(sink.findings[-1], fix=edits, fix_title=title)
            elif rule.fix_on_exit and site.binding == "var" and not outcome.reassigned:
                exits = [n for b, n in outcome.leaks if b is not None]
                edits, title = exit_edits(
                    fn.file.content,
                    exits if len(exits) == len(outcome.leaks) else [],
                    var,
                    rule.fix_on_exit,
                    (site.release or rule.release.methods or ("",))[0],
                )
                if edits:
                    sink.findings[-1] = replace(sink.findings[-1], fix=edits, fix_title=title)
        _record(sink, rule, fn, site, "leaked", outcome)
        return
    unreleased_fields = [
        f
        for owner, f in sorted(outcome.stored_fields, key=str)
        # A struct of another package (`loops.ConnAdd{Cancel: cancel}`) is used there:
        # this package cannot tell whether it calls the field. An embedded field
        # (`&timeoutConn{Conn: conn}`) is released by the holder's promoted Close.
        if not _foreign(owner)
        and not _embedded_field(fn, owner, f)
        and not _field_released(pkg, rule, (owner, f))
    ]
    body = child(fn.node, "body")
    if (
        rule.options.get("field-store-needs-release")
        and unreleased_fields
        and not (site.var and body is not None and _used_elsewhere(fn, rule, site.var, body))
        and "field-never-released" in rule.reports
    ):
        sink.report(
            rule,
            "field-never-released",
            fn.file,
            site.call,
            fn.name,
            var=var,
            call=call,
            field=unreleased_fields[0],
        )
        _record(sink, rule, fn, site, "leaked", outcome)
        return
    if outcome.deferred:
        _record(sink, rule, fn, site, "deferred", outcome)
    elif outcome.handed_off:
        _record(sink, rule, fn, site, "handed-off", outcome)
    else:
        _record(sink, rule, fn, site, "released", outcome)


def _report_unreleased(
    sink: Sink,
    rule: Rule,
    fn: Function,
    site: Site,
    at: Node,
    related: tuple[Related, ...],
    *,
    var: str,
    exit: str,
    line: int,
    release: str,
    advice: str,
    kind: str = "not-released",
    severity: Severity | None = None,
    partner: str = "",
    reader: Node | None = None,
) -> None:
    """A leak of `site`'s resource through `exit`, with every field a `not-released`
    (or `partner-goroutine`) message may spell."""
    sink.report(
        rule,
        kind,
        fn.file,
        at,
        fn.name,
        related,
        severity=severity,
        var=var,
        call=site.callee.text,
        exit=exit,
        line=line,
        acquired=line_of(site.call),
        release=release,
        advice=advice,
        partner=partner,
        reader_line=line_of(reader) if reader is not None else 0,
    )


def _plainly_unreleased(site: Site, outcome: _Outcome, beside_release: bool) -> bool:
    """No path releases (unless a second release is harmless: `beside_release`), hands
    off, returns, re-acquires or overwrites it: a deferred release is the whole fix."""
    return (
        site.binding == "var"
        and site.launcher is None
        and not (
            ((outcome.released or outcome.exhausted) and not beside_release)
            or outcome.deferred
            or outcome.handed_off
            or outcome.reassigned
            or outcome.overwritten
            or outcome.wrapped
        )
    )


def _kept_past(call: Node, fn: Function) -> bool:
    """Can the wrapper a call builds outlive the function: anything but a method called
    on it at once (`pb.NewHealthClient(conn).Check(ctx, req)`) or a local that is never
    returned nor captured by a func literal?"""
    parent = call.parent
    if (
        parent is not None
        and parent.type == "selector_expression"
        and child(parent, "operand") == call
    ):
        return parent.parent is None or parent.parent.type != "call_expression"
    if parent is None or parent.type != "expression_list":
        return True
    holder = parent.parent
    if holder is None or holder.type not in ("short_var_declaration", "assignment_statement"):
        return True
    right = expressions(child(holder, "right"))
    left = expressions(child(holder, "left"))
    if call not in right or len(left) != len(right):
        return True
    target = left[right.index(call)]
    if target.type != "identifier" or not fn.scope.binds_locally(text(target)):
        return True  # stored in a field, a collection or a package variable
    name = text(target)
    body = child(fn.node, "body")
    for node in walk(body, into_funcs=True) if body is not None else ():
        if node.type == "identifier" and text(node) == name:
            outer = node.parent
            while outer is not None and outer.type not in ("return_statement", "func_literal"):
                outer = outer.parent
            if outer is not None:
                return True
    return False


def _record(
    sink: Sink, rule: Rule, fn: Function, site: Site, outcome: str, facts: _Outcome | None = None
) -> None:
    sink.acquisitions.append(
        Acquisition(
            rule_id=rule.id,
            family=rule.family,
            location=location(fn.file, site.call, first_line_only=True),
            call=site.callee.text,
            variable=site.var or "_",
            outcome=outcome,
            error_checked=bool(facts and facts.error_checked),
            handed_to=_handed_to(facts) if outcome == "handed-off" else "",
        )
    )


def _handed_to(facts: _Outcome | None) -> str:
    """Where a handed-off resource went, first place first: "returned at line 40"."""
    if facts is None or not facts.handed_to:
        return ""
    line, where = min(facts.handed_to)
    return f"{where} at line {line}"


def _escaped_to(call: Node) -> str:
    """Where the result of a call used as a value goes: `return f()`, `g(f())`."""
    node = call
    parent = node.parent
    while parent is not None and parent.type in ("parenthesized_expression", "expression_list"):
        node, parent = parent, parent.parent
    if parent is None:
        return "used as a value"
    if parent.type == "return_statement":
        return "returned"
    if parent.type == "argument_list" and parent.parent is not None:
        callee = " ".join(text(child(parent.parent, "function")).split())
        return f"passed to {callee}()"
    if parent.type == "literal_element":
        keyed = parent.parent
        if keyed is not None and keyed.type == "keyed_element" and child(keyed, "value") == parent:
            return f"stored in field {text(child(keyed, 'key')).strip()}"
        return "put in a composite literal"
    if parent.type == "send_statement":
        return "sent on a channel"
    return "used as a value"


def block_at(fn: Function, stmt: Node) -> Block | None:
    """`CFG.block_of` in constant time for the usual case: a block for exactly the statement
    (the innermost one there can be; the first of equals, as `CFG.block_of` picks)."""

    def exact() -> dict[tuple[int, int], Block]:
        out: dict[tuple[int, int], Block] = {}
        for block in fn.cfg.blocks:
            if block.node is not None:
                out.setdefault((block.node.start_byte, block.node.end_byte), block)
        return out

    by_range: dict[tuple[int, int], Block] = fn.memo("blocks-by-range", exact)  # type: ignore[assignment]
    found = by_range.get((stmt.start_byte, stmt.end_byte))
    return found if found is not None else fn.cfg.block_of(stmt)


# Test assertions that establish a fact for the rest of the test (testify). A failing
# `require` ends the test; a failing `assert` marks it failed: either way the path on
# which the fact is false is not one where a leak matters.
_TESTIFY = ("github.com/stretchr/testify/require", "github.com/stretchr/testify/assert")
_ASSERT_FALSE = frozenset({"False", "Falsef"})
_ASSERT_ERROR = frozenset({"Error", "Errorf", "ErrorIs", "ErrorAs", "ErrorContains", "EqualError"})


def _asserted(fn: Function, block: Block, var: str, err: str | None, rule: Rule) -> str | None:
    """ "exhausted" for `require.False(t, v.Next())`, "error" for `require.Error(t, err)`
    on the acquiring call's error; None otherwise."""
    node = block.node
    if node is None or node.type != "expression_statement" or not node.named_children:
        return None
    call = unparen(node.named_children[0])
    if call is None or call.type != "call_expression":
        return None
    name = text(child(unparen(child(call, "function")), "field"))
    if name not in _ASSERT_FALSE and name not in _ASSERT_ERROR:
        return None
    callee = fn.types.callee(call, fn.scope)
    if callee is None or callee.package not in _TESTIFY:
        return None
    args = [a for a in (child(call, "arguments") or call).named_children if a.type != "comment"]
    if len(args) < 2:
        return None
    subject = unparen(args[1])
    if name in _ASSERT_ERROR:
        return "error" if err is not None and text(subject) == err else None
    if rule.release.exhausts and _exhausted(subject, False, var, rule.release.exhausts):
        return "exhausted"
    return None


def _used_elsewhere(fn: Function, rule: Rule, var: str, body: Node) -> bool:
    """Stored in a field *and* released through the variable (say by a goroutine), or
    also handed somewhere else (`d.c = c; return c, err`), where it may be released."""
    uses = UseClassifier(var, rule.release, fn.types, fn.scope, fn.spend)
    return uses.releases(body) or uses.escapes(body)


def _exhausted(cond: Node, value: bool, var: str, methods: tuple[str, ...]) -> bool:
    """The edge where `var.Next()` (or `!var.Next()`) says the iteration is over."""
    call, value = unnegated(cond, value)
    if value or call is None or call.type != "call_expression":
        return False
    fn = unparen(child(call, "function"))
    if fn is None or fn.type != "selector_expression":
        return False
    operand = unparen(child(fn, "operand"))
    return (
        operand is not None
        and operand.type == "identifier"
        and text(operand) == var
        and text(child(fn, "field")) in methods
    )


def _deferred_at_top(fn: Function, defers: list[Block], uses: UseClassifier, site: Node) -> bool:
    """A receiver acquisition (a lock) after a release deferred in the function body's
    own statement list: that defer runs on every path from there, and the receiver it
    was given is the same lock."""
    body = child(fn.node, "body")
    for block in defers:
        node = block.node
        if node is None or node.start_byte >= site.start_byte:
            continue
        holder = node.parent
        if holder is not None and holder.type == "statement_list":
            holder = holder.parent
        if holder == body and uses.effect(node).use == Use.RELEASE:
            return True
    return False


def _deferred_closure_releases(
    defers: list[Block], uses: UseClassifier, before: Node | None
) -> bool:
    """A deferred closure releasing the variable, deferred before `before` (None: any)."""
    for block in defers:
        node = block.node
        if node is None or (before is not None and node.start_byte >= before.start_byte):
            continue
        call = node.named_children[0] if node.named_children else None
        fn = unparen(child(call, "function")) if call is not None else None
        if fn is not None and fn.type == "func_literal" and uses.releases(fn):
            return True
    return False


def _assigns(node: Node, name: str) -> bool:
    if name.encode() not in (node.text or b""):
        return False  # most statements never mention the error variable
    for n in walk(node):
        if n.type in ("short_var_declaration", "assignment_statement") and any(
            t.type == "identifier" and text(t) == name for t in expressions(child(n, "left"))
        ):
            return True
    return False


def _returns_error(ret: Node | None) -> bool:
    """A return whose last value is not a literal nil (a naked return: unknown, so yes)."""
    values = return_values(ret)
    if not values:
        return True
    return values[-1].type != "nil"


# Calls whose result is surely a non-nil error (`errors.New`, `errors.Wrap`, and names
# ending in Error or Errorf); any other call a return returns may give nil.
_ERROR_MAKERS = frozenset({"New", "Join", "Wrap", "Wrapf", "WithMessage", "WithMessagef"})


def _fails(ret: Node | None, returns_error: bool, fn: Function) -> bool:
    """A return on a path that surely failed: one that owes nothing to a rule whose
    resource matters only on success (a writer left unfinished when the write failed).
    In a function returning an error, one that surely returns a non-nil error; in one
    that does not (an HTTP handler), one under `if err != nil`."""
    if ret is None:
        return False
    if not returns_error:
        return checked_non_nil(ret, is_error_name)
    if error_returned(ret, fn.types.symbols.vars) != "error":
        return False
    last = unparen(return_values(ret)[-1])
    if last is None or last.type != "call_expression":
        return True
    name = callee_name(last)
    return name in _ERROR_MAKERS or name.endswith(("Error", "Errorf")) or name.startswith("Err")


def _exit_line(leak: tuple[Block | None, Node]) -> int:
    block, node = leak
    if block is None:
        return node.end_point[0] + 1
    return line_of(node)


def _closing_brace(func: Node) -> Node:
    body = child(func, "body")
    if body is not None and body.children:
        return body.children[-1]
    return func


def _launched_with(fn: Function, name: str) -> Node | None:
    """The first `go` statement of the function that uses `name` (passes it, or a
    literal that reads it)."""
    body = child(fn.node, "body")
    for node in walk(body, into_funcs=True) if body is not None else ():
        if node.type != "go_statement":
            continue
        if any(n.type == "identifier" and text(n) == name for n in walk(node, into_funcs=True)):
            return node
    return None


def _advice(fn: Function, rule: Rule, site: Site, var: str, release: str, outcome: _Outcome) -> str:
    """The message's `{advice}`: the rule's deferred release, said right for the site;
    where another path hands the resource on (returns it, stores it), a `defer` would
    release it there too, so: release it where it leaks."""
    template = rule.fix or f"defer {{var}}.{release}()"
    statement = template.removeprefix("defer ").format(var=var, release=release)
    statement = with_args(statement, site.release_args)
    if outcome.handed_off and outcome.handed_to and rule.fix.startswith("defer "):
        return f"call `{statement}` there (not deferred: it is {_handed_to(outcome)})"
    return advice(site.statement, fn.node, site.err, statement, fn.is_noreturn)


def _fix_discard(
    sink: Sink, fn: Function, site: Site, blank: Node | None, var: str | None, uses: list[Node]
) -> None:
    """Attach the discarded-cancel fix (fix/cancel.py) to the finding just reported."""
    edits, title = discard_edits(fn.file.content, fn.node, site.statement, blank, var, uses)
    if edits:
        sink.findings[-1] = replace(sink.findings[-1], fix=edits, fix_title=title)


def _blank_of(statement: Node) -> Node | None:
    """The one `_` on the left of `ctx, _ := ...`."""
    left = child(statement, "left")
    blanks = [n for n in (left.named_children if left else ()) if text(n) == "_"]
    return blanks[0] if len(blanks) == 1 else None


def _blank_uses(fn: Function, site: Site) -> list[Node] | None:
    """When every use of the variable past its acquisition is `_ = var`: those
    statements (none, if one is not a plain assignment: then no fix places them); None
    when it has another use."""
    if site.var is not None and "." in site.var:
        return None  # a held field (`s.mu`) is not a variable one can discard
    uses = UseClassifier(site.var or "", ReleaseSpec(), fn.types, fn.scope, fn.spend)
    body = child(fn.node, "body")
    statements: list[Node] = []
    plain = True
    for occ in walk(body, into_funcs=True) if body is not None else ():
        if occ.type != "identifier" or text(occ) != site.var:
            continue
        if site.statement.start_byte <= occ.start_byte < site.statement.end_byte:
            continue
        if uses._occurrence(occ).use != Use.BLANK:
            return None
        stmt = occ.parent.parent if occ.parent is not None else None
        if stmt is None or stmt.type != "assignment_statement":
            plain = False
        else:
            statements.append(stmt)
    return statements if plain else []


def _foreign(owner: str | None) -> bool:
    """Is `owner` a struct type declared in another package ("path.Type")?"""
    return owner is not None and not owner.lstrip("*").startswith(".") and "." in owner


def _embedded_field(fn: Function, owner: str | None, name: str) -> bool:
    """Is `name` an embedded field of the struct `owner` (its methods are the holder's)?"""
    decl = fn.types.symbols.local(owner.lstrip("*")) if owner is not None else None
    return decl is not None and name in decl.fields and decl.fields[name] in decl.embedded


def _field_released(pkg: Package, rule: Rule, stored: tuple[str | None, str]) -> bool:
    """Does any function of the package release (or pass on) the stored field? Matched on
    the declaring struct when both sides know it, else on the field name alone."""
    owner, name = stored
    released: set[tuple[str | None, str]] = pkg.memo(
        ("released-fields", rule.id, name), lambda: _released_fields(pkg, rule, name)
    )
    if owner is None:
        return bool(released)
    return (owner, name) in released or (None, name) in released


def _released_fields(pkg: Package, rule: Rule, name: str) -> set[tuple[str | None, str]]:
    """(owner, name) for each release or hand-off of a field `name` in the package: only
    the selectors naming that field are visited (found from the word), not every node."""
    out: set[tuple[str | None, str]] = set()
    methods = set(rule.release.methods)
    for source in pkg.files:
        for sel in queries.selectors_naming(source.root, source.content, name):
            fn = pkg.function_of(sel, source)
            if fn is None:
                continue
            parent = sel.parent
            if parent is None:
                continue
            if parent.type == "call_expression" and child(parent, "function") == sel:
                if rule.release.call:
                    out.add(_owned(fn, sel))  # x.cancel()
            elif parent.type in ("argument_list", "return_statement", "literal_element") or (
                parent.type == "expression_list"
                and parent.parent is not None
                and child(parent.parent, "left") != parent
            ):
                # x.cancel passed on, returned, copied out or put in a composite literal
                # (`&dns.Server{PacketConn: r.conn}`: the server closes it)
                out.add(_owned(fn, sel))
            elif (
                not rule.release.call
                and parent.type == "selector_expression"
                and child(parent, "operand") == sel
                and text(child(parent, "field")) in methods
                and parent.parent is not None
                and parent.parent.type == "call_expression"
                and child(parent.parent, "function") == parent
            ):
                out.add(_owned(fn, sel))  # x.ticker.Stop()
    return out


def _owned(fn: Function, selector: Node) -> tuple[str | None, str]:
    name = text(child(selector, "field"))
    owner = fn.types.type_of(child(selector, "operand"), fn.scope)
    return fn.types.symbols.field_owner(owner, name), name
