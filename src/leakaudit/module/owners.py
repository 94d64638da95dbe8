"""Values that own a resource: a struct whose constructor stores a freshly acquired
resource (a cancel func, a ticker) in one of its fields, and one of whose methods
releases that field (`Stop` calls the stored cancel). The constructor's callers take
the obligation over: they must call that method on every path, or hand the value on,
as they would the resource itself. A rule opts in by reporting `owner-not-released`.

Found per package (the type, its releasing methods and its constructors all live in
the package that declares the type) and exported in its summary, so callers anywhere
in the module are checked.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace

from tree_sitter import Node

from leakaudit.checks.api import Function, Package, callee_name
from leakaudit.module.summary import Owner
from leakaudit.parsing.syntax import calls_bare, expressions, method_receiver, text, unparen, walk
from leakaudit.parsing.syntax import field as child
from leakaudit.ruleset.model import (
    OWNER_DISCARDED,
    OWNER_VIOLATION,
    AcquireSpec,
    ReleaseSpec,
    Rule,
)

VIOLATION = OWNER_VIOLATION


def owners(pkg: Package) -> dict[str, Owner]:
    """The package's own owner types, by local type name (".Worker")."""
    return pkg.memo("owners", lambda: _find(pkg))  # type: ignore[no-any-return]


def _find(pkg: Package) -> dict[str, Owner]:
    out: dict[str, Owner] = {}
    for rule in pkg.owner_rules:
        if rule.options.get("owners") == GOROUTINE:
            out.update(_goroutine_owners(pkg, rule))
    out.update(_resource_owners(pkg))  # a type owning both: its resource is the surer
    return out


def _resource_owners(pkg: Package) -> dict[str, Owner]:
    rules = {r.id: r for r in pkg.resource_rules.values() if VIOLATION in r.reports}
    if not rules:
        return {}
    cancel_rule = next((r for r in rules.values() if r.release.call), None)
    # A struct's field list is typed on first use; read only those that spell one of
    # the resource types (or a `cancel` func field) somewhere in it.
    words = {t.rsplit(".", 1)[-1].encode() for t, r in pkg.resource_rules.items() if r.id in rules}
    words.add(b"ancel")
    out: dict[str, Owner] = {}
    for tname, decl in pkg.symbols.types.items():
        if decl.kind != "struct" or decl.body is None:
            continue
        data = decl.body.text or b""
        if not any(word in data for word in words):
            continue
        for fname, ftype in decl.fields.items():
            rule = pkg.resource_rules.get(ftype or "")
            if rule is None and ftype == "func" and "cancel" in fname.lower():
                rule = cancel_rule  # `cancel func()`: the usual spelling of a CancelFunc
            if rule is None or rule.id not in rules:
                continue
            release = _releasing_methods(
                pkg, tname, fname, lambda body, r, f, rule=rule: _releases(body, r, f, rule)
            )
            if not release:
                continue
            constructors = _constructors(pkg, tname, fname, rule, release)
            if constructors:
                blocking = tuple(m for m in release if _may_wait(pkg, tname, m))
                out["." + tname] = Owner(
                    "." + tname, rule.id, fname, release, constructors, blocking
                )
                break
    return out


def _releasing_methods(
    pkg: Package, tname: str, fname: str, releases: Callable[[Node, str, str], bool]
) -> tuple[str, ...]:
    """Methods of `tname` that release the receiver's field `fname` (`releases(body,
    receiver, field)`: `r.cancel()`, `r.ticker.Stop()`, `close(r.quit)`)."""
    from leakaudit.module.effects import declaration

    bodies: dict[str, tuple[str, Node]] = {}
    for recv, name in pkg.symbols.methods:
        found = declaration(pkg, tname, name) if recv == tname else None
        body = child(found[0], "body") if found is not None else None
        receiver = method_receiver(found[0])[0] if found is not None else ""
        if receiver and body is not None:
            bodies[name] = (receiver, body)
    out = {n for n, (r, body) in bodies.items() if releases(body, r, fname)}
    # A method that calls a releasing method on its receiver releases too (Close
    # calls s.Orphan(), which cancels), found to a fixpoint.
    grew = bool(out)
    while grew:
        grew = False
        for name, (receiver, body) in bodies.items():
            if name not in out and _calls_method(body, receiver, out):
                out.add(name)
                grew = True
    return tuple(sorted(out))


