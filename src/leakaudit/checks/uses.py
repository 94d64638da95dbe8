"""What one statement does to a tracked variable: release it, hand it off, store it...

The policy, and why: a resource used as a *value* (returned, passed, sent, stored,
aliased, captured by an escaping closure) is someone else's to release — flagging
those is what makes peers' linters noisy. Method calls and field reads on it, and
comparisons, are plain uses. Passing it to a known *borrower* (io.ReadAll(resp.Body))
is a plain use too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from fnmatch import fnmatchcase
from functools import cached_property
from typing import Protocol

from tree_sitter import Node

from leakaudit.facts.typing import FileTypes, Names
from leakaudit.module.summary import BORROWS, ON_FAILURE, ON_SUCCESS, RELEASES
from leakaudit.parsing.syntax import (
    calls_bare,
    expressions,
    parent_of,
    path_of,
    text,
    unparen,
    walk,
)
from leakaudit.parsing.syntax import field as child
from leakaudit.ruleset.model import ReleaseSpec


class Use(IntEnum):
    """Ordered by strength: a statement's effect is its strongest use."""

    NONE = 0
    ASSIGNED = 1  # the variable is overwritten by something else
    BLANK = 2  # `_ = v`
    STORED = 3  # `x.f = v`, `T{f: v}`: handed off into a field
    HANDOFF = 4
    RELEASE = 5


@dataclass(frozen=True)
class Effect:
    use: Use = Use.NONE
    field: str | None = None  # for STORED: the field name
    owner: str | None = None  # for STORED: the struct type declaring the field, if known
    lent: Node | None = None  # a call the variable was passed to that keeps nothing of it
    wraps: bool = False  # ... or that wraps it in a value with no way to release it
    to: str = ""  # for HANDOFF and STORED: where it went, for the reports ("returned")
    # For a RELEASE by a callee that releases only when it succeeds (ON_SUCCESS) or
    # only when it fails (ON_FAILURE): which, the call, and the variable its error
    # result is bound to (None: not bound, so its outcome is never looked at).
    unless: str | None = None
    call: Node | None = None
    err: str | None = None


NO_EFFECT = Effect()


# What a callee does with the argument at an index (-1: its receiver), or with the
# rule's `via` field of it (resp.Body) when the flag says so, or with a field path of
# it (`mu` of `s`, when `s.mu` is held and `s` is passed): a leakaudit.module.summary
# effect (RELEASES, ON_SUCCESS, ...), or None unknown.
class Passes(Protocol):
    def __call__(self, call: Node, index: int, via: bool, field: str = "") -> str | None: ...


def _free(_: int) -> None:
    return None


