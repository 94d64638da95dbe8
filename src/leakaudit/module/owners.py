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

from dataclasses import replace

from tree_sitter import Node

from leakaudit.checks.api import Package, callee_name
from leakaudit.module.summary import Owner
from leakaudit.parsing.syntax import field as child
from leakaudit.parsing.syntax import method_receiver, text, unparen, walk
from leakaudit.ruleset.model import OWNER_VIOLATION, AcquireSpec, ReleaseSpec, Rule

VIOLATION = OWNER_VIOLATION


def owners(pkg: Package) -> dict[str, Owner]:
    """The package's own owner types, by local type name (".Worker")."""
    return pkg.memo("owners", lambda: _find(pkg))  # type: ignore[no-any-return]


def _find(pkg: Package) -> dict[str, Owner]:
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
            release = _releasing_methods(pkg, tname, fname, rule)
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


def _releasing_methods(pkg: Package, tname: str, fname: str, rule: Rule) -> tuple[str, ...]:
    """Methods of `tname` that release the receiver's field `fname`: `r.cancel()`, or
    `r.ticker.Stop()`."""
    from leakaudit.module.effects import declaration

    bodies: dict[str, tuple[str, Node]] = {}
    for recv, name in pkg.symbols.methods:
        found = declaration(pkg, tname, name) if recv == tname else None
        body = child(found[0], "body") if found is not None else None
        receiver = method_receiver(found[0])[0] if found is not None else ""
        if receiver and body is not None:
            bodies[name] = (receiver, body)
    out = {n for n, (r, body) in bodies.items() if _releases(body, r, fname, rule)}
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
        if found is None or found[1].file.is_test:
            # A test helper building one (from t.Context(), as a rule) is no owner: the
            # test's end cancels what it derived.
            continue
        stored = stored_fields(pkg, found[1], rule)
        held = ("." + tname, fname) in stored or (None, fname) in stored
        if held and not _cleans_up(found[0], release):
            out.append(name if recv is None else f"{recv}.{name}")
    return tuple(sorted(out))


def _cleans_up(decl: Node, release: tuple[str, ...]) -> bool:
    """`decl` calls `x.Cleanup(...)` with one of the `release` methods in its argument
    (`t.Cleanup(srv.Stop)`, `t.Cleanup(func() { srv.Stop() })`)."""
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
    template = rule.messages[VIOLATION]
    releases = " or ".join(f"{name}()" for name in owner.release)
    for key, value in (
        ("{field}", owner.field),
        ("{releases}", releases),
        ("{release}", owner.release[0]),
        ("{type}", owner.type),
    ):
        template = template.replace(key, value)
    # An owner's release method may not be safe twice (a Stop closing a channel): its
    # fix applies only where nothing releases it.
    dropped = ("field-store-needs-release", "fix-beside-release")
    options = {k: v for k, v in rule.options.items() if k not in dropped}
    # What hands out a fresh one: the constructors, called in the owner's package.
    options["constructors"] = owner.constructors
    options["constructors-package"] = owner.type.rsplit(".", 1)[0] or "."
    if rule.release.call:
        # A cancel func derived from a test's own context (t.Context()) is cancelled when
        # the test ends: a constructor given one owes nothing.
        options["settled-by-test-context"] = True
    return replace(
        rule,
        acquire=(AcquireSpec(returns=owner.type),),
        release=ReleaseSpec(methods=owner.release),
        reports=("not-released",),
        messages={"not-released": template},
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