def _may_wait(pkg: Package, tname: str, method: str) -> bool:
    """Can the method wait: a channel receive or send, a select without a default, or a
    `Wait` call, in its own body? (What it calls is not followed.)"""
    from leakaudit.module.effects import declaration

    found = declaration(pkg, tname, method)
    body = child(found[0], "body") if found is not None else None
    if body is None:
        return True
    for node in walk(body, into_funcs=False):
        if node.type == "send_statement":
            return True
        if node.type == "unary_expression" and text(child(node, "operator")) == "<-":
            return True
        if node.type == "select_statement" and not any(
            c.type == "default_case" for c in node.named_children
        ):
            return True
        if node.type == "call_expression" and callee_name(node) == "Wait":
            callee = unparen(child(node, "function"))
            if callee is not None and callee.type == "selector_expression":
                return True  # wg.Wait(), cond.Wait()
    return False


def _calls_method(body: Node, receiver: str, names: set[str]) -> bool:
    data = body.text or b""
    if not any(name.encode() in data for name in names):
        return False  # most methods name none of them: no walk
    for node in walk(body, into_funcs=True):
        if node.type != "call_expression":
            continue
        fn = unparen(child(node, "function"))
        if (
            fn is not None
            and fn.type == "selector_expression"
            and text(child(fn, "field")) in names
            and text(unparen(child(fn, "operand"))) == receiver
        ):
            return True
    return False


def _releases(body: Node, receiver: str, fname: str, rule: Rule) -> bool:
    if fname.encode() not in (body.text or b""):
        return False
    for node in walk(body, into_funcs=True):
        if node.type != "call_expression":
            continue
        fn = unparen(child(node, "function"))
        if fn is None or fn.type != "selector_expression":
            continue
        if rule.release.call and _is_field(fn, receiver, fname):
            return True  # r.cancel()
        operand = unparen(child(fn, "operand"))
        if (
            operand is not None
            and text(child(fn, "field")) in rule.release.methods
            and _is_field(operand, receiver, fname)
        ):
            return True  # r.ticker.Stop()
    return False


def _closes(body: Node, receiver: str, fname: str) -> bool:
    """`close(r.fname)` in the method's body."""
    return any(_is_field(c, receiver, fname) for c in _closed(body, fname))


def _closes_any(decl: Node, fname: str) -> bool:
    """`close(x.fname)` anywhere in `decl`, func literals included, whatever `x` is."""
    body = child(decl, "body")
    chans = frozenset({fname})
    return body is not None and any(_chan_field(c, chans) for c in _closed(body, fname))


def _closed(body: Node, fname: str) -> list[Node]:
    """What `close(...)` calls in `body` (func literals included) close, when the text
    names `fname` at all."""
    data = body.text or b""
    if b"close(" not in data or fname.encode() not in data:
        return []
    out = []
    for node in walk(body, into_funcs=True):
        if node.type == "call_expression" and calls_bare(node, "close"):
            args = child(node, "arguments")
            first = args.named_children[0] if args is not None and args.named_children else None
            if first is not None:
                out.append(unparen(first))
    return out


def _signals(body: Node, receiver: str, fname: str) -> bool:
    """`close(r.fname)` or a send `r.fname <- v` in the method's body."""
    if _closes(body, receiver, fname):
        return True
    if fname.encode() not in (body.text or b""):
        return False
    return any(
        node.type == "send_statement"
        and _is_field(unparen(child(node, "channel")), receiver, fname)
        for node in walk(body, into_funcs=True)
    )


# -- values whose constructor starts a goroutine waiting for their Close ------------------

GOROUTINE = "goroutine"  # the rule option `owners: goroutine`
_CLOSED = "closed"  # the goroutine waits until the field is closed (`for range w.jobs`)
_SIGNALLED = "signalled"  # ... or until a value comes or it is closed (`case <-w.quit: return`)