class UseClassifier:
    def __init__(
        self,
        var: str,
        release: ReleaseSpec,
        types: FileTypes,
        scope: Names,
        spend: Callable[[int], None] = _free,
        passes: Passes | None = None,
    ) -> None:
        self.var = var
        # A path (`s.mu`): what is held is a field, found as that chain of selectors;
        # a statement that does not name its variable (`s`) cannot touch it.
        self.path = "." in var
        self.needle = var.split(".", 1)[0].encode()
        self.passes = passes
        self.release = release
        self.types = types
        self.scope = scope
        # Charged with the nodes each walk visits (Function.spend): nested closures make
        # walks over walks, and the budget turns that into a note instead of a stall.
        self.spend = spend

    def effect(self, node: Node | None) -> Effect:
        """The strongest effect of `node` (a statement or expression) on the variable."""
        if node is None:
            return NO_EFFECT
        data = node.text or b""
        helpers = self.helpers
        if self.needle not in data and not any(h.encode() in data for h in helpers):
            return NO_EFFECT
        self.spend(node.descendant_count)
        best = NO_EFFECT
        for occ in walk(node):
            if occ.type == "func_literal" and occ != node:
                eff = self._closure(occ)
            elif self._names_var(occ):
                eff = self._occurrence(occ)
            elif self.path and occ.type == "call_expression":
                eff = self._holder_passed(occ)
            elif occ.type == "identifier" and text(occ) in helpers:
                eff = self._helper(occ)
            else:
                continue
            if eff.use > best.use or (eff.lent is not None and best is NO_EFFECT):
                best = eff
        return best

    def releases(self, node: Node) -> bool:
        self.spend(node.descendant_count)
        helpers = self.helpers
        return any(
            (self._names_var(occ) and self._occurrence(occ).use == Use.RELEASE)
            or (
                occ.type == "identifier"
                and text(occ) in helpers
                and self._helper(occ).use == Use.RELEASE
            )
            for occ in walk(node, into_funcs=True)
        )

    def escapes(self, node: Node) -> bool:
        """Is the variable handed somewhere other than a field anywhere in `node`
        (returned, passed on, sent, captured), whoever gets it there may release it?"""
        self.spend(node.descendant_count)
        return any(
            self._names_var(occ) and self._occurrence(occ).use == Use.HANDOFF
            for occ in walk(node, into_funcs=True)
        )

    def _holder_passed(self, call: Node) -> Effect:
        """A call given what holds the path (`s.unlockAll()`, `finish(s)` while `s.mu`
        is held): what the callee does with that field of its receiver or parameter."""
        if self.passes is None:
            return NO_EFFECT
        function = unparen(child(call, "function"))
        holders: list[tuple[int, Node]] = []
        if function is not None and function.type == "selector_expression":
            holders.append((-1, child(function, "operand")))
        arguments = child(call, "arguments")
        args = [a for a in arguments.named_children if a.type != "comment"] if arguments else []
        holders.extend(enumerate(args))
        for index, node in holders:
            holder = path_of(unparen(node))
            if holder is None or not self.var.startswith(holder + "."):
                continue
            effect = self.passes(call, index, False, self.var[len(holder) + 1 :])
            if effect == RELEASES:
                return Effect(Use.RELEASE)
            if effect is not None and effect != BORROWS:
                return Effect(Use.HANDOFF, to=f"its holder passed to {_said(function)}()")
        return NO_EFFECT

    def _names_var(self, occ: Node) -> bool:
        """Is `occ` the tracked variable (or, for a path, that chain of selectors)?"""
        if self.path:
            return occ.type == "selector_expression" and path_of(occ) == self.var
        return occ.type == "identifier" and text(occ) == self.var

    @cached_property
    def helpers(self) -> dict[str, Effect]:
        """Locals bound once to a func literal that releases the variable (or hands it
        on): `fail := func(err error) error { cancel(); return err }`. Calling one is
        what releases it, on the paths that call it; the binding alone does nothing."""
        body = getattr(self.scope, "body", None)
        literal = getattr(self.scope, "literal", None)
        if body is None or literal is None or self.var.encode() not in (body.text or b""):
            return {}
        out: dict[str, Effect] = {}
        for lit in _bound_literals(body):
            name = _bound_name(lit)
            inner = child(lit, "body")
            if name is None or inner is None or _declares(lit, self.var):
                continue
            if self.var.encode() not in (inner.text or b"") or literal(name) != lit:
                continue
            if self._plain_releases(inner):
                out[name] = Effect(Use.RELEASE)
        return out

    def _plain_releases(self, node: Node) -> bool:
        return any(
            self._names_var(occ) and self._occurrence(occ).use == Use.RELEASE
            for occ in walk(node, into_funcs=True)
        )

    def _helper(self, occ: Node) -> Effect:
        """An occurrence of a releasing helper's name: called, it releases; given away
        (passed, stored, returned), whoever gets it may call it."""
        parent = parent_of(occ)
        called = parent is not None and parent.type == "call_expression"
        if called and unparen(child(parent, "function")) == occ:
            return self.helpers[text(occ)]
        if parent is not None and parent.type in (
            "argument_list",
            "return_statement",
            "expression_list",
            "literal_element",
        ):
            if parent.type == "expression_list" and _bound_name_node(occ):
                return NO_EFFECT  # its own binding
            return Effect(Use.HANDOFF, to=f"its releasing {text(occ)} given away")
        return NO_EFFECT

    def _closure(self, lit: Node) -> Effect:
        body = child(lit, "body")
        data = (body.text or b"") if body is not None else b""
        if self.var.encode() not in data and not any(h.encode() in data for h in self.helpers):
            return NO_EFFECT
        if body is None or _declares(lit, self.var):
            return NO_EFFECT
        name = _bound_name(lit)
        if name is not None and name in self.helpers:
            return NO_EFFECT  # a helper: its calls release, not its binding
        if self.releases(body):
            return Effect(Use.RELEASE)
        parent = parent_of(lit)
        invoked = parent is not None and parent.type == "call_expression"
        invoked = invoked and unparen(child(parent, "function")) == lit
        if invoked:
            inner = self.effect(body)
            return inner if inner.use >= Use.HANDOFF else NO_EFFECT
        return Effect(Use.HANDOFF, to="captured by a closure")

    def _occurrence(self, occ: Node) -> Effect:
        value = occ
        value, parent = _asserted(value, parent_of(value))
        while (
            parent is not None
            and parent.type == "selector_expression"
            and child(parent, "operand") == value
            and text(child(parent, "field")) in self.release.through
        ):
            value, parent = parent, parent_of(parent)  # e.Mutex stands for e
        via = self.release.via
        if (
            parent is not None
            and parent.type == "selector_expression"
            and child(parent, "operand") == value
        ):
            name = text(child(parent, "field"))
            if via and name == via:
                # resp.Body stands for resp (and resp.Body.(io.WriteCloser) for it too)
                value, parent = _asserted(parent, parent_of(parent))
            else:
                if not via and self._is_release_call(parent, name):
                    return Effect(Use.RELEASE)
                if not via and name in self.release.methods:
                    released = self._method_value(parent)
                    if released is not None:
                        return released
                if name in self.release.receives and _is_receive(parent):
                    return Effect(Use.RELEASE)
                if name in self.release.closes and _is_closed(parent):
                    return Effect(Use.RELEASE)  # close(w.quit): what w's Close would do
                return NO_EFFECT
        if parent is None:
            return NO_EFFECT
        if parent.type == "unary_expression" and text(child(parent, "operator")) == "*":
            value, parent = (
                parent,
                parent_of(parent),
            )  # `*r` copies the value: it goes where r would
            if parent is None:
                return NO_EFFECT
        kind = parent.type
        if kind == "selector_expression" and child(parent, "operand") == value:
            # resp.Body.Close(), or a method/field of the via value
            name = text(child(parent, "field"))
            if self._is_release_call(parent, name):
                return Effect(Use.RELEASE)
            if name in self.release.methods:
                # `defer logErr(resp.Body.Close)`: the method value, given away
                released = self._method_value(parent)
                if released is not None:
                    return released
            return NO_EFFECT
        if kind == "call_expression":
            if unparen(child(parent, "function")) == value:
                return Effect(Use.RELEASE) if self.release.call else NO_EFFECT
            return NO_EFFECT
        if kind == "argument_list":
            if self._called(parent.parent, self.release.functions):
                return Effect(Use.RELEASE)  # `signal.Stop(ch)`
            if self._called(parent.parent, self.release.borrowers):
                return NO_EFFECT
            return self._passed(parent, value)
        if kind == "expression_list":
            return self._in_list(parent, value)
        if kind == "return_statement":
            return Effect(Use.HANDOFF, to="returned")
        if kind == "send_statement":
            if child(parent, "value") != value:
                return NO_EFFECT
            return Effect(Use.HANDOFF, to=f"sent on {_said(child(parent, 'channel'))}")
        if kind == "literal_element":
            holder = parent.parent
            if holder is not None and holder.type == "keyed_element":
                if child(holder, "key") == parent:
                    return NO_EFFECT
                key = child(holder, "key")
                if key is None:
                    return Effect(Use.HANDOFF, to="put in a composite literal")
                name = text(key).strip()
                return Effect(
                    Use.STORED,
                    name,
                    self._literal_owner(holder, name),
                    to=f"stored in field {name}",
                )
            return Effect(Use.HANDOFF, to="put in a composite literal")
        if kind == "unary_expression" and text(child(parent, "operator")) == "&":
            return Effect(Use.HANDOFF, to="shared by its address")
        if kind in ("range_clause",):
            return NO_EFFECT
        return NO_EFFECT

    def _in_list(self, lst: Node, value: Node) -> Effect:
        holder = lst.parent
        if holder is None:
            return NO_EFFECT
        kind = holder.type
        if kind == "return_statement":
            return Effect(Use.HANDOFF, to="returned")
        if kind in ("short_var_declaration", "assignment_statement"):
            left, right = child(holder, "left"), child(holder, "right")
            if lst == left:
                return Effect(Use.ASSIGNED) if value.type == "identifier" else NO_EFFECT
            if lst != right:
                return NO_EFFECT
            values = expressions(right)
            targets = expressions(left)
            index = values.index(value) if value in values else -1
            target = (
                targets[index]
                if 0 <= index < len(targets) and len(values) == len(targets)
                else None
            )
            if value.type == "type_assertion_expression" and len(values) == 1 and targets:
                target = targets[0]  # `tc, ok := conn.(*tls.Conn)`: tc is conn
                if (
                    target.type == "identifier"
                    and kind == "short_var_declaration"
                    and self._only_called(holder, text(target))
                ):
                    return NO_EFFECT  # `tc.SetKeepAlive(true)`: conn itself, borrowed
            if target is not None and target.type == "identifier" and text(target) == "_":
                return Effect(Use.BLANK)
            if target is not None and target.type == "selector_expression":
                name = text(child(target, "field"))
                return Effect(
                    Use.STORED, name, self.field_owner(target), to=f"stored in {_said(target)}"
                )
            where = f"assigned to {_said(target)}" if target is not None else "assigned"
            return Effect(Use.HANDOFF, to=where)
        if kind == "var_spec":
            return Effect(Use.HANDOFF, to="assigned to a variable")
        return NO_EFFECT

    def _only_called(self, declaration: Node, alias: str) -> bool:
        """Is `alias`, declared by `declaration` as the tracked value asserted to
        another type, only used to call methods that do not release it, or compared,
        in the block (or `if`) that declares it? Then it is the value under another
        name, kept by nothing: what the tracked variable owes, it still owes."""
        scope = declaration.parent
        if scope is None or alias == "_":
            return False
        needle = alias.encode()
        if needle not in (scope.text or b""):
            return False
        for occ in walk(scope, into_funcs=True):
            if occ.type != "identifier" or text(occ) != alias or occ.parent is None:
                continue
            parent = occ.parent
            if parent.type == "expression_list" and parent.parent == declaration:
                continue  # the declaration itself
            if parent.type == "binary_expression":
                continue  # tc != nil
            call = parent.parent
            if not (
                parent.type == "selector_expression"
                and child(parent, "operand") == occ
                and call is not None
                and call.type == "call_expression"
                and child(call, "function") == parent
                and text(child(parent, "field")) not in self.release.methods
            ):
                return False
        return True

    def field_owner(self, selector: Node) -> str | None:
        """Declaring struct of the field `x.f` names."""
        owner = self.types.type_of(child(selector, "operand"), self.scope)
        return self.types.symbols.field_owner(owner, text(child(selector, "field")))

    def _literal_owner(self, keyed: Node, name: str) -> str | None:
        literal = keyed.parent
        while literal is not None and literal.type != "composite_literal":
            literal = literal.parent
        if literal is None:
            return None
        tname = self.types.type_of(literal, self.scope)
        return self.types.symbols.field_owner(tname, name)

    def _is_release_call(self, selector: Node, name: str) -> bool:
        call = parent_of(selector)
        return (
            call is not None
            and call.type == "call_expression"
            and unparen(child(call, "function")) == selector
            and name in self.release.methods
        )

    def _method_value(self, selector: Node) -> Effect | None:
        """`v.Close` as a value, not called: given to `t.Cleanup` (or `b.Cleanup`) it
        is a release, as a defer is; passed anywhere else, returned (`return mu.Unlock`)
        or kept in a variable, whoever gets it may call it, so a hand-off."""
        arguments = parent_of(selector)
        if arguments is not None and arguments.type in ("return_statement", "expression_list"):
            holder = arguments if arguments.type == "return_statement" else arguments.parent
            method = text(child(selector, "field"))
            if holder is not None and holder.type == "return_statement":
                return Effect(Use.HANDOFF, to=f"its {method} returned")
            kept = holder is not None and holder.type in _ASSIGNMENTS
            targets = expressions(child(holder, "left")) if kept else []
            if (
                kept
                and any(text(t) != "_" for t in targets)
                and child(holder, "right") == arguments
            ):
                return Effect(Use.HANDOFF, to=f"its {method} kept in a variable")
            return None
        if arguments is None or arguments.type != "argument_list":
            return None
        call = arguments.parent
        fn = unparen(child(call, "function")) if call is not None else None
        cleanup = fn is not None and fn.type == "selector_expression"
        if cleanup and text(child(fn, "field")) == "Cleanup":
            return Effect(Use.RELEASE)
        method = text(child(selector, "field"))
        callee = _said(child(call, "function")) if call is not None else "a call"
        return Effect(Use.HANDOFF, to=f"its {method} passed to {callee}()")

    def _passed(self, arguments: Node, value: Node) -> Effect:
        """Passed as an argument: what the callee's summary says it does with it. A
        callee that releases it on every path releases it; one that only reads it
        leaves the caller owing; one that releases it only when it succeeds (or only
        when it fails) releases it on the caller's paths that know the call did;
        anything else (kept, released on some paths, or not known) is a hand-off, as
        before summaries."""
        call = arguments.parent
        callee = _said(child(call, "function")) if call is not None else "a call"
        handoff = Effect(Use.HANDOFF, to=f"passed to {callee}()")
        if call is None or call.type != "call_expression":
            return handoff
        args = [a for a in arguments.named_children if a.type != "comment"]
        if value not in args:
            return handoff
        effect = None
        if self.passes is not None:
            effect = self.passes(call, args.index(value), value.type == "selector_expression")
        if effect is None and len(args) == 1 and self._wraps(call):
            return Effect(Use.NONE, lent=call, wraps=True)  # pb.NewFooClient(conn)
        if effect == RELEASES:
            return Effect(Use.RELEASE)
        if effect == BORROWS:
            return Effect(Use.NONE, lent=call)
        if effect in (ON_SUCCESS, ON_FAILURE):
            return Effect(Use.RELEASE, unless=effect, call=call, err=_error_bound(call))
        return handoff

    def _wraps(self, call: Node) -> bool:
        """Is `call` one of the rule's `wrappers`, by the name of the function called?"""
        if not self.release.wrappers:
            return False
        function = unparen(child(call, "function"))
        if function is not None and function.type == "selector_expression":
            function = child(function, "field")
        if function is None or function.type not in ("identifier", "field_identifier"):
            return False
        name = text(function)
        return any(fnmatchcase(name, pattern) for pattern in self.release.wrappers)

    def _called(self, call: Node | None, functions: tuple[str, ...]) -> bool:
        """`call` calls one of `functions` ("import/path.Func")."""
        if call is None or not functions:
            return False
        callee = self.types.callee(call, self.scope)
        if callee is None or callee.package is None:
            return False
        return callee.qualified in functions


