"""Function facts for resources, computed with the obligation engine itself, as Pulse
computes a summary per function and applies it at each call site.

- What a function does with a resource-typed parameter: followed from the entry to
  every exit, exactly as an acquired resource is followed from its call.
- Which of its resource-typed results are fresh (the caller owns them) rather than
  read from a field or released before they are returned.

Answered lazily for the package's own calls (a function nobody calls with a resource
costs nothing) and eagerly for the summary exported to importers.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Container, Iterable, Iterator
from dataclasses import dataclass, replace
from functools import lru_cache

from tree_sitter import Node

from leakaudit.checks.api import BudgetExceeded, Function, Package, callee_name
from leakaudit.checks.uses import Use, UseClassifier
from leakaudit.facts.symbols import type_name
from leakaudit.facts.typing import Callee, declared_value
from leakaudit.module import flags
from leakaudit.module.fixpoint import Solver, solve
from leakaudit.module.noreturn import declared_never_returns, stopping_names
from leakaudit.module.summary import (
    BORROWS,
    KEEPS,
    ON_FAILURE,
    ON_SUCCESS,
    RELEASES,
    SOME,
    FuncFacts,
    PackageSummary,
)
from leakaudit.module.summary import declarations as declared
from leakaudit.parsing.parser import SourceFile
from leakaudit.parsing.syntax import (
    expressions,
    method_receiver,
    return_values,
    statements,
    text,
    unaddressed,
    unparen,
    walk,
)
from leakaudit.parsing.syntax import field as child
from leakaudit.ruleset.model import Rule


@dataclass(frozen=True)
class Param:
    index: int
    name: str
    type: str | None  # qualified as the package names it
    variadic: bool


def params_of(func: Node, imports: dict[str, str]) -> list[Param]:
    """The declared parameters of a function node, flattened (`a, b T` is two)."""
    out: list[Param] = []
    plist = child(func, "parameters")
    for decl in plist.named_children if plist is not None else ():
        if decl.type not in ("parameter_declaration", "variadic_parameter_declaration"):
            continue
        tname = type_name(child(decl, "type"), imports)
        variadic = decl.type == "variadic_parameter_declaration"
        names = decl.children_by_field_name("name") or [None]
        for name in names:
            out.append(Param(len(out), text(name) if name is not None else "_", tname, variadic))
    return out


def declarations_by_name(pkg: Package) -> dict[tuple[str | None, str], tuple[Node, SourceFile]]:
    """The package's functions and methods by (receiver type, name), with their file."""

    def compute() -> dict[tuple[str | None, str], tuple[Node, SourceFile]]:
        out: dict[tuple[str | None, str], tuple[Node, SourceFile]] = {}
        for source in pkg.files:
            for decl in pkg.declarations_in(source):
                recv = None if decl.type == "function_declaration" else _receiver_type(decl)
                out[(recv, _name_of(decl))] = (decl, source)
        return out

    return pkg.memo("declarations-by-name", compute)  # type: ignore[no-any-return]


def declaration(pkg: Package, receiver: str | None, name: str) -> tuple[Node, Function] | None:
    """The package's own function or method by (receiver type, name), as a Function."""
    found = declarations_by_name(pkg).get((receiver, name))
    if found is None:
        return None
    node, source = found
    fn = pkg.function(node, source)
    return (node, fn) if fn is not None else None


def _declared(pkg: Package, receiver: str | None, name: str) -> tuple[Node, SourceFile] | None:
    """The declaration node and its file (a function with a syntax error has them too)."""
    return declarations_by_name(pkg).get((receiver, name))


def passed(
    pkg: Package,
    fn: Function,
    rule: Rule,
    call: Node,
    index: int,
    via: bool = False,
    field: str = "",
) -> str | None:
    """What the callee of `call` does with its argument at `index`: this package's
    functions from their bodies, the module's other packages from their summaries;
    None when unknown (a func value, a library, an interface method with several
    implementations in the package: with one, it is that one's). `via`: the
    argument is the rule's `via` field (resp.Body), released by the methods alone."""
    from leakaudit.checks.sites import callee_of

    callee = callee_of(fn, call)
    if callee is None or callee.package is None:
        return None
    if field:
        if callee.package == ".":
            return field_effect(pkg, callee, index, field, rule)
        from leakaudit.module.locks import imported_field_effect

        return imported_field_effect(pkg, callee, index, field, rule)
    if callee.package == ".":
        receiver = callee.receiver
        if receiver is not None and receiver in pkg.symbols.types:
            if not via and not fn.file.is_test and pkg.module.elsewhere(receiver):
                facts = pkg.module.implemented(f"{pkg.module.own}.{receiver}.{callee.name}")
                return facts.param(index) if facts is not None else None
            receiver = sole_implementation(pkg, receiver, fn.file.is_test) or receiver
        found = declaration(pkg, receiver, callee.name)
        if found is None:
            return None
        return param_effect(pkg, found[1], index, _unwrapped(rule) if via else rule, typed=not via)
    if via:
        return None  # summaries describe parameters of the resource's own type
    facts = pkg.module.func(callee.qualified)
    if facts is None:
        return None
    found = facts.param(index)
    if found is None and any(
        i == index and narrows_methods(methods, rule) for i, methods in facts.lends
    ):
        return BORROWS  # lent as an interface that cannot release it (an io.Reader)
    return found