@dataclass
class _Start:
    """A constructor's `go` statement starting a goroutine on the value it returns."""

    constructor: str  # "New", "Pool.Worker"
    decl: Node
    where: tuple[str, int, int]  # the go statement: file, line, column
    waits: dict[str, str]  # channel field -> how the goroutine ends on it
    own: set[str]  # the type's methods the goroutine runs (none of them stops it)


def _goroutine_owners(pkg: Package, rule: Rule) -> dict[str, Owner]:
    """Structs with a channel field that only their methods close (or send a stop
    on), whose constructor starts a goroutine that runs until then: the value owns
    that goroutine, and those methods are what end it."""
    out: dict[str, Owner] = {}
    for tname, decl in sorted(pkg.symbols.types.items()):
        if decl.kind != "struct" or decl.body is None or b"chan" not in (decl.body.text or b""):
            continue
        chans = sorted(f for f, t in decl.fields.items() if t == "chan")
        starts = _starts(pkg, tname, frozenset(chans)) if chans else []
        for fname in chans:
            waiting = [s for s in starts if fname in s.waits]
            if not waiting:
                continue
            closed_only = all(s.waits[fname] == _CLOSED for s in waiting)
            own = set().union(*(s.own for s in waiting))
            found = _releasing_methods(pkg, tname, fname, _closes if closed_only else _signals)
            release = tuple(m for m in found if m not in own)
            if not release:
                continue
            # Not one that gives the stop to `t.Cleanup`, or closes the field itself
            # (in a cleanup func it returns: `return c, func() { close(c.quit) }`).
            ctors = sorted(
                (
                    s
                    for s in waiting
                    if not _cleans_up(s.decl, release) and not _closes_any(s.decl, fname)
                ),
                key=lambda s: s.constructor,
            )
            if not ctors:
                continue
            blocking = tuple(m for m in release if _may_wait(pkg, tname, m))
            out["." + tname] = Owner(
                "." + tname,
                rule.id,
                fname,
                release,
                tuple(dict.fromkeys(s.constructor for s in ctors)),
                blocking,
                ctors[0].where,
            )
            break
    return out


def _starts(pkg: Package, tname: str, chans: frozenset[str]) -> list[_Start]:
    """The `go` statements of `tname`'s constructors (functions and methods of the
    package returning it, outside tests) that start a method of it or a func literal,
    with the channel fields that goroutine waits on to end."""
    from leakaudit.module.effects import declaration

    wanted = frozenset({"." + tname})
    keys: list[tuple[str | None, str]] = [
        (None, name) for name, _ in pkg.symbols.funcs.returning(wanted)
    ]
    keys += [(recv, name) for (recv, name), _ in pkg.symbols.methods.returning(wanted)]
    out: list[_Start] = []
    for recv, name in keys:
        found = declaration(pkg, recv, name)
        if found is None or found[1].file.is_test:
            continue
        decl, fn = found
        body = child(decl, "body")
        if body is None or b"go " not in (body.text or b""):
            continue
        for node in walk(body, into_funcs=True):
            if node.type != "go_statement":
                continue
            launched = _launched_body(pkg, fn, node, tname)
            if launched is None:
                continue
            waits: dict[str, str] = {}
            own: set[str] = set(launched[2:])
            if _waits(pkg, tname, chans, launched[0], launched[1], 0, waits, own) and waits:
                row, col = node.start_point
                where = (fn.file.path, row + 1, col + 1)
                ctor = name if recv is None else f"{recv}.{name}"
                out.append(_Start(ctor, decl, where, waits, own))
                break
    return out


def _launched_body(
    pkg: Package, fn: Function, go: Node, tname: str
) -> tuple[Node, str] | tuple[Node, str, str] | None:
    """(the body the `go` statement runs, the name the value of `tname` goes by there
    [, the method]): a func literal's ("": it sees the constructor's names), or that of
    a method of `tname` started on a value of it (its receiver's name). What runs is
    what the goroutine checks resolve (launches.resolve)."""
    from leakaudit.checks.goroutines.launches import resolve

    call = next((c for c in go.named_children if c.type == "call_expression"), None)
    function = unparen(child(call, "function")) if call is not None else None
    if call is None or function is None:
        return None
    if function.type not in ("func_literal", "selector_expression"):
        return None  # (a literal bound to a name, or a function: not followed here)
    target, _ = resolve(pkg, fn, call)
    body = child(target.node, "body") if target is not None else None
    if target is None or body is None:
        return None
    if target.is_literal:
        return body, ""
    receiver, rtype = method_receiver(target.node)
    if target.node.type != "method_declaration" or rtype != tname or not receiver:
        return None
    return body, receiver, text(child(target.node, "name"))


