"""Acquire sites: the calls a rule's `acquire` list matches, and where their result goes.

Shared by every check that follows a resource from the call that produced it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

from tree_sitter import Node

from leakaudit.checks.api import Function, Interest, Package
from leakaudit.facts.typing import Callee
from leakaudit.module import flags
from leakaudit.parsing.syntax import (
    calls_found,
    enclosing_function,
    expressions,
    method_call_pattern,
    method_receiver,
    path_of,
    text,
    unnegated,
    unparen,
    walk,
)
from leakaudit.parsing.syntax import field as child
from leakaudit.ruleset.model import AcquireSpec, Rule


@dataclass(frozen=True)
class Site:
    call: Node
    callee: Callee
    statement: Node  # the statement holding the call
    # How the resource result is bound:
    #   "var": to a local variable; "blank": to `_`; "dropped": the call's results are
    #   unused (expression, go or defer statement, or `x.f` chained on the call);
    #   "stored": to a field/index expression; "escapes": returned, passed, composed.
    binding: str
    var: str | None = None
    err: str | None = None
    field: str | None = None  # for "stored" into a selector: its field name
    owner: str | None = None  # ... and the struct type declaring that field, if known
    # A receiver acquisition (`s.mu.Lock()`): what releases it, when not the rule's
    # release.methods, and the plain conditions it was taken under (`if x { mu.Lock() }`:
    # where `x` is false later, it was not taken).
    release: tuple[str, ...] = ()
    guards: tuple[tuple[str, bool], ...] = ()  # (condition, its value when taken), innermost first
    # The variable holding the resource's other end (a pipe's reader), when the rule
    # names one: closing it settles the resource.
    partner: str | None = None
    # A launched acquisition (`go srv.Serve(l)`): the function holding the go statement,
    # which owes the release (the site's statement is that go statement).
    launcher: Node | None = None
    # The release's arguments, as written in the acquiring call (`ctx` for pgx's
    # `tx.Rollback(ctx)`); "" for a release without arguments.
    release_args: str = ""
    # A lock helper's call (`s.lock()`, `st.Lock()` on another package's type): the lock
    # it takes as the lock checks name it across functions ("Server.mu",
    # "example.com/store.Store.mu"; the type alone for an embedded mutex).
    lock: str | None = None
    # ... and, for another package's helper, how the caller lets go of it: (what holds
    # it, the type's unlock method), as messages and fixes say it ("st", "Unlock").
    unlock: tuple[str, str] | None = None


def interest(rule: Rule) -> Interest:
    """What a function must call to hold an acquire site of the rule. A package
    function matches only through an import of its package (see `_matches`), so only
    files importing it are searched for its name."""
    return Interest(
        calls=frozenset(name for spec in rule.acquire if spec.types for name in spec.calls),
        returns=frozenset(spec.returns for spec in rule.acquire if spec.returns),
        imported=frozenset(
            (spec.package, name) for spec in rule.acquire if not spec.types for name in spec.calls
        ),
    )


def call_names(pkg: Package, rule: Rule) -> frozenset[str]:
    """Names a call must end in to possibly match the rule (a cheap pre-filter)."""
    key = ("call-names", rule.id, rule.acquire)  # a derived rule shares its base's id
    return pkg.memo(key, lambda: pkg.call_names(interest(rule)))  # type: ignore[no-any-return]


def find_sites(pkg: Package, fn: Function, rule: Rule) -> list[Site]:
    """The function's acquire sites of the rule; computed once per function for rules
    with the same acquire and release specs (the lock rules share theirs)."""
    options = rule.options
    key = (
        "sites",
        rule.acquire,
        rule.release,
        options.get("constructors"),
        options.get("constructors-package"),
    )
    return fn.memo(key, lambda: _find_sites(pkg, fn, rule))  # type: ignore[no-any-return]


def _find_sites(pkg: Package, fn: Function, rule: Rule) -> list[Site]:
    sites = _direct_sites(pkg, fn, rule)
    if any(spec.receiver for spec in rule.acquire):
        sites.extend(_helper_sites(pkg, fn, rule))
        sites.sort(key=lambda site: site.call.start_byte)
    return sites


def _direct_sites(pkg: Package, fn: Function, rule: Rule) -> list[Site]:
    def compute() -> list[Site]:
        names = call_names(pkg, rule)
        if not names:
            return []
        sites: list[Site] = []
        for node in pkg.calls_in(fn, names):
            site = _match(pkg, fn, rule, node)
            if site is not None:
                sites.append(site)
        return sites

    key = ("direct-sites", rule.acquire, rule.release)
    return list(fn.memo(key, compute))  # type: ignore[arg-type]


@dataclass(frozen=True)
class LockHelper:
    """A method that takes a lock of its receiver and returns holding it."""

    field: str  # the lock's path below the receiver ("" for an embedded mutex)
    release: tuple[str, ...]
    # Another package's helper: the method of its type that lets go of the lock (its
    # field may be unexported: the caller cannot spell `st.mu.Unlock()`).
    unlock: str | None = None


def lock_helpers(pkg: Package, rule: Rule) -> dict[tuple[str, str], LockHelper]:
    """(receiver type, method) -> the lock it leaves held, for the package's methods
    that take a lock of their receiver (unconditionally) and never release it: a
    `lock()` helper. Calling one takes that lock for the caller. The module's other
    packages' helpers are keyed by their qualified type ("path.Store")."""

    def compute() -> dict[tuple[str, str], LockHelper]:
        out: dict[tuple[str, str], LockHelper] = {}
        releases = lock_methods(rule)[1]
        for fn in pkg.candidates(interest(rule)):
            if fn.node.type != "method_declaration":
                continue
            name, rtype = method_receiver(fn.node)
            body = child(fn.node, "body")
            if not name or not rtype or body is None:
                continue
            data = body.text or b""
            for site in _direct_sites(pkg, fn, rule):
                var = site.var or ""
                if site.guards or (var != name and not var.startswith(name + ".")):
                    continue
                if any(f"{var}.{m}(".encode() in data for m in releases):
                    continue  # it releases it somewhere: no helper
                key = (rtype, text(child(fn.node, "name")))
                field = var[len(name) + 1 :] if var != name else ""
                out[key] = LockHelper(field, site.release)
        # Those of the module's other packages, from their summaries: `st.Lock()` on a
        # `*store.Store` whose `Lock` leaves `s.mu` held.
        from leakaudit.module.locks import HOLDS, RELEASES, imported

        found = imported(pkg, rule)
        for (tname, method), facts in found.items():
            held = [f for f in facts if f.effect == HOLDS]
            if not held:
                continue
            unlocks = sorted(
                name
                for (other, name), more in found.items()
                if other == tname
                and any(f.effect == RELEASES and f.field == held[0].field for f in more)
            )
            unlock = next((n for n in unlocks if n.lower().startswith("unlock")), None)
            out[(tname, method)] = LockHelper(
                held[0].field, held[0].release, unlock or next(iter(unlocks), None)
            )
        return out

    key = ("lock-helpers", rule.acquire, rule.release)
    return pkg.memo(key, compute)  # type: ignore[no-any-return]