def field_effect(pkg: Package, callee: Callee, index: int, field: str, rule: Rule) -> str | None:
    """What this package's function does with `field` of its receiver (index -1) or of
    its parameter at `index`, as a held lock: `func (s *S) finishAndUnlock()` releases
    `mu` of its receiver. Followed as that path of the parameter, from the entry."""
    found = declaration(pkg, callee.receiver, callee.name)
    if found is None:
        return None
    decl, fn = found
    if index == -1:
        name = method_receiver(decl)[0]
    else:
        params = params_of(decl, fn.types.imports)
        name = params[index].name if index < len(params) and not params[index].variadic else None
    if not name or name == "_":
        return None
    body = child(decl, "body")
    data = body.text or b"" if body is not None else b""
    if not any(m.encode() in data for m in rule.release.methods):
        return BORROWS  # never releases anything of the kind: the caller still holds it
    from leakaudit.checks.sites import lock_methods

    takes = set(lock_methods(rule)[0])
    path = f"{name}.{field}" if field else name  # "": the mutex it embeds, itself
    if takes and first_takes(data, path, takes, rule.release.methods):
        return BORROWS  # it takes the lock itself first: what it releases is its own hold

    def compute() -> str | None:
        saved, fn.work = fn.work, 0
        try:
            return _follow(pkg, fn, path, rule)
        except BudgetExceeded:
            return None
        finally:
            fn.work = saved

    key = ("field-effect", decl.id, index, field, rule.id, rule.release.methods)
    solver = pkg.memo("fixpoint-solver", Solver)
    return solve(pkg._cache, solver, key, compute, (RELEASES, BORROWS), KEEPS)  # type: ignore[no-any-return]


def first_takes(data: bytes, path: str, takes: set[str], gives: tuple[str, ...]) -> bool:
    """Is the first `path.Lock(` (of `takes`) in `data` before any `path.Unlock(` (of
    `gives`)? A function entered holding the lock lets go of it first."""

    def first(methods: Iterable[str]) -> int:
        found = [data.find(f"{path}.{m}(".encode()) for m in methods]
        return min((at for at in found if at != -1), default=-1)

    took, gave = first(takes), first(gives)
    return took != -1 and (gave == -1 or took < gave)


def sole_implementation(pkg: Package, iface: str, in_tests: bool = False) -> str | None:
    """The one type of the package that implements interface `iface`, when there is
    exactly one: a call through the interface then runs its methods. A type covering
    the interface's methods by name implements it; so may one that declares some of
    them and embeds another type (promoted methods). Types declared for tests count
    only for calls in tests."""

    def compute() -> dict[tuple[str, bool], str | None]:
        own: dict[tuple[str, bool], set[str]] = {}  # (type, test file) -> methods
        for recv, name in pkg.symbols.methods:
            found = declaration(pkg, recv, name)
            test = found is not None and found[1].file.is_test
            own.setdefault((recv, test), set()).add(name)
        out: dict[tuple[str, bool], str | None] = {}
        for tname, decl in pkg.symbols.types.items():
            if decl.kind != "interface" or not decl.methods or decl.embedded:
                continue
            wanted = set(decl.methods)
            for tests in (False, True):
                methods: dict[str, set[str]] = {}
                for (recv, test), names in own.items():
                    if tests or not test:
                        methods.setdefault(recv, set()).update(names)
                found = [
                    t
                    for t, have in methods.items()
                    if wanted <= have or (have & wanted and _embeds(pkg, t))
                ]
                out[(tname, tests)] = found[0] if len(found) == 1 else None
        return out

    if pkg.module.elsewhere(iface):
        return None  # the module holds another implementation, or the only one elsewhere
    table: dict[tuple[str, bool], str | None] = pkg.memo("sole-implementations", compute)  # type: ignore[assignment]
    return table.get((iface, in_tests))


def _embeds(pkg: Package, tname: str) -> bool:
    decl = pkg.symbols.types.get(tname)
    return decl is not None and decl.kind == "struct" and bool(decl.embedded)


def _unwrapped(rule: Rule) -> Rule:
    """The rule as it applies to its `via` value itself: `body.Close()` releases."""
    return replace(rule, id=f"{rule.id}#via", release=replace(rule.release, via=""))


def param_effect(
    pkg: Package, fn: Function, index: int, rule: Rule, typed: bool = True
) -> str | None:
    """RELEASES, ON_SUCCESS, ON_FAILURE, SOME, BORROWS or KEEPS for parameter `index`
    of `fn` under `rule`'s release; None when the index is no plain parameter
    (variadic) or, with `typed`, is not declared as a type the rule follows (an `any`
    parameter may be type-asserted and kept: the flow would not see that)."""
    params = params_of(fn.node, fn.types.imports)
    if index >= len(params) or params[index].variadic:
        return None
    param = params[index]
    follows = pkg.resource_rules.get(param.type or "")
    # An owner type (module/owners.py) is followed by its derived rule, which acquires
    # it by the type its constructors return.
    owned = any(spec.returns and spec.returns == param.type for spec in rule.acquire)
    # A parameter of a type the rule does not follow is followed when it is a narrowing
    # interface (a file given as an io.Reader): the callee can only borrow or keep it.
    foreign = typed and not owned and (follows is None or follows.release != rule.release)
    if foreign and (not narrows(pkg, param.type, rule) or _asserted_in(fn.node, param.name)):
        return None
    if param.name == "_":
        return BORROWS  # unnamed: the body cannot touch it

    def compute() -> str | None:
        saved, fn.work = fn.work, 0  # the callee's own budget, not its caller's
        try:
            return _follow(pkg, fn, param.name, rule)
        except BudgetExceeded:
            return None  # too big to summarize: unknown, a hand-off
        finally:
            fn.work = saved

    # Recursion inside the package: a release on every path that returns is a release;
    # failing that, a read-only use; failing both, a hand-off, as before summaries.
    key = ("param-effect", fn.node.id, index, rule.id)
    solver = pkg.memo("fixpoint-solver", Solver)
    return solve(pkg._cache, solver, key, compute, (RELEASES, BORROWS), KEEPS)  # type: ignore[no-any-return]


