"""Declared types of expressions inside a function, and what a call calls.

Flow-insensitive and name-based: a local's type is taken from its declaration or the
first value assigned to it. Good enough to tell `db.Query` (db *sql.DB) from
`c.Query` (c *gin.Context), which is the question the checks ask.
"""

from __future__ import annotations

from dataclasses import dataclass

from tree_sitter import Node

from leakaudit.facts.symbols import PackageSymbols, file_imports, result_types, type_name
from leakaudit.parsing import queries
from leakaudit.parsing.syntax import expressions, text, unparen
from leakaudit.parsing.syntax import field as child

Signatures = dict[str, tuple[str, ...]]


class _Layered(dict):  # type: ignore[type-arg]
    """Lookups see the function's own names first, then the enclosing ones."""

    def __init__(self, own: dict[str, str | None], outer: dict[str, str | None]) -> None:
        super().__init__()
        self.own, self.outer = own, outer

    def __contains__(self, key: object) -> bool:
        return key in self.own or key in self.outer

    def __getitem__(self, key: str) -> str | None:
        return self.own[key] if key in self.own else self.outer[key]

    def get(self, key: str, default: str | None = None) -> str | None:  # type: ignore[override]
        try:
            return self[key]
        except KeyError:
            return default


@dataclass(frozen=True)
class Callee:
    """What a call expression calls. `package` is an import path, "." for this package,
    or None when the receiver's type is unknown; `receiver` is the type name providing
    the method (None for functions)."""

    package: str | None
    receiver: str | None
    name: str
    text: str  # the callee as written, e.g. "r.db.QueryContext"

    @property
    def qualified(self) -> str:
        recv = f"{self.receiver}." if self.receiver else ""
        return f"{self.package}.{recv}{self.name}"