def _is_closed(node: Node) -> bool:
    """Is `node` the argument of the builtin `close(...)`?"""
    args = node.parent
    call = args.parent if args is not None and args.type == "argument_list" else None
    return calls_bare(call, "close")


def _asserted(value: Node, parent: Node | None) -> tuple[Node, Node | None]:
    """`conn.(*tls.Conn)` is `conn`: the value and its parent above any type assertions."""
    while (
        parent is not None
        and parent.type == "type_assertion_expression"
        and child(parent, "operand") == value
    ):
        value, parent = parent, parent_of(parent)
    return value, parent


def _error_bound(call: Node) -> str | None:
    """The variable a call's last result (its error) is bound to, when the call is
    the whole right side: `err := f(x)`, `_, err = f(x)`, `if err := f(x); ...`."""
    node = call
    while node.parent is not None and node.parent.type == "parenthesized_expression":
        node = node.parent
    right = node.parent
    if right is None or right.type != "expression_list":
        return None
    stmt = right.parent
    if stmt is None or stmt.type not in ("short_var_declaration", "assignment_statement"):
        return None
    if child(stmt, "right") != right or len(right.named_children) != 1:
        return None
    if stmt.type == "assignment_statement" and text(child(stmt, "operator")) != "=":
        return None
    names = expressions(child(stmt, "left"))
    last = names[-1] if names else None
    if last is None or last.type != "identifier" or text(last) == "_":
        return None
    return text(last)