# The method sets of the standard library's small interfaces. A resource passed as one
# of them (a file as an io.Reader) cannot be released through it: the callee would
# have to type-assert it back first.
_STD_INTERFACES: dict[str, frozenset[str]] = {
    name: frozenset(methods)
    for name, methods in {
        "io.Reader": ("Read",),
        "io.Writer": ("Write",),
        "io.ReadWriter": ("Read", "Write"),
        "io.ReaderAt": ("ReadAt",),
        "io.WriterAt": ("WriteAt",),
        "io.Seeker": ("Seek",),
        "io.ReadSeeker": ("Read", "Seek"),
        "io.WriteSeeker": ("Write", "Seek"),
        "io.ReadWriteSeeker": ("Read", "Write", "Seek"),
        "io.ByteReader": ("ReadByte",),
        "io.ByteScanner": ("ReadByte", "UnreadByte"),
        "io.ByteWriter": ("WriteByte",),
        "io.RuneReader": ("ReadRune",),
        "io.RuneScanner": ("ReadRune", "UnreadRune"),
        "io.StringWriter": ("WriteString",),
        "io.ReaderFrom": ("ReadFrom",),
        "io.WriterTo": ("WriteTo",),
        "fmt.Stringer": ("String",),
    }.items()
}


def narrows(pkg: Package, tname: str | None, rule: Rule) -> bool:
    """Is `tname` an interface none of whose methods releases under `rule` (io.Reader
    for a file, whose release is Close)? A callee given the resource as one can only
    read or write it, keep it, or pass it on. Interfaces of this package count when
    all their methods are spelled out (nothing embedded); `any` does not (it is how
    values are put in containers, to be asserted back and released later)."""
    return narrows_methods(interface_methods(pkg, tname), rule)


def narrows_methods(methods: Iterable[str] | None, rule: Rule) -> bool:
    """`narrows`, for an interface with these methods."""
    release = rule.release
    if not methods or not release.methods or release.call or release.functions or release.via:
        return False
    return frozenset(methods).isdisjoint(release.methods)


def interface_methods(pkg: Package, tname: str | None) -> frozenset[str] | None:
    """The methods of the standard library's small interface `tname`, or of this
    package's interface that spells them all out; None for anything else."""
    if not tname:
        return None
    methods = _STD_INTERFACES.get(tname)
    if methods is None and tname.startswith("."):
        decl = pkg.symbols.types.get(tname[1:])
        if decl is not None and decl.kind == "interface" and not decl.embedded:
            methods = frozenset(decl.methods)
    return methods


# The methods of the standard library's reader and writer interfaces.
_IO_METHODS = frozenset().union(*_STD_INTERFACES.values()) - {"String"}


def _io_like(methods: frozenset[str] | None) -> bool:
    """Does an interface read or write like the io interfaces (a `Read` or a `Write`
    among its methods)? Only those are summarized for importers: the resources read
    and written through them (files, conns, pipes) are the ones passed as interfaces,
    and following every interface parameter of every exported function (a `Backend`)
    cost a tenth of a scan."""
    return bool(methods) and bool(methods & _IO_METHODS)


def _asserted_in(func: Node, name: str) -> bool:
    """Does the function type-assert `name` (`name.(io.Closer)`, `name.(type)`)? Then
    what it asserts may be released: a narrowing interface tells nothing."""
    body = child(func, "body")
    data = body.text or b"" if body is not None else b""
    return re.search(rb"\b" + re.escape(name.encode()) + rb"\s*\.\s*\(", data) is not None


def _follow(pkg: Package, fn: Function, name: str, rule: Rule) -> str:
    from leakaudit.checks.obligation import flow_param

    outcome = flow_param(pkg, fn, rule, name)
    if outcome.handed_off or outcome.overwritten:
        return KEEPS
    if not outcome.leaks:
        return RELEASES
    if not outcome.released and not outcome.exhausted:
        return BORROWS
    leaking = [node for block, node in outcome.leaks if block is not None]
    # Iterated to the end is closed, so a scan that returns early only on a failed Scan
    # releases on success; but rows left open on a success path (a first row read)
    # must still be closed by the caller: a borrow, whatever the end of them does.
    return _conditional(pkg, fn, leaking) or (SOME if outcome.released else BORROWS)


def _conditional(pkg: Package, fn: Function, returns: list[Node]) -> str | None:
    """ON_SUCCESS when every return that leaves the parameter unreleased returns a
    non-nil error, ON_FAILURE when every such return returns a nil one; None when
    the function returns no error, or the leaking paths are not told apart by it (a
    naked return, an error variable that may be nil there, both kinds)."""
    if not returns or not returns_error_last(fn.node):
        return None
    kinds = {error_returned(ret, pkg.symbols.vars) for ret in returns}
    if kinds == {"error"}:
        return ON_SUCCESS
    if kinds == {"nil"}:
        return ON_FAILURE
    return None