def lock_methods(rule: Rule) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(what takes, what releases) the rule's receiver acquisitions: (Lock, RLock) and
    (Unlock, RUnlock) for the lock rules."""
    takes = tuple(c for spec in rule.acquire if spec.receiver for c in spec.calls)
    gives = tuple(sorted({m for spec in rule.acquire if spec.receiver for m in spec.release}))
    return takes, gives


def holding_functions(pkg: Package, rule: Rule, reported: bool = True) -> list[Function]:
    """The functions that may hold an acquire site of the rule: those calling what its
    acquire list names, and, for receiver acquisitions, those calling a lock helper of
    the package. `reported`: less those of files whose findings are dropped."""
    pick = pkg.reported if reported else pkg.candidates
    found = pick(interest(rule))
    if not any(spec.receiver for spec in rule.acquire):
        return found
    helpers = lock_helpers(pkg, rule)
    if not helpers:
        return found
    more = pick(Interest(calls=frozenset(name for _, name in helpers)))
    have = {fn.node.id for fn in found}
    extra = [fn for fn in more if fn.node.id not in have]
    if not extra:
        return found
    return sorted(found + extra, key=lambda fn: (fn.file.path, fn.node.start_byte))


def _helper_sites(pkg: Package, fn: Function, rule: Rule) -> list[Site]:
    """`s.lock()` as a statement, for a lock helper of the package: it takes `s.mu`."""
    helpers = lock_helpers(pkg, rule)
    if not helpers:
        return []
    own = (fn.node.type == "method_declaration", text(child(fn.node, "name")))
    out: list[Site] = []
    through = rule.release.through
    for call in pkg.calls_in(fn, frozenset(name for _, name in helpers)):
        shape = _binding(call)
        function = unparen(child(call, "function"))
        if shape.kind != "dropped" or shape.statement.type != "expression_statement":
            continue
        if function is None or function.type != "selector_expression":
            continue
        operand = child(function, "operand")
        holder = path_of(unparen(operand))
        tname = fn.types.type_of(operand, fn.scope) if holder is not None else None
        method = text(child(function, "field"))
        found = helpers.get(((tname or "").lstrip("*").removeprefix("."), method))
        if holder is None or found is None or own == (True, method):
            continue
        var = f"{holder}.{found.field}" if found.field else holder
        takes, gives = lock_methods(rule)
        if _released_first(fn, var, gives, takes, through):
            continue
        if _released_before_in_block(shape.statement, var, found.release, through):
            continue
        loop = _enclosing_loop(shape.statement)
        if loop is not None and not calls_method_on(loop, var, found.release, through):
            continue
        owner = (tname or "").lstrip("*")
        package, _, receiver = owner.rpartition(".")  # "" for this package's (".Store")
        callee = Callee(package or ".", receiver or None, method, text(function))
        out.append(
            Site(
                call,
                callee,
                shape.statement,
                "var",
                var=var,
                release=found.release,
                guards=_guards(shape),
                lock=f"{owner.removeprefix('.')}.{found.field}".rstrip("."),
                unlock=(holder, found.unlock) if found.unlock else None,
            )
        )
    return out


def callee_of(fn: Function, call: Node) -> Callee | None:
    """What `call` calls, without typing the function's locals when the call goes
    through an import or names a local function (most calls the pre-filter lets through
    never match, and need no more)."""
    return fn.types.quick_callee(call, fn.node) or fn.types.callee(call, fn.scope)


def _match(pkg: Package, fn: Function, rule: Rule, call: Node) -> Site | None:
    callee = callee_of(fn, call)
    if callee is None:
        return None
    shape = _binding(call)
    for spec in rule.acquire:
        if spec.receiver:
            found = _receiver_site(fn, rule, spec, callee, call, shape)
            if found is not None:
                return found
            continue
        indexes = _matches(pkg, fn, spec, callee, call, shape)
        if indexes is None:
            continue
        if spec.argument is not None:
            return _argument_site(fn, spec.argument, callee, call, shape)
        resource, error = indexes
        if spec.returns and not _hands_out_fresh(pkg, fn, rule, callee, call, resource):
            return None  # a getter, or a helper that closes what it returns
        methods = spec.release or rule.release.methods
        if shape.kind == "chained" and _chained_release(shape.statement, methods):
            return None  # `csv.NewWriter(&buf).WriteAll(rows)`: released where it is made
        site = _site(call, callee, shape, resource, error)
        if spec.release:
            site = replace(site, release=spec.release)  # this entry's own release methods
        if spec.release_args:
            site = replace(site, release_args=_arguments_text(call, spec.release_args))
        if spec.partner is not None and shape.kind == "assign" and shape.position < 0:
            end = shape.targets[spec.partner] if spec.partner < len(shape.targets) else None
            if end is not None and end.type == "identifier" and text(end) != "_":
                site = replace(site, partner=text(end))
        if site.binding == "var" and (
            not fn.types.declares(fn.node, site.var)
            or (site.var in pkg.symbols.vars and not fn.scope.binds_locally(site.var))
        ):
            # `cancel = ...` into a closure's outer variable or a package variable:
            # the enclosing function or the package owns it now.
            site = replace(site, binding="stored")
        if site.binding == "stored" and site.field:
            target = _stored_target(shape, resource)
            operand = child(target, "operand") if target is not None else None
            owner_type = fn.types.type_of(operand, fn.scope)
            site = replace(site, owner=pkg.symbols.field_owner(owner_type, site.field))
        return site
    return None


def _argument_site(
    fn: Function, index: int, callee: Callee, call: Node, shape: _Shape
) -> Site | None:
    """`signal.Notify(ch, ...)` as a statement: the local variable `ch` is what it
    acquires. A parameter or a field given to it is the caller's or the owner's."""
    if shape.kind != "dropped" or shape.statement.type != "expression_statement":
        return None
    args = [a for a in (child(call, "arguments") or call).named_children if a.type != "comment"]
    value = unparen(args[index]) if index < len(args) else None
    if value is None or value.type != "identifier":
        return None
    name = text(value)
    if name == "_" or not _local(fn, fn.node, name):
        return None
    return Site(call, callee, shape.statement, "var", var=name)


def _chained_release(selector: Node, methods: tuple[str, ...]) -> bool:
    """`selector` (`make(...).Name`) is the call of a release method on what was made."""
    called = selector.parent is not None and selector.parent.type == "call_expression"
    return called and text(child(selector, "field")) in methods


def _hands_out_fresh(
    pkg: Package, fn: Function, rule: Rule, callee: Callee, call: Node, resource: int
) -> bool:
    """Does the callee hand out a resource its caller must release? This package's
    functions are read (effects.fresh_result), the module's other packages' from their
    summaries; library calls are taken at their declared type. Not when the call sets
    the option that makes the callee release it itself (module/flags.py)."""
    from leakaudit.module.effects import fresh_result, fresh_unless

    constructors = rule.options.get("constructors")
    if isinstance(constructors, tuple):  # an owner type's rule: its constructors only
        key = f"{callee.receiver}.{callee.name}" if callee.receiver else callee.name
        return key in constructors and callee.package == rule.options.get("constructors-package")
    if callee.package == ".":
        if not fresh_result(pkg, rule, callee, resource):
            return False
        set_flags = flags.set_flags(fn.scope, call)
        flag = fresh_unless(pkg, rule, callee, resource) if set_flags else None
    else:
        facts = pkg.module.func(callee.qualified) if callee.package else None
        if facts is None:
            return True
        if resource not in facts.fresh:
            return False
        flag = next((u[1:] for u in facts.unless if u[0] == resource), None)
        set_flags = flags.set_flags(fn.scope, call) if flag is not None else {}
    return flag is None or flag[1] not in set_flags.get(flag[0], ())


@dataclass(frozen=True)
class _Shape:
    statement: Node
    kind: str  # "assign" | "dropped" | "escapes" | "chained"
    targets: tuple[Node, ...] = ()  # assignment targets, when kind == "assign"
    position: int = 0  # index of the call among several right-hand values


def _binding(call: Node) -> _Shape:
    node = call
    parent = node.parent
    while parent is not None and parent.type == "parenthesized_expression":
        node, parent = parent, parent.parent
    if parent is None:
        return _Shape(call, "escapes")
    kind = parent.type
    if kind == "expression_list":
        holder = parent.parent
        values = expressions(parent)
        if (
            holder is not None
            and holder.type in ("short_var_declaration", "assignment_statement")
            and child(holder, "right") == parent
        ):
            targets = tuple(expressions(child(holder, "left")))
            return _Shape(holder, "assign", targets, values.index(node) if len(values) > 1 else -1)
        if holder is not None and holder.type == "var_spec" and child(holder, "value") == parent:
            targets = tuple(holder.children_by_field_name("name"))
            return _Shape(holder, "assign", targets, values.index(node) if len(values) > 1 else -1)
        return _Shape(holder or parent, "escapes")
    if kind in ("expression_statement", "go_statement", "defer_statement"):
        return _Shape(parent, "dropped")
    if kind == "selector_expression" and child(parent, "operand") == node:
        return _Shape(parent, "chained")
    return _Shape(parent, "escapes")


def _matches(
    pkg: Package, fn: Function, spec: AcquireSpec, callee: Callee, call: Node, shape: _Shape
) -> tuple[int, int | None] | None:
    if spec.calls:
        if callee.name not in spec.calls:
            return None
        if callee.package is None:
            # Unknown receiver: trust the result shape, and only in packages that use the API.
            if not spec.types or not spec.unknown_receivers:
                return None
            if spec.package not in pkg.symbols.imported:
                return None
            if shape.kind != "assign" or len(shape.targets) != spec.result_count:
                return None
        elif spec.types:
            if callee.package != spec.package or callee.receiver not in spec.types:
                return None
        elif callee.package != spec.package or callee.receiver is not None:
            return None
        return spec.resource, spec.error
    if spec.returns and callee.package is not None:
        results = fn.types.results_of(callee)  # call_results, from the callee at hand
        if spec.returns in results:
            error = results.index("error") if "error" in results else None
            return results.index(spec.returns), error
    return None


def _receiver_site(
    fn: Function, rule: Rule, spec: AcquireSpec, callee: Callee, call: Node, shape: _Shape
) -> Site | None:
    """`s.mu.Lock()` as a statement, its receiver typed as one of the spec's types: the
    receiver (its path, `s.mu`) is what is held. Not when the function releases that
    path before it first acquires it: it was entered holding it, and takes it back."""
    if callee.name not in spec.calls or callee.package != spec.package:
        return None
    if callee.receiver not in spec.types:
        return None
    err = None
    if spec.launched:
        # `go srv.ListenAndServe()`, or the call inside `go func() { ... }()`: the server
        # now serves, and the function that launched it holds it.
        launch = _launch_of(fn, call, shape)
        if launch is None:
            return None
        launcher, owner_node = launch
        path = receiver_path(call, rule.release.through)
        if path is None or "." in path:
            return None
        if owner_node != fn.node and fn.scope.declares(path):
            return None  # the literal's own variable
        if not _local(fn, owner_node, path):
            return None  # a parameter or a field: the caller's or the owner's to stop
        release = spec.release or rule.release.methods
        return Site(call, callee, launcher, "var", var=path, release=release, launcher=owner_node)
    if shape.kind == "assign" and spec.error is not None:
        # `err := cmd.Start()`, `if err := cmd.Start(); err != nil`: a failed call
        # holds nothing.
        target = shape.targets[spec.error] if spec.error < len(shape.targets) else None
        if target is None or target.type != "identifier":
            return None
        err = text(target) if text(target) != "_" else None
    elif shape.kind != "dropped" or shape.statement.type != "expression_statement":
        return None  # `go mu.Lock()`, `defer mu.Lock()`: not a hold on this path
    path = receiver_path(call, rule.release.through)
    if path is None or (spec.local and not _local(fn, fn.node, path)):
        return None  # a started field or parameter: its owner's, not this function's
    release = spec.release or rule.release.methods
    through = rule.release.through
    takes, gives = lock_methods(rule)
    if _released_first(fn, path, tuple({*gives, *release}), takes, through):
        return None  # its first Lock/RLock/Unlock/RUnlock of the path releases it
    if _released_before_in_block(shape.statement, path, release, through):
        return None  # `mu.Unlock(); slow(); mu.Lock()`: taken back in a held region
    loop = _enclosing_loop(shape.statement)
    if loop is not None and not calls_method_on(loop, path, release, through):
        return None  # RLock n times in a loop, RUnlock n times after: counted, not followed
    return Site(
        call,
        callee,
        shape.statement,
        "var",
        var=path,
        err=err,
        release=release,
        guards=_guards(shape),
    )


def receiver_path(call: Node, through: tuple[str, ...] = ()) -> str | None:
    """`s.mu` for `s.mu.Lock()`, `e` for `e.Lock()` and (with "Mutex" in `through`) for
    `e.Mutex.Lock()`: a variable and its fields, nothing else (not `m[k].Lock()`)."""
    function = unparen(child(call, "function"))
    if function is None or function.type != "selector_expression":
        return None
    operand = unparen(child(function, "operand"))
    while (
        operand is not None
        and operand.type == "selector_expression"
        and text(child(operand, "field")) in through
    ):
        operand = unparen(child(operand, "operand"))
    return path_of(operand)


def _released_first(
    fn: Function,
    path: str,
    release: tuple[str, ...],
    acquire: tuple[str, ...],
    through: tuple[str, ...],
) -> bool:
    """Does the first acquire or release of `path` in the function's own body, in
    source order, release it?"""
    wanted = frozenset(release) | frozenset(acquire)

    def compute() -> dict[str, str]:
        first: dict[str, str] = {}  # path -> its first method among `wanted`
        body = child(fn.node, "body")
        if body is None:
            return first
        pattern = method_call_pattern(wanted)
        for node, function in calls_found(body, pattern, _OTHER_CODE) if pattern else ():
            found = receiver_path(node, through)
            if found is not None and found not in first:
                first[found] = text(child(function, "field"))
        return first

    firsts: dict[str, str] = fn.memo(("first-lock-ops", wanted, through), compute)  # type: ignore[assignment]
    method = firsts.get(path)
    return method is not None and method in release and method not in acquire


_OTHER_CODE = frozenset({"func_literal"})  # a closure's calls are its own function's


def _released_before_in_block(
    stmt: Node, path: str, release: tuple[str, ...], through: tuple[str, ...]
) -> bool:
    """A statement before `stmt` in its block releases `path` (`mu.Unlock()`)."""
    return any(
        sibling.type == "expression_statement" and calls_method_on(sibling, path, release, through)
        for sibling in _siblings_before(stmt)
    )


def _local(fn: Function, func: Node, name: str) -> bool:
    """`name` is a local variable of `func`: declared there, and not a parameter or the
    receiver."""
    if not fn.types.declares(func, name):
        return False
    for part in ("receiver", "parameters"):
        params = child(func, part)
        for decl in params.named_children if params is not None else ():
            if any(text(n) == name for n in decl.children_by_field_name("name")):
                return False
    return True


def _launch_of(fn: Function, call: Node, shape: _Shape) -> tuple[Node, Node] | None:
    """(the go statement, the function holding it) when `call` runs as a goroutine:
    `go x.M()` itself, or a call among the top-level statements of a literal started
    by `go func() { ... }()`."""
    if shape.kind == "dropped" and shape.statement.type == "go_statement":
        return shape.statement, fn.node
    if not fn.is_literal:
        return None
    node = call
    while node.parent is not None and node.parent.type not in ("block", "statement_list"):
        node = node.parent
    block = node.parent
    if block is not None and block.type == "statement_list":
        block = block.parent
    if block is None or block.parent != fn.node:
        return None  # nested deeper (a loop, another literal): not the goroutine's start
    literal_call = fn.node.parent
    go = literal_call.parent if literal_call is not None else None
    if literal_call is None or literal_call.type != "call_expression" or go is None:
        return None
    if go.type != "go_statement":
        return None
    holder = enclosing_function(go)
    return (go, holder) if holder is not None else None


def _enclosing_loop(stmt: Node) -> Node | None:
    node = stmt.parent
    while node is not None and node.type not in ("func_literal", "function_declaration"):
        if node.type == "for_statement":
            return node
        if node.type == "method_declaration":
            return None
        node = node.parent
    return None


def calls_method_on(
    node: Node,
    path: str,
    methods: tuple[str, ...],
    through: tuple[str, ...] = (),
    into_funcs: bool = False,
) -> bool:
    """`node` holds a call `path.M(...)` of one of `methods` (`into_funcs`: in the func
    literals inside it too)."""
    return any(True for _ in _method_calls(node, path, methods, through, into_funcs))


def method_calls_on(
    node: Node, path: str, methods: tuple[str, ...], into_funcs: bool = False
) -> list[Node]:
    """The calls `path.M(...)` of one of `methods` in `node`, in source order."""
    return list(_method_calls(node, path, methods, (), into_funcs))


def _method_calls(
    node: Node, path: str, methods: tuple[str, ...], through: tuple[str, ...], into_funcs: bool
) -> Iterator[Node]:
    data = node.text or b""
    if not any(f".{m}(".encode() in data for m in methods):
        return
    for call in walk(node, into_funcs=into_funcs):
        if call.type != "call_expression":
            continue
        function = unparen(child(call, "function"))
        if (
            function is not None
            and function.type == "selector_expression"
            and text(child(function, "field")) in methods
            and receiver_path(call, through) == path
        ):
            yield call


def _siblings_before(stmt: Node) -> list[Node]:
    out = []
    sibling = stmt.prev_named_sibling
    while sibling is not None:
        out.append(sibling)
        sibling = sibling.prev_named_sibling
    return out


# Conditions that read the same twice unless something assigns what they read: plain
# variables and fields, literals, comparisons, len and cap, and !, && and || of them.
_PURE_CALLS = frozenset({"len", "cap"})


def _pure(cond: Node | None) -> bool:
    if cond is None:
        return False
    kind = cond.type
    if kind in ("identifier", "selector_expression"):
        return path_of(cond) is not None
    if kind in ("int_literal", "nil", "true", "false", "interpreted_string_literal"):
        return True
    if kind == "parenthesized_expression":
        return _pure(unparen(cond))
    if kind == "unary_expression":
        return text(child(cond, "operator")) == "!" and _pure(child(cond, "operand"))
    if kind == "binary_expression":
        return _pure(child(cond, "left")) and _pure(child(cond, "right"))
    if kind == "call_expression":
        args = child(cond, "arguments")
        return (
            text(child(cond, "function")) in _PURE_CALLS
            and args is not None
            and all(_pure(a) for a in args.named_children)
        )
    return False


def _guards(shape: _Shape) -> tuple[tuple[str, bool], ...]:
    """The plain conditions of the `if`s whose blocks hold the statement, innermost
    first, each with the value it has there (its `!`s taken off): true in a
    consequence, false in a plain else."""
    out: list[tuple[str, bool]] = []
    node = shape.statement
    while True:
        block = node.parent
        if block is not None and block.type == "statement_list":
            block = block.parent
        holder = block.parent if block is not None else None
        if block is None or block.type != "block" or holder is None:
            break
        if holder.type != "if_statement" or child(holder, "initializer") is not None:
            break
        cond = unparen(child(holder, "condition"))
        if not _pure(cond):
            break
        if child(holder, "consequence") == block:
            value = True
        elif child(holder, "alternative") == block:
            value = False
        else:
            break
        cond, value = unnegated(cond, value)
        out.append((" ".join(text(cond).split()), value))
        node = holder
    return tuple(out)


def _stored_target(shape: _Shape, resource: int) -> Node | None:
    index = shape.position if shape.position >= 0 else resource
    return shape.targets[index] if index < len(shape.targets) else None


def _arguments_text(call: Node, indexes: tuple[int, ...]) -> str:
    """The call's arguments at `indexes`, as written, comma-separated ("" if missing)."""
    args = child(call, "arguments")
    named = [a for a in (args.named_children if args is not None else ()) if a.type != "comment"]
    if any(i >= len(named) for i in indexes):
        return ""
    return ", ".join(" ".join(text(named[i]).split()) for i in indexes)


def _site(call: Node, callee: Callee, shape: _Shape, resource: int, error: int | None) -> Site:
    if shape.kind == "dropped" or shape.kind == "chained":
        return Site(call, callee, shape.statement, "dropped")
    if shape.kind == "escapes":
        return Site(call, callee, shape.statement, "escapes")
    targets = shape.targets
    if shape.position >= 0:  # a, b := f(), g(): a single-result call binds one target
        target = targets[shape.position] if shape.position < len(targets) else None
        err_target = None
    else:
        target = targets[resource] if resource < len(targets) else None
        err_target = targets[error] if error is not None and error < len(targets) else None
    err = text(err_target) if err_target is not None and err_target.type == "identifier" else None
    if err == "_":
        err = None
    if target is None:
        return Site(call, callee, shape.statement, "dropped")
    if target.type == "identifier":
        name = text(target)
        if name == "_":
            return Site(call, callee, shape.statement, "blank", err=err)
        return Site(call, callee, shape.statement, "var", var=name, err=err)
    field = text(child(target, "field")) if target.type == "selector_expression" else None
    return Site(call, callee, shape.statement, "stored", err=err, field=field)