def _waits(
    pkg: Package,
    tname: str,
    chans: frozenset[str],
    body: Node,
    receiver: str,
    depth: int,
    waits: dict[str, str],
    own: set[str],
) -> bool:
    """Collect into `waits` the channel fields the goroutine ends on, and into `own`
    the methods of `tname` it runs: itself, and the methods it calls on its receiver
    (on any value of the type, from a func literal: `receiver` ""), two levels down.
    False when it also waits on a context (`ctx.Done()`): the context can end it."""
    from leakaudit.module.effects import declaration

    data = body.text or b""
    if b".Done()" in data:
        return False
    if any(f.encode() in data for f in chans):
        for node in walk(body, into_funcs=False):
            ended = _ending_receive(node, chans)
            if ended is not None:
                field, how = ended
                if waits.get(field) != _SIGNALLED:
                    waits[field] = how
    if depth >= 2:
        return True
    for node in walk(body, into_funcs=False):
        if node.type != "call_expression":
            continue
        function = unparen(child(node, "function"))
        if function is None or function.type != "selector_expression":
            continue
        if receiver and text(unparen(child(function, "operand"))) != receiver:
            continue
        method = text(child(function, "field"))
        found = declaration(pkg, tname, method) if method not in own else None
        inner = child(found[0], "body") if found is not None else None
        name = method_receiver(found[0])[0] if found is not None else ""
        if inner is None or not name:
            continue
        own.add(method)
        if not _waits(pkg, tname, chans, inner, name, depth + 1, waits, own):
            return False
    return True


def _ending_receive(node: Node, chans: frozenset[str]) -> tuple[str, str] | None:
    """(field, how) when `node` is where the goroutine waits to end on a channel field:
    `for range x.f` (until closed); `<-x.f` as a statement, or as the case of a select
    in an endless `for` whose body leaves the loop (`return`, a labelled `break`,
    `goto`): until a value comes or it is closed."""
    if node.type == "for_statement":
        clause = next((c for c in node.named_children if c.type == "range_clause"), None)
        right = unparen(child(clause, "right")) if clause is not None else None
        field = _chan_field(right, chans)
        return (field, _CLOSED) if field is not None else None
    if node.type != "unary_expression" or text(child(node, "operator")) != "<-":
        return None
    field = _chan_field(unparen(child(node, "operand")), chans)
    if field is None:
        return None
    parent = node.parent
    case = parent
    while case is not None and case.type not in ("communication_case", "block", "func_literal"):
        case = case.parent
    if case is None or case.type != "communication_case":
        # A plain `<-w.quit` statement waits for it; a receive inside an expression
        # or an assignment is data, not a stop.
        plain = parent is not None and parent.type == "expression_statement"
        return (field, _SIGNALLED) if plain else None
    if not _leaves_loop(case):
        return None
    loop = case.parent
    while loop is not None and loop.type not in ("for_statement", "func_literal"):
        loop = loop.parent
    endless = (
        loop is not None
        and loop.type == "for_statement"
        and not any(c.type in ("range_clause", "for_clause") for c in loop.named_children)
        and child(loop, "condition") is None
    )
    return (field, _SIGNALLED) if endless else None


def _leaves_loop(case: Node) -> bool:
    """Does the select case's body return, `goto`, or break to a label?"""
    for node in walk(case, into_funcs=False):
        if node.type in ("return_statement", "goto_statement"):
            return True
        if node.type == "break_statement" and node.named_children:
            return True
    return False


def _chan_field(node: Node | None, chans: frozenset[str]) -> str | None:
    if node is None or node.type != "selector_expression":
        return None
    name = text(child(node, "field"))
    return name if name in chans else None


def _is_field(node: Node, receiver: str, fname: str) -> bool:
    return (
        node.type == "selector_expression"
        and text(child(node, "field")) == fname
        and text(unparen(child(node, "operand"))) == receiver
    )