def returns_error_last(func: Node) -> bool:
    """The function's last declared result is an `error`."""
    result = child(func, "result")
    if result is None:
        return False
    if result.type == "parameter_list":
        decls = [d for d in result.named_children if d.type == "parameter_declaration"]
        if not decls:
            return False
        result = child(decls[-1], "type")
    return result is not None and text(result) == "error"


_MADE = frozenset({"call_expression", "composite_literal", "unary_expression"})


def error_returned(ret: Node, package_vars: Container[str]) -> str | None:
    """ "nil" when a return's last value is nil; "error" when it is surely not: a call
    (`fmt.Errorf(...)`), a literal, a sentinel (`sql.ErrNoRows`, a package's `errFoo`
    among `package_vars`),
    or a variable the enclosing `if` found non-nil; None otherwise (a naked return,
    `return v, err` where err may be nil)."""
    values = return_values(ret)
    if not values:
        return None
    last = unparen(values[-1])
    if last is None:
        return None
    if last.type == "nil":
        return "nil"
    if last.type in _MADE:
        return "error"
    if last.type == "selector_expression":
        return "error" if text(child(last, "field")).startswith("Err") else None
    if last.type != "identifier":
        return None
    name = text(last)
    if name in package_vars and name.lower().startswith("err"):
        return "error"
    return "error" if checked_non_nil(ret, lambda n: n == name) else None


def is_error_name(name: str) -> bool:
    """`err`, `errRead`, `readErr`: what Go code names its error variables."""
    return name.startswith("err") or name.endswith("Err")


def checked_non_nil(node: Node, named: Callable[[str], bool]) -> bool:
    """`node` sits in a branch of an `if` whose condition says that a variable whose
    name is `named` is not nil there."""
    from leakaudit.checks import nilness

    inner, cur = node, node.parent
    while cur is not None and cur.type not in ("function_declaration", "method_declaration"):
        if cur.type == "func_literal":
            return False
        if cur.type == "if_statement" and inner != child(cur, "condition"):
            branch = inner == child(cur, "consequence")
            if (branch or inner == child(cur, "alternative")) and nilness.established(
                child(cur, "condition"), branch, lambda n, nil: not nil and named(n)
            ):
                return True
        inner, cur = cur, cur.parent
    return False


def _implemented_elsewhere(pkg: Package, receiver: str) -> bool:
    """An interface of this package implemented in another package of the module."""
    return receiver in pkg.symbols.types and pkg.module.elsewhere(receiver)


def _runs(pkg: Package, callee: Callee) -> tuple[Node, SourceFile] | None:
    """The declaration in this package that a call of its function or method runs: for
    a method of its interface, the one implementation's (None when that is in another
    package, or there is no body to read)."""
    receiver = callee.receiver
    if receiver is not None and receiver in pkg.symbols.types:
        if _implemented_elsewhere(pkg, receiver):
            return None
        receiver = sole_implementation(pkg, receiver) or receiver
    return _declared(pkg, receiver, callee.name)


def fresh_result(pkg: Package, rule: Rule, callee: Callee, resource: int) -> bool:
    """Does this package's function return a resource its caller must release at
    result `resource`? Not when every value it returns there is read from a field, a
    collection or a package variable (a getter); is a variable released (or given to
    `t.Cleanup`) just before the return; is a variable that also went somewhere else
    (captured by a closure, passed on, stored: released through that other handle, as
    a body wrapped in a returned ReadCloser is); or is what such a function returns.
    A body we cannot see is taken at its type."""
    receiver = callee.receiver
    if receiver is not None and _implemented_elsewhere(pkg, receiver):
        facts = pkg.module.implemented(f"{pkg.module.own}.{receiver}.{callee.name}")
        return facts is None or resource in facts.fresh
    found = _runs(pkg, callee)
    if found is None:
        return True
    # Recursion: a function whose returns are getters or itself hands out nothing;
    # failing that, at its type.
    key = ("fresh-result", found[0].id, resource, rule.id)
    solver = pkg.memo("fixpoint-solver", Solver)
    return bool(
        solve(
            pkg._cache,
            solver,
            key,
            lambda: _fresh(pkg, found[0], found[1], rule, resource),
            (False,),
            True,
        )
    )


def _fresh(pkg: Package, decl: Node, source: SourceFile, rule: Rule, resource: int) -> bool:
    return next(_fresh_returns(pkg, decl, source, rule, resource), None) is not None


def _fresh_returns(
    pkg: Package, decl: Node, source: SourceFile, rule: Rule, resource: int
) -> Iterator[Node]:
    """The returns that hand out a fresh resource at result `resource` (the
    declaration itself when it has no body to read)."""
    body = child(decl, "body")
    if body is None:
        yield decl
        return
    fn = pkg.function(decl, source)
    for node in walk(body):
        if node.type != "return_statement":
            continue
        values = return_values(node)
        if not values:  # a naked return: the named result's value there
            named = _named_result(decl, resource)
            if named is None or fn is None:
                yield node  # cannot tell
            elif _assigned_before(body, named, node) and _hands_out(
                pkg, fn, source, decl, node, named, rule
            ):
                yield node
            continue
        if len(values) <= resource:
            if len(values) == 1 and resource > 0 and fn is not None:
                if _returns_fresh(pkg, fn, values[0], rule, resource):  # return f()
                    yield node
                continue
            yield node
            continue
        value = unparen(values[resource])
        if value is None or value.type == "nil":
            continue
        if value.type in ("selector_expression", "index_expression"):
            continue  # read from a field or a collection
        if rule.release.via and fn is not None and _in_memory(fn, value, rule.release.via, body):
            continue  # `&http.Response{Body: io.NopCloser(&buf)}`: nothing to close
        if value.type == "call_expression" and fn is not None:
            if _returns_fresh(pkg, fn, value, rule, 0):
                yield node
            continue
        if value.type == "identifier" and fn is not None:
            name = text(value)
            if name == _named_result(decl, resource) and not _assigned_before(body, name, node):
                continue  # the named result, never set before: nil
            if _hands_out(pkg, fn, source, decl, node, name, rule):
                yield node
            continue
        yield node