class FileTypes:
    """Typing for one file: its imports plus the package's symbols."""

    def __init__(self, root: Node, symbols: PackageSymbols, signatures: Signatures) -> None:
        self.root = root
        known = symbols.imports_by_root.get(root.id)
        self.imports = dict(known) if known is not None else file_imports(root)
        self.symbols = symbols
        self.signatures = signatures
        self._scopes: dict[int, dict[str, str | None]] = {}
        self._own: dict[int, frozenset[str]] = {}
        self._decls: dict[int, list[Node]] = {}
        self._unshadowed: dict[tuple[int, str], bool] = {}

    # -- scopes -------------------------------------------------------------------------

    def scope(self, func: Node) -> dict[str, str | None]:
        """Local name → type for a function, including the names visible from enclosing
        functions (closures)."""
        key = func.id
        if key in self._scopes:
            return self._scopes[key]
        outer: dict[str, str | None] = {}
        parent = func.parent
        while parent is not None and parent.type not in (
            "function_declaration",
            "method_declaration",
            "func_literal",
        ):
            parent = parent.parent
        if parent is not None:
            outer = self.scope(parent)
        own: dict[str, str | None] = {}
        for list_name in ("receiver", "parameters", "result"):
            params = child(func, list_name)
            if params is None or params.type != "parameter_list":
                continue
            for decl in params.named_children:
                tname = type_name(child(decl, "type"), self.imports)
                for name in decl.children_by_field_name("name"):
                    own[text(name)] = tname
        body = child(func, "body")
        if body is not None:
            self._declare(body, own, outer)
        scope = {**outer, **own}  # a closure's own declarations shadow the outer ones
        self._scopes[key] = scope
        self._own[key] = frozenset(own)
        return scope

    def declared_here(self, func: Node) -> frozenset[str]:
        """Names the function itself declares (parameters, results, locals)."""
        self.scope(func)
        return self._own[func.id]

    def _declare(
        self, body: Node, scope: dict[str, str | None], outer: dict[str, str | None]
    ) -> None:
        """Fill `scope` with the body's declarations; `outer` is what the values may use."""
        visible = _Layered(scope, outer)
        for node in self.declarations(body):
            kind = node.type
            if kind == "var_spec":
                declared = child(node, "type")
                values = expressions(child(node, "value"))
                names = node.children_by_field_name("name")
                types = (
                    [type_name(declared, self.imports)] * len(names)
                    if declared is not None
                    else self._value_types(values, len(names), visible)
                )
                for name, tname in zip(names, types, strict=False):
                    scope.setdefault(text(name), tname)
            elif kind == "short_var_declaration" or (
                kind == "assignment_statement" and text(child(node, "operator")) == "="
            ):
                left = expressions(child(node, "left"))
                values = expressions(child(node, "right"))
                types = self._value_types(values, len(left), visible)
                for target, tname in zip(left, types, strict=False):
                    if target.type == "identifier" and tname is not None:
                        scope.setdefault(text(target), tname)
                    elif target.type == "identifier" and kind == "short_var_declaration":
                        scope.setdefault(text(target), None)

    def _value_types(
        self, values: list[Node], count: int, scope: dict[str, str | None]
    ) -> list[str | None]:
        if len(values) == 1 and count > 1:
            call = unparen(values[0])
            if call is not None and call.type == "call_expression":
                results = self.call_results(call, scope)
                return results + [None] * (count - len(results))
            return [None] * count
        return [self.type_of(v, scope) for v in values]

    # -- expressions ----------------------------------------------------------------------

    def type_of(self, expr: Node | None, scope: dict[str, str | None]) -> str | None:
        expr = unparen(expr)
        if expr is None:
            return None
        kind = expr.type
        if kind == "identifier":
            name = text(expr)
            if name in scope:
                return scope[name]
            return self.symbols.vars.get(name)
        if kind == "selector_expression":
            operand = unparen(child(expr, "operand"))
            name = text(child(expr, "field"))
            if (
                operand is not None
                and operand.type == "identifier"
                and self._is_import(text(operand), scope)
            ):
                found = self.signatures.get(f"{self.imports[text(operand)]}.{name}")
                return found[0] if found else None
            owner = self.type_of(operand, scope)
            if owner is None:
                return None
            return self.symbols.field_type(owner, name)
        if kind == "composite_literal":
            return type_name(child(expr, "type"), self.imports)
        if kind == "unary_expression":
            return self.type_of(child(expr, "operand"), scope)
        if kind == "type_assertion_expression":
            return type_name(child(expr, "type"), self.imports)
        if kind == "call_expression":
            fn = unparen(child(expr, "function"))
            if fn is not None and fn.type == "identifier" and text(fn) == "new":
                args = child(expr, "arguments")
                return (
                    type_name(args.named_children[0], self.imports)
                    if args and args.named_children
                    else None
                )
            results = self.call_results(expr, scope)
            return results[0] if results else None
        return None

    def declarations(self, body: Node) -> list[Node]:
        """The var specs, `:=` declarations and assignments of a body, in source order,
        not those of func literals inside it (found by a query, not a walk)."""
        if body.id not in self._decls:
            self._decls[body.id] = _declarations(body)
        return self._decls[body.id]

    def quick_callee(self, call: Node, func: Node) -> Callee | None:
        """What `callee(call, self.scope(func))` answers, when it can be told without
        the scope: `pkg.Name(...)` through an import, or `Name(...)`, where no function
        around the call declares that name. None: ask `callee` with the scope. Most
        calls a pre-filter lets through are of these kinds (errors.New, http.Get, New),
        and the scope (typing every local) is the costly part of typing a function."""
        fn = unparen(child(call, "function"))
        if fn is not None and fn.type in ("generic_type", "index_expression"):
            fn = unparen(fn.named_children[0]) if fn.named_children else None
        if fn is None:
            return None
        if fn.type == "identifier":
            name = text(fn)
            return Callee(".", None, name, name) if self.undeclared(func, name) else None
        if fn.type != "selector_expression":
            return None
        operand = unparen(child(fn, "operand"))
        if operand is None or operand.type != "identifier":
            return None
        name = text(operand)
        if name not in self.imports or not self.undeclared(func, name):
            return None
        return Callee(self.imports[name], None, text(child(fn, "field")), text(fn))

    def undeclared(self, func: Node, name: str) -> bool:
        """True when `name` is surely not in `scope(func)`: no occurrence of the word in
        the outermost function around `func` could declare it (each is a call's callee,
        a selector's operand, a field, a type, or inside a comment or string)."""
        top, cur = func, func.parent
        while cur is not None:
            if cur.type in _FUNC_TYPES:
                top = cur
            cur = cur.parent
        key = (top.id, name)
        if key not in self._unshadowed:
            self._unshadowed[key] = self._no_declaration(top, name)
        return self._unshadowed[key]

    def _no_declaration(self, top: Node, name: str) -> bool:
        source = top.text or b""
        word = name.encode()
        at = source.find(word)
        while at >= 0:
            end = at + len(word)
            whole = (at == 0 or source[at - 1] not in _WORD_BYTES) and (
                end == len(source) or source[end] not in _WORD_BYTES
            )
            if whole:
                start = top.start_byte + at
                node = self.root.descendant_for_byte_range(start, start + len(word))
                if node is None or not _harmless(node):
                    return False
            at = source.find(word, at + 1)
        return True

    def _is_import(self, name: str, scope: dict[str, str | None]) -> bool:
        return name in self.imports and name not in scope

    # -- calls ----------------------------------------------------------------------------

    def callee(self, call: Node, scope: dict[str, str | None]) -> Callee | None:
        fn = unparen(child(call, "function"))
        if fn is None:
            return None
        if fn.type == "generic_type" or fn.type == "index_expression":
            fn = unparen(fn.named_children[0]) if fn.named_children else None
            if fn is None:
                return None
        if fn.type == "identifier":
            name = text(fn)
            if name in scope:
                return None  # calling a func-typed local
            return Callee(".", None, name, name)
        if fn.type != "selector_expression":
            return None
        operand = unparen(child(fn, "operand"))
        name = text(child(fn, "field"))
        if operand is None:
            return None
        if operand.type == "identifier" and self._is_import(text(operand), scope):
            return Callee(self.imports[text(operand)], None, name, text(fn))
        recv = self.type_of(operand, scope)
        if recv is None:
            return Callee(None, None, name, text(fn))
        owner = self.symbols.method_owner(recv, name)
        if owner is None:
            # A local type whose method set we cannot see provide `name`: most likely a
            # field holding a func, or promoted from something unknown.
            return Callee(None, None, name, text(fn)) if self._opaque(recv) else None
        package, _, tname = owner.rpartition(".")
        return Callee(package or ".", tname, name, text(fn))

    def _opaque(self, recv: str) -> bool:
        decl = self.symbols.local(recv)
        return decl is not None and decl.kind == "named" and decl.underlying is None

    def call_results(self, call: Node, scope: dict[str, str | None]) -> list[str | None]:
        return self.results_of(self.callee(call, scope))

    def results_of(self, callee: Callee | None) -> list[str | None]:
        """The declared results of what `callee` names (what call_results answers)."""
        if callee is None or callee.package is None:
            return []
        if callee.package == ".":
            if callee.receiver is None:
                decl = self.symbols.types.get(callee.name)
                if decl is not None:  # a conversion T(x)
                    return ["." + callee.name]
                return list(self.symbols.funcs.get(callee.name, []))
            found = self.symbols.methods.get((callee.receiver, callee.name))
            if found is not None:
                return list(found)
            iface = self.symbols.types.get(callee.receiver)
            return list(iface.methods.get(callee.name, [])) if iface is not None else []
        return list(self.signatures.get(callee.qualified, ()))