def _constructors(
    pkg: Package, tname: str, fname: str, rule: Rule, release: tuple[str, ...]
) -> tuple[str, ...]:
    """Functions and methods of the package (its non-test files) returning `tname` that
    store a resource they acquired (and release nowhere else) in its field `fname`.
    Not one that gives a releasing method to `t.Cleanup` itself (a test helper in a
    non-test file, `t.Cleanup(srv.Stop); return srv`): its callers owe nothing."""
    from leakaudit.checks.obligation import stored_fields
    from leakaudit.module.effects import declaration

    wanted = frozenset({"." + tname})
    keys: list[tuple[str | None, str]] = [
        (None, name) for name, _ in pkg.symbols.funcs.returning(wanted)
    ]
    keys += [(recv, name) for (recv, name), _ in pkg.symbols.methods.returning(wanted)]
    out = []
    for recv, name in keys:
        results = pkg.symbols.funcs[name] if recv is None else pkg.symbols.methods[(recv, name)]
        if "." + tname not in results:
            continue
        found = declaration(pkg, recv, name)
        if found is None or (found[1].file.is_test and rule.release.call):
            # A test helper building one with a cancel func (from t.Context(), as a
            # rule) is no owner: the test's end cancels what it derived. One that dials
            # or opens (a test client holding its conn) is: nothing ends that for it.
            continue
        stored = stored_fields(pkg, found[1], rule)
        held = ("." + tname, fname) in stored or (None, fname) in stored
        # The stored value itself released in the cleanup (`t.Cleanup(func() {
        # cancel() })`, with `cancel: cancel` stored) counts as the method would.
        if (
            held
            and not _cleans_up(found[0], release, _stored_names(found[0], fname))
            and not _kept_by_maker(found[0])
            and not _holds_its_kind(pkg, recv, tname)
        ):
            out.append(name if recv is None else f"{recv}.{name}")
    return tuple(sorted(out))


def _holds_its_kind(pkg: Package, recv: str | None, tname: str) -> bool:
    """Is the constructor a method of another struct that has fields of the type it
    makes (`fileStore.newMsgBlockForWrite`, with `lmb *msgBlock` and `blks
    []*msgBlock`)? Such a factory registers what it makes; its callers get a reference."""
    if recv is None or recv == tname:
        return False
    decl = pkg.symbols.types.get(recv)
    if decl is None or decl.kind != "struct" or decl.body is None:
        return False
    return re.search(rb"\b" + re.escape(tname.encode()) + rb"\b", decl.body.text or b"") is not None


def _kept_by_maker(decl: Node) -> bool:
    """Does `decl` also keep what it returns: store the returned variable in a field,
    a map or slice, or append it somewhere (`fs.lmb = mb; fs.blks = append(fs.blks,
    mb); return mb, nil`)? Then the value is its receiver's (or the package's), and the
    caller gets a reference, not something to release. Read from its text."""
    body = child(decl, "body")
    if body is None:
        return False
    data = body.text or b""
    returned = {
        text(value)
        for node in walk(body, into_funcs=False)
        if node.type == "return_statement"
        for values in node.named_children
        for value in expressions(values)
        if value.type == "identifier"
    }
    for name in sorted(returned - {"err"}):
        var = re.escape(name.encode())
        if re.search(rb"(?:[\w\]\)]\s*\.\s*\w+|\])\s*=\s*" + var + rb"\s*(?:\n|;|$)", data, re.M):
            return True  # s.last = v, m[k] = v
        if re.search(rb"\bappend\([^\n]*\b" + var + rb"\b", data):
            return True
    return False


def _stored_names(decl: Node, fname: str) -> tuple[str, ...]:
    """The variables `decl` stores in the field `fname` (`cancel: cancel`, `w.stop =
    cancel`), read from its text."""
    body = child(decl, "body")
    data = (body.text or b"") if body is not None else b""
    field = re.escape(fname.encode())
    found = re.findall(rb"\b" + field + rb"\s*:\s*(\w+)\s*[,}\n]", data)
    found += re.findall(rb"\.\s*" + field + rb"\s*=\s*(\w+)\s*\n", data)
    return tuple(sorted({name.decode() for name in found}))