def _hands_out(
    pkg: Package, fn: Function, source: SourceFile, decl: Node, ret: Node, name: str, rule: Rule
) -> bool:
    """The return `ret` hands out a fresh resource held by the variable `name`."""
    if _released_before(ret, name, rule) or _released_in(ret, name, rule):
        return False
    if name in pkg.symbols.vars and not pkg.file_types[source.path].declares(decl, name):
        return False  # a package variable's value: a getter
    body = child(decl, "body")
    assert body is not None
    return not _escapes(pkg, fn, name, rule, body) and not _holds_stale(pkg, fn, name, rule)


def _named_result(decl: Node, index: int) -> str | None:
    """The name of the function's result `index`, when its results are named."""
    result = child(decl, "result")
    if result is None or result.type != "parameter_list":
        return None
    names = [
        text(name)
        for d in result.named_children
        if d.type == "parameter_declaration"
        for name in d.children_by_field_name("name")
    ]
    return names[index] if index < len(names) else None


def _assigned_before(body: Node, name: str, ret: Node) -> bool:
    """Some statement before `ret` assigns the named result `name`: a plain `=`
    anywhere (a closure's too), a `:=` only in the body's own statements (deeper, it
    declares a new variable). Before any, the named result is still nil."""
    data = (body.text or b"")[: ret.start_byte - body.start_byte]
    if name.encode() not in data:
        return False
    top = next((c for c in body.named_children if c.type == "statement_list"), body)
    for node in walk(body, into_funcs=True):
        if node.start_byte >= ret.start_byte:
            break
        if node.type not in ("assignment_statement", "short_var_declaration"):
            continue
        if node.type == "short_var_declaration" and node.parent != top:
            continue
        if any(text(n) == name for n in expressions(child(node, "left"))):
            return True
    return False


def fresh_unless(pkg: Package, rule: Rule, callee: Callee, resource: int) -> tuple[int, str] | None:
    """For this package's function whose result `resource` is fresh: the (parameter,
    boolean field) that, set by the caller, makes the function release it instead
    (module/flags.py)."""
    found = _runs(pkg, callee)
    if found is None:
        return None
    decl, source = found
    return pkg.memo(  # type: ignore[no-any-return]
        ("fresh-unless", decl.id, resource, rule.id),
        lambda: _exemption(pkg, decl, source, rule, resource),
    )


def _exemption(
    pkg: Package, decl: Node, source: SourceFile, rule: Rule, resource: int
) -> tuple[int, str] | None:
    busy: set[int] = pkg.memo("exemptions-in-progress", set)
    if decl.id in busy:
        return None  # recursion: no option known yet
    if not flags.tests_a_flag(decl) and not _RETURNS_A_CALL.search(decl.text or b""):
        return None
    busy.add(decl.id)
    try:
        returns = list(_fresh_returns(pkg, decl, source, rule, resource))
        failing = {
            ret
            for ret in returns
            if ret.type == "return_statement" and _fails(ret, _returned_name(ret, resource), pkg)
        }
        fn = pkg.function(decl, source)
        passed = {
            ret: flag
            for ret in returns
            if fn is not None and (flag := _passes_option(pkg, fn, ret, rule, resource))
        }
        return flags.exemption(decl, returns, failing, passed)
    finally:
        busy.discard(decl.id)


_RETURNS_A_CALL = re.compile(rb"\breturn\s+[\w.]+\(")


def _passes_option(
    pkg: Package, fn: Function, ret: Node, rule: Rule, resource: int
) -> tuple[str, str] | None:
    """`return c.client.Call(ctx, opts)`: a wrapper handing its parameter to where the
    wrapped function's option is read. (The parameter's name, the field.)"""
    from leakaudit.checks.sites import callee_of

    values = return_values(ret)
    index = resource if len(values) > 1 else 0
    call = unparen(values[index]) if index < len(values) else None
    if call is None or call.type != "call_expression":
        return None
    callee = callee_of(fn, call)
    if callee is None or callee.package is None:
        return None
    if callee.package == ".":
        flag = fresh_unless(pkg, rule, callee, resource)
    else:
        facts = pkg.module.func(callee.qualified)
        flag = next((u[1:] for u in facts.unless if u[0] == resource), None) if facts else None
    if flag is None:
        return None
    args = [a for a in (child(call, "arguments") or call).named_children if a.type != "comment"]
    arg = unaddressed(args[flag[0]]) if flag[0] < len(args) else None
    if arg is None or arg.type != "identifier":
        return None
    return text(arg), flag[1]


def _returned_name(ret: Node, index: int) -> str | None:
    values = return_values(ret)
    value = unparen(values[index]) if index < len(values) else None
    return text(value) if value is not None and value.type == "identifier" else None