_DECLARATIONS = "[(var_spec) (short_var_declaration) (assignment_statement)] @decl"
_FUNC_TYPES = ("function_declaration", "method_declaration", "func_literal")


_WORD_BYTES = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
_QUOTED = frozenset(
    {
        "comment",
        "interpreted_string_literal",
        "interpreted_string_literal_content",
        "raw_string_literal",
        "raw_string_literal_content",
        "escape_sequence",
        "rune_literal",
    }
)
_NOT_VALUES = frozenset({"field_identifier", "type_identifier", "package_identifier", "label_name"})


def _harmless(node: Node) -> bool:
    """An occurrence of a word that cannot bind a local value of that name."""
    if node.type in _NOT_VALUES:
        return True
    cur: Node | None = node
    for _ in range(3):  # string contents and escapes sit at most two levels down
        if cur is None:
            break
        if cur.type in _QUOTED:
            return True
        cur = cur.parent
    if node.type != "identifier":
        return False
    parent = node.parent
    if parent is None:
        return False
    if parent.type == "selector_expression":
        return child(parent, "operand") == node
    if parent.type == "call_expression":
        return child(parent, "function") == node
    return False


def _declarations(body: Node) -> list[Node]:
    """The declarations and assignments of a body in source order, not those of nested
    func literals (functions of their own). A query finds them: walking every node of
    every analyzed function in Python cost more than parsing."""
    found = queries.captures(_DECLARATIONS, body).get("decl", ())
    out = []
    for node in found:
        cur = node.parent
        while cur is not None and cur != body and cur.type != "func_literal":
            cur = cur.parent
        if cur == body:
            out.append(node)
    out.sort(key=lambda n: n.start_byte)
    return out


def func_results(func: Node, types: FileTypes) -> list[str | None]:
    return result_types(func, types.imports)