def _cleans_up(decl: Node, release: tuple[str, ...], calls: tuple[str, ...] = ()) -> bool:
    """`decl` calls `x.Cleanup(...)` with one of the `release` methods in its argument
    (`t.Cleanup(srv.Stop)`, `t.Cleanup(func() { srv.Stop() })`), or a call of one of
    the variables `calls` (`t.Cleanup(cancel)`, `t.Cleanup(func() { cancel() })`)."""
    body = child(decl, "body")
    data = body.text if body is not None else None
    if not data or b".Cleanup(" not in data:
        return False
    for call in walk(body, into_funcs=True):
        if call.type != "call_expression":
            continue
        function = child(call, "function")
        if function is None or function.type != "selector_expression":
            continue
        if text(child(function, "field")) != "Cleanup":
            continue
        argument = text(child(call, "arguments"))
        if any(f".{m})" in argument or f".{m}()" in argument for m in release):
            return True
        if any(argument == f"({v})" or re.search(rf"\b{v}\(\)", argument) for v in calls):
            return True
    return False


def qualified(owner: Owner, path: str) -> Owner:
    return replace(owner, type=path + owner.type)


def derived_rules(pkg: Package, rule: Rule) -> list[Rule]:
    """For each owner type holding `rule`'s resource (this package's and those of the
    packages it imports), the rule that follows values of that type."""
    if VIOLATION not in rule.reports:
        return []
    found = [o for o in owners(pkg).values() if o.rule == rule.id]
    for summary in pkg.module.summaries.values():
        found.extend(o for o in summary.owners.values() if o.rule == rule.id)
    return [_derived(rule, owner) for owner in sorted(found, key=lambda o: o.type)]


def _derived(rule: Rule, owner: Owner) -> Rule:
    # Unexported ones (`halt`, which `Stop` calls) only where no exported one does it.
    named = [m for m in owner.release if m[:1].isupper()] or list(owner.release)
    releases = " or ".join(f"{name}()" for name in named)

    def said(template: str) -> str:
        for key, value in (
            ("{field}", owner.field),
            ("{releases}", releases),
            ("{release}", named[0]),
            ("{type}", owner.type),
        ):
            template = template.replace(key, value)
        return template

    messages = {"not-released": said(rule.messages[VIOLATION])}
    if OWNER_DISCARDED in rule.reports:
        messages["discarded"] = said(rule.messages[OWNER_DISCARDED])
    # An owner's release method may not be safe twice (a Stop closing a channel): its
    # fix applies only where nothing releases it.
    dropped = ("field-store-needs-release", "fix-beside-release")
    options = {k: v for k, v in rule.options.items() if k not in dropped}
    # What hands out a fresh one: the constructors, called in the owner's package.
    options["constructors"] = owner.constructors
    if owner.started is not None:
        options["owner-started"] = owner.started  # the goroutine it owns: a related location
    options["constructors-package"] = owner.type.rsplit(".", 1)[0] or "."
    if rule.release.call:
        # A cancel func derived from a test's own context (t.Context()) is cancelled when
        # the test ends: a constructor given one owes nothing.
        options["settled-by-test-context"] = True
    return replace(
        rule,
        acquire=(AcquireSpec(returns=owner.type),),
        # A goroutine's owner: closing the channel it waits on ends it too.
        release=ReleaseSpec(methods=owner.release, closes=(owner.field,) if owner.started else ()),
        reports=tuple(messages),
        messages=messages,
        options=options,
        fix=_owner_fix(rule, owner),
    )


# Method names that end an owner's life by convention: the only ones a fix defers (an
# owner whose field is released by `Run` on some path must not get `defer w.Run()`).
_CLOSERS = ("Close", "Stop", "Shutdown", "Cancel", "Release")


def _owner_fix(rule: Rule, owner: Owner) -> str:
    """The owner's own release deferred (`defer w.Stop()`), when the rule has a fix and
    the owner has a method named as a closer."""
    closer = next((m for m in _CLOSERS if m in owner.release and m not in owner.blocking), None)
    return f"defer {{var}}.{closer}()" if rule.fix and closer else ""