def _fails(ret: Node, name: str | None, pkg: Package) -> bool:
    """The return surely returns a non-nil error: a made one (error_returned), or one
    built just before from the resource itself (`err = handler(resp); ...; return resp,
    err`): a response turned into an error is a failure, where the caller owes nothing."""
    values = return_values(ret)
    if len(values) < 2:
        return False  # `return f()`: whatever f returns
    if error_returned(ret, pkg.symbols.vars) == "error":
        return True
    err = unparen(values[-1])
    if name is None or err is None or err.type != "identifier":
        return False
    error = text(err)
    for stmt in ret.parent.named_children if ret.parent is not None else ():
        if stmt.start_byte >= ret.start_byte:
            break
        if stmt.type not in ("assignment_statement", "short_var_declaration"):
            continue
        left = [text(n) for n in expressions(child(stmt, "left"))]
        right = expressions(child(stmt, "right"))
        call = unparen(right[0]) if len(right) == 1 else None
        if left == [error] and call is not None and call.type == "call_expression":
            args = child(call, "arguments")
            if args is not None and _mentions(args, name):
                return True
    return False


def _in_memory(fn: Function, value: Node, via: str, body: Node) -> bool:
    """A value built here whose `via` field holds nothing to close: a composite literal
    (or the address of one, or a local assigned one and nothing else) that leaves the
    field out, or sets it to `io.NopCloser(...)` or `http.NoBody`."""
    node = unaddressed(value)
    if node is not None and node.type == "identifier":
        name = text(node)
        entries = list(fn.scope.entries(name))
        if len(entries) != 1 or f"{name}.{via} =".encode() in (body.text or b""):
            return False
        node = unaddressed(declared_value(*entries[0]))
    if node is None or node.type != "composite_literal":
        return False
    literal = child(node, "body")
    for element in literal.named_children if literal is not None else ():
        parts = [c for c in element.named_children if c.type != "comment"]
        if element.type != "keyed_element" or len(parts) != 2 or text(parts[0]).strip() != via:
            continue
        found = parts[1]
        inner = unparen(found.named_children[0] if found.type == "literal_element" else found)
        if inner is None:
            return False
        if inner.type == "call_expression":
            return callee_name(inner) == "NopCloser"
        return inner.type == "selector_expression" and text(child(inner, "field")) == "NoBody"
    return True  # the field left out: nil (a client would put http.NoBody there)


def _holds_stale(pkg: Package, fn: Function, name: str, rule: Rule) -> bool:
    """Every assignment of `name` takes the result of a call that hands out nothing
    fresh (`s := servDir(t, dir)`, where servDir gave it to t.Cleanup): returning it
    hands out nothing fresh either."""
    entries = list(fn.scope.entries(name))
    if not entries:
        return False
    for decl, position in entries:
        values = expressions(child(decl, "right") or child(decl, "value"))
        if len(values) == 1 and position > 0:
            call, index = unparen(values[0]), position  # `u, s := helper(t)`
        else:
            call, index = declared_value(decl, position), 0
        if call is None or call.type != "call_expression":
            return False
        if _returns_fresh(pkg, fn, call, rule, index):
            return False
    return True


def _returns_fresh(pkg: Package, fn: Function, call: Node, rule: Rule, resource: int) -> bool:
    """`return f(...)`: fresh when f's result is; a call we cannot see, at its type."""
    from leakaudit.checks.sites import callee_of

    inner = unparen(call)
    if inner is None or inner.type != "call_expression":
        return True
    callee = callee_of(fn, inner)
    if callee is None:
        return True  # a func value: cannot tell
    if callee.package == ".":
        return fresh_result(pkg, rule, callee, resource)
    if callee.package is not None:
        facts = pkg.module.func(callee.qualified)
        if facts is not None:
            return resource in facts.fresh
        if pkg.module.split(callee.qualified) is not None:
            return True  # a module function its package's summary says nothing of
    return _acquires(pkg, fn, rule, callee, resource)


def _acquires(pkg: Package, fn: Function, rule: Rule, callee: Callee, resource: int) -> bool:
    """A call outside the module (or on a receiver we cannot type) hands out a fresh
    resource only where the rule's acquisitions match it when it is called directly:
    by name, or by a declared result type we know. Passing on a result nothing types (a
    websocket dialer's handshake response, which needs no close) makes a helper no
    acquirer."""
    results: list[str | None] | None = None
    for spec in rule.acquire:
        if spec.calls:
            if callee.name not in spec.calls or spec.resource != resource:
                continue
            if callee.package is None:  # by name and shape, as sites.py matches it
                if spec.types and spec.unknown_receivers and spec.package in pkg.symbols.imported:
                    return True
            elif callee.package == spec.package and (
                callee.receiver in spec.types if spec.types else callee.receiver is None
            ):
                return True
        elif spec.returns:
            results = fn.types.results_of(callee) if results is None else results
            if resource < len(results) and results[resource] == spec.returns:
                return True
    return False


def _escapes(pkg: Package, fn: Function, name: str, rule: Rule, body: Node) -> bool:
    """`name` goes to something that may release it, besides the return: a closure
    that releases it or passes it on, or a call it (or its `via` field) is passed to
    (a body wrapped in a returned ReadCloser). A closure that only reads it, or a
    store into a field or variable (an alias: the caller still gets the resource to
    release), does not count."""
    uses = UseClassifier(name, rule.release, fn.types, fn.scope, fn.spend)
    for occ in walk(body, into_funcs=True):
        if occ.type == "func_literal":
            inner = child(occ, "body")
            if inner is not None and uses.effect(inner).use >= Use.HANDOFF:
                return True
            continue
        if occ.type != "identifier" or text(occ) != name:
            continue
        if _inside(occ, "return_statement", body) or _inside(occ, "func_literal", body):
            continue
        if uses._occurrence(occ).use == Use.HANDOFF and not _on_failure(occ, body, name, pkg):
            return True
    return False