_ASSIGNMENTS = ("short_var_declaration", "assignment_statement")


def _said(node: Node | None) -> str:
    """An expression as a report names it: its text on one line, cut short."""
    said = " ".join(text(node).split())
    return said if len(said) <= 60 else said[:57] + "..."


def _is_receive(expr: Node) -> bool:
    """`<-expr`, as an expression or a select case's receive."""
    parent = parent_of(expr)
    return (
        parent is not None
        and parent.type == "unary_expression"
        and text(child(parent, "operator")) == "<-"
    )


def _bound_literals(body: Node) -> list[Node]:
    """The func literals of `body` that are the value of a `name := func...` (or
    `var name = func...`): found from the word `func` in the bytes, not by a walk
    of the whole body (one is made per tracked variable)."""
    data = body.text or b""
    out: list[Node] = []
    at = data.find(b"func")
    while at >= 0:
        start = body.start_byte + at
        node = body.descendant_for_byte_range(start, start + 4)
        lit = node.parent if node is not None and node.type == "func" else None
        if lit is not None and lit.type == "func_literal" and _bound_name(lit) is not None:
            out.append(lit)
        at = data.find(b"func", at + 4)
    return out


def _bound_name(lit: Node) -> str | None:
    """`name` when `lit` is the only value of `name := func...` or `var name = func...`."""
    values = parent_of(lit)
    if values is None or values.type != "expression_list" or len(values.named_children) != 1:
        return None
    decl = values.parent
    if decl is None:
        return None
    if decl.type == "short_var_declaration" and child(decl, "right") == values:
        names = expressions(child(decl, "left"))
    elif decl.type == "var_spec" and child(decl, "value") == values:
        names = decl.children_by_field_name("name")
    else:
        return None
    return text(names[0]) if len(names) == 1 and names[0].type == "identifier" else None


def _bound_name_node(occ: Node) -> bool:
    """`occ` is the name a `:=` or `var` declares (not a use of it)."""
    parent = occ.parent
    if parent is None:
        return False
    if parent.type == "var_spec":
        return occ in parent.children_by_field_name("name")
    decl = parent.parent
    return (
        parent.type == "expression_list"
        and decl is not None
        and decl.type in ("short_var_declaration", "assignment_statement")
        and child(decl, "left") == parent
    )


def _declares(lit: Node, name: str) -> bool:
    """True when a func literal's own parameter shadows `name`."""
    params = child(lit, "parameters")
    if params is None:
        return False
    return any(
        text(n) == name
        for decl in params.named_children
        for n in decl.children_by_field_name("name")
    )