def _on_failure(occ: Node, body: Node, name: str, pkg: Package) -> bool:
    """`occ` sits in a branch that ends by returning a non-nil error (`err =
    api.errorHandler(resp); return resp, err`): what it does there does not reach the
    function's successful returns."""
    cur = occ.parent
    while cur is not None and cur != body:
        if cur.type == "block":
            stmts = statements(cur)
            last = stmts[-1] if stmts else None
            if last is not None and last.type == "return_statement" and _fails(last, name, pkg):
                return True
        cur = cur.parent
    return False


def _inside(node: Node, kind: str, stop: Node) -> bool:
    cur = node.parent
    while cur is not None and cur != stop:
        if cur.type == kind:
            return True
        cur = cur.parent
    return False


def _released_before(ret: Node, var: str, rule: Rule) -> bool:
    """A statement before `ret`, in its block or a block around it, releases `var`
    (`f.Close(); return f`, `if err := f.Close(); ...`, `err = f.Close()`, `defer
    f.Close()`, `defer resp.Body.Close()` for a rule with `via`), or hands it to
    `t.Cleanup`: on that path the caller gets nothing to release."""
    released = f"{var}.{rule.release.via}" if rule.release.via else var
    inner, block = ret, ret.parent
    while block is not None and block.type not in ("function_declaration", "method_declaration"):
        if block.type == "func_literal":
            return False
        for stmt in block.named_children:
            if stmt.start_byte >= inner.start_byte:
                break
            if _releases_in(stmt, var, released, rule):
                return True
        inner, block = block, block.parent
    return False


def _released_in(ret: Node, var: str, rule: Rule) -> bool:
    """The return releases `var` itself: `return resp, drainAndClose(resp.Body)`, a
    call named for a release method (`Close` in `drainAndClose`) given the resource,
    or its release method called on it."""
    released = f"{var}.{rule.release.via}" if rule.release.via else var
    words = tuple(m.lower() for m in rule.release.methods)
    for node in walk(ret):
        if node.type != "call_expression":
            continue
        function = unparen(child(node, "function"))
        if function is None:
            continue
        if function.type == "selector_expression":
            if (
                text(child(function, "operand")) == released
                and text(child(function, "field")) in rule.release.methods
            ):
                return True
            name = text(child(function, "field")).lower()
        else:
            name = text(function).lower()
        args = child(node, "arguments")
        if (
            any(w in name for w in words)
            and args is not None
            and any(text(unparen(a)) in (var, released) for a in args.named_children)
        ):
            return True
    return False


def _releases_in(stmt: Node, var: str, released: str, rule: Rule) -> bool:
    head = child(stmt, "initializer") if stmt.type == "if_statement" else stmt
    if head is None or head.type not in _RELEASING_STATEMENTS:
        return False
    for node in walk(head):
        fn = unparen(child(node, "function")) if node.type == "call_expression" else None
        if fn is None or fn.type != "selector_expression":
            continue
        operand, method = text(child(fn, "operand")), text(child(fn, "field"))
        if operand == released and method in rule.release.methods:
            return True
        if method == "Cleanup" and _mentions(child(node, "arguments"), var):
            return True  # t.Cleanup(func() { f.Close() }), t.Cleanup(f.Close)
    return False


def _mentions(node: Node | None, var: str) -> bool:
    return node is not None and any(
        n.type == "identifier" and text(n) == var for n in walk(node, into_funcs=True)
    )


_RELEASING_STATEMENTS = frozenset(
    {"expression_statement", "defer_statement", "assignment_statement", "short_var_declaration"}
)


# -- the exported summary ----------------------------------------------------------------------


def summarize(pkg: Package, path: str) -> PackageSummary:
    """The package's summary for importers: its exported declarations (non-test files),
    and for each function spelling a resource type in its signature, what it does
    with such parameters and whether such results are fresh."""
    files = [f for f in pkg.files if not f.is_test]
    # Declarations of the whole package: those of its test files cannot be named by an
    # importer, so exporting them too changes nothing (and collecting the symbols of the
    # non-test files again cost a fifth of the summary).
    out = declared(pkg.symbols, path)
    kinds = pkg.resource_rules
    # The resource types' names, and those of the interfaces that may narrow them.
    narrowing = {name.rsplit(".", 1)[-1] for name in _STD_INTERFACES} | {
        name for name in pkg.symbols.types if _io_like(interface_methods(pkg, "." + name))
    }
    spells = tuple(sorted({*_spelling(kinds), *(n.encode() for n in narrowing)}))
    stops = stopping_names(pkg)
    for source in files:
        imports = pkg.symbols.imports_by_root.get(source.root.id, {})
        for decl in pkg.declarations_in(source):
            name = _name_of(decl)
            if not name[:1].isupper():
                continue
            key = name if decl.type == "function_declaration" else f"{_receiver_type(decl)}.{name}"
            facts = out.funcs.get(key)
            if facts is None:
                continue
            if _spells(decl, spells):
                facts = _facts(pkg, decl, source, imports, facts, kinds)
            if name in stops and declared_never_returns(pkg, decl, source):
                facts = replace(facts, noreturn=True)
            out.funcs[key] = facts
    _interfaces(pkg, out, kinds)
    from leakaudit.module.owners import owners, qualified

    out.owners = {path + name: qualified(o, path) for name, o in owners(pkg).items()}
    from leakaudit.module.locks import exported_locks

    out.locks = exported_locks(pkg)
    return _pruned(out).seal()


def _interfaces(pkg: Package, out: PackageSummary, kinds: dict[str, Rule]) -> None:
    """The facts of an interface's methods: its one implementation's in the package,
    when it has exactly one (outside tests); else at their declared types, each
    resource-typed result fresh, as a call through the interface was before summaries."""
    search = _words(_spelling(kinds)).search
    for tname, decl in pkg.symbols.types.items():
        if decl.kind != "interface" or not decl.methods:
            continue
        if decl.body is None or not search(decl.body.text or b""):
            continue  # names no resource type: nothing to say about its methods
        impl = sole_implementation(pkg, tname)
        for method in decl.methods:
            key = f"{tname}.{method}"
            facts = out.funcs.get(key)
            if facts is None:
                continue
            found = out.funcs.get(f"{impl}.{method}") if impl is not None else None
            if found is not None and len(found.results) == len(facts.results):
                out.funcs[key] = replace(found, results=facts.results)
            else:
                fresh = tuple(i for i, t in enumerate(facts.results) if t in kinds)
                out.funcs[key] = replace(facts, fresh=fresh)


def _named(tname: str | None) -> bool:
    """A type typing can go on from: a named type (`path.T`), not a builtin or a
    composite it does not follow (None)."""
    return tname is not None and "." in tname


def _pruned(summary: PackageSummary) -> PackageSummary:
    """Only what can change an importer's analysis: a function whose results are all
    builtin or unfollowed types, with no facts, types nothing the checks look at (a
    summary is sent to every unit importing it; most functions return error, string
    or bool)."""
    summary.funcs = {
        key: facts
        for key, facts in summary.funcs.items()
        if facts.fresh
        or facts.params
        or facts.lends
        or facts.noreturn
        or any(map(_named, facts.results))
    }
    summary.fields = {
        owner: kept
        for owner, fields in summary.fields.items()
        if (kept := {name: t for name, t in fields.items() if _named(t)})
    }
    summary.vars = {name: t for name, t in summary.vars.items() if _named(t)}
    return summary


def _facts(
    pkg: Package,
    decl: Node,
    source: SourceFile,
    imports: dict[str, str],
    facts: FuncFacts,
    kinds: dict[str, Rule],
) -> FuncFacts:
    fresh = tuple(
        i
        for i, t in enumerate(facts.results)
        if t in kinds and _fresh(pkg, decl, source, kinds[t], i)
    )
    params: list[tuple[int, str]] = []
    lends: list[tuple[int, tuple[str, ...]]] = []
    fn = pkg.function(decl, source)
    if fn is not None:
        for param in params_of(decl, imports):
            if param.variadic:
                continue
            rule = kinds.get(param.type) if param.type is not None else None
            if rule is not None:
                effect = param_effect(pkg, fn, param.index, rule)
                if effect is not None:
                    params.append((param.index, effect))
                continue
            # A narrowing interface: what it cannot release, it can only borrow or keep.
            methods = interface_methods(pkg, param.type)
            narrowed = _narrowed_rule(methods, kinds) if _io_like(methods) else None
            if narrowed is not None and param_effect(pkg, fn, param.index, narrowed) == BORROWS:
                lends.append((param.index, tuple(sorted(methods or ()))))
    unless = tuple(
        (i, *flag)
        for i in fresh
        if (flag := _exemption(pkg, decl, source, kinds[facts.results[i]], i))  # type: ignore[index]
    )
    return FuncFacts(facts.results, fresh, tuple(params), lends=tuple(lends), unless=unless)


def _narrowed_rule(methods: frozenset[str] | None, kinds: dict[str, Rule]) -> Rule | None:
    """One rule to follow a narrowing-interface parameter by, for every rule it
    narrows: none of their release methods can be called through it, so they differ
    only in their borrowers, which are all taken. Only rules whose resource is read or
    written through such interfaces (those listing borrowers: files, conns, pipes)
    count. Following it once per rule cost a tenth of a scan."""
    rules = {
        rule.id: rule
        for rule in kinds.values()
        if rule.release.borrowers and narrows_methods(methods, rule)
    }
    if not rules:
        return None
    base = rules[min(rules)]
    borrowers = tuple(sorted({b for rule in rules.values() for b in rule.release.borrowers}))
    # Its id keys the parameter's memo: one per set of rules it stands for.
    name = "narrowed:" + "+".join(sorted(rules))
    return replace(base, id=name, release=replace(base.release, borrowers=borrowers))


def _spelling(kinds: Iterable[str]) -> tuple[bytes, ...]:
    return tuple(sorted({k.rsplit(".", 1)[-1].encode() for k in kinds}))


def _spells(decl: Node, words: tuple[bytes, ...]) -> bool:
    """The signature (parameters and results) names one of the resource types' last
    names: the cheap test before any typing (one search of literals, not one `in`
    per word)."""
    search = _words(words).search
    for part in (child(decl, "parameters"), child(decl, "result")):
        data = part.text or b"" if part is not None else b""
        if data and search(data):
            return True
    return False


@lru_cache(maxsize=8)
def _words(words: tuple[bytes, ...]) -> re.Pattern[bytes]:
    return re.compile(b"|".join(re.escape(w) for w in words) or b"(?!)")


def _name_of(decl: Node) -> str:
    return text(child(decl, "name"))


def _receiver_type(method: Node) -> str:
    return method_receiver(method)[1]
