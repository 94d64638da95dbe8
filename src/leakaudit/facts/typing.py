"""Declared types of expressions inside a function, and what a call calls.

Flow-insensitive and name-based: a local's type is taken from its declaration or the
first value assigned to it. Good enough to tell `db.Query` (db *sql.DB) from
`c.Query` (c *gin.Context), which is the question the checks ask.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping
from dataclasses import dataclass

from tree_sitter import Node

from leakaudit.facts.symbols import PackageSymbols, file_imports, type_name
from leakaudit.parsing import queries
from leakaudit.parsing.syntax import (
    PARENT_STEPS,
    expressions,
    leaf_at,
    text,
    unparen,
    word_starts,
)
from leakaudit.parsing.syntax import field as child

Signatures = Mapping[str, tuple[str | None, ...]]


class Scope:
    """Local name → declared type for one function, closures included, typed on demand.

    The answers are those of declaring every local in source order: parameters first,
    then the first declaration of each name wins (a plain `=` assignment counts only when
    its value's type is known), each value typed with the names declared before it, and
    the enclosing function's names (all of them) behind the function's own. But a check
    asks about a few receivers per function, so only what a question needs is typed:
    typing every local of every candidate function cost more than parsing the files."""

    def __init__(self, types: FileTypes, func: Node, outer: Scope | None) -> None:
        self.types = types
        self.outer = outer
        self.params: dict[str, str | None] = {}
        for list_name in ("receiver", "parameters", "result"):
            params = child(func, list_name)
            if params is None or params.type != "parameter_list":
                continue
            for decl in params.named_children:
                tname = type_name(child(decl, "type"), types.imports)
                for name in decl.children_by_field_name("name"):
                    self.params[text(name)] = tname
        self.body = child(func, "body")
        self._text = (self.body.text or b"") if self.body is not None else b""
        # name -> (declaration, position among its names), in source order; found per
        # name from the word's occurrences (no walk or query over the whole body)
        self._entries: dict[str, list[tuple[Node, int]]] = {}
        self._values: dict[int, list[str | None]] = {}
        self._own: dict[str, tuple[bool, str | None]] = {}
        self._literals: list[tuple[int, int]] | None = None  # func literals in the body

    def own(self, name: str, before: int | None = None) -> tuple[bool, str | None]:
        """(declared by this function, its type), seeing the declarations that start
        before byte `before` only (None: all of them)."""
        if name in self.params:
            return True, self.params[name]
        if before is None and name in self._own:
            return self._own[name]
        found: tuple[bool, str | None] = (False, None)
        for decl, position in self.entries(name):
            if before is not None and decl.start_byte >= before:
                break
            values = self._value(decl)
            if position >= len(values):
                continue  # more names than values: left undeclared, as zip leaves it
            tname = values[position]
            if decl.type != "assignment_statement" or tname is not None:
                found = (True, tname)
                break
        if before is None:
            self._own[name] = found
        return found

    def entries(self, name: str) -> list[tuple[Node, int]]:
        """The var specs, `:=` declarations and `=` assignments of this function's own
        body (not of literals inside it) that name `name`, in source order."""
        if name not in self._entries:
            self._entries[name] = self._find_entries(name) if self.body is not None else []
        return self._entries[name]

    def _find_entries(self, name: str) -> list[tuple[Node, int]]:
        assert self.body is not None
        out: list[tuple[Node, int]] = []
        word, base = name.encode(), self.body.start_byte
        root = self.types.root
        for at in word_starts(self._text, word):
            node = leaf_at(root, base + at, base + at + len(word), "identifier")
            entry = _declared_at(node) if node is not None else None
            if entry is not None and self._own_body(entry[0]):
                out.append(entry)
        return out

    def _own_body(self, decl: Node) -> bool:
        """Is the declaration in this function's body and not in a literal inside it?
        A few steps up `Node.parent`; deeper, by byte ranges: each `parent` walks down
        from the root, so a long walk up costs the square of its depth."""
        body = self.body
        if body is None or not (body.start_byte <= decl.start_byte < body.end_byte):
            return False
        cur = decl.parent
        for _ in range(PARENT_STEPS):  # ordinary code: a few steps up
            if cur is None or cur == body:
                return cur is not None
            if cur.type == "func_literal":
                return False
            cur = cur.parent
        if self._literals is None:
            self._literals = [
                (lit.start_byte, lit.end_byte)
                for lit in queries.captures(queries.LITERALS, body).get("fn", ())
            ]
        at = decl.start_byte
        return not any(start <= at < end for start, end in self._literals)

    def _value(self, decl: Node) -> list[str | None]:
        """The types a declaration gives its names (deeper lookups only see earlier
        declarations, so this always ends)."""
        if decl.id not in self._values:
            visible = _Visible(self, decl.start_byte)
            types = self.types
            if decl.type == "var_spec":
                declared = child(decl, "type")
                count = len(decl.children_by_field_name("name"))
                self._values[decl.id] = (
                    [type_name(declared, types.imports)] * count
                    if declared is not None
                    else types._value_types(expressions(child(decl, "value")), count, visible)
                )
            else:
                count = len(expressions(child(decl, "left")))
                values = expressions(child(decl, "right"))
                self._values[decl.id] = types._value_types(values, count, visible)
        return self._values[decl.id]

    def declares(self, name: str) -> bool:
        """Whether the function itself declares `name` (parameter, result or local)."""
        return self.own(name)[0]

    def literal(self, name: str) -> Node | None:
        """The func literal a local is bound to, when its only binding is one
        (`work := func() { ... }`), seen from here or the functions around it."""
        scope: Scope | None = self
        while scope is not None:
            if name in scope.params:
                return None
            entries = scope.entries(name)
            if entries:
                if len(entries) != 1:
                    return None
                value = declared_value(*entries[0])
                return value if value is not None and value.type == "func_literal" else None
            scope = scope.outer
        return None

    def binds_locally(self, name: str) -> bool:
        """Whether this function or one around it really declares `name` (parameter,
        result, `var` or `:=`): a plain `=` to a name none of them declares assigns a
        package variable, even where typing takes the value's type from it."""
        scope: Scope | None = self
        while scope is not None:
            if name in scope.params or any(
                decl.type != "assignment_statement" for decl, _ in scope.entries(name)
            ):
                return True
            scope = scope.outer
        return False

    def lookup(self, name: str, before: int | None = None) -> tuple[bool, str | None]:
        """(visible, its type): the function's own declaration (seeing only those that
        start before byte `before`, when given), else the enclosing function's."""
        found = self.own(name, before)
        if found[0] or self.outer is None:
            return found
        return self.outer.lookup(name)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.lookup(name)[0]

    def __getitem__(self, name: str) -> str | None:
        visible, tname = self.lookup(name)
        if not visible:
            raise KeyError(name)
        return tname


def declared_value(decl: Node, position: int) -> Node | None:
    """The value a declaration or assignment (`entries`) gives its name at `position`
    (None: it has fewer values, as `a, b := f()` or `var x T`)."""
    values = expressions(child(decl, "right") or child(decl, "value"))
    return unparen(values[position]) if position < len(values) else None


def _declared_at(name: Node) -> tuple[Node, int] | None:
    """(declaration, position) when identifier `name` is one of the names a var spec,
    a `:=` declaration or a plain `=` assignment declares or assigns."""
    parent = name.parent
    if parent is None:
        return None
    if parent.type == "var_spec":
        names = parent.children_by_field_name("name")
        return (parent, names.index(name)) if name in names else None
    left, decl = (parent, parent.parent) if parent.type == "expression_list" else (name, parent)
    if decl is None or decl.type not in ("short_var_declaration", "assignment_statement"):
        return None
    if decl.child_by_field_name("left") != left:
        return None
    if decl.type == "assignment_statement" and text(child(decl, "operator")) != "=":
        return None
    names = expressions(left)
    return (decl, names.index(name)) if name in names else None


class _Visible:
    """What a declaration's value sees: the function's names declared before it, then
    the enclosing function's."""

    def __init__(self, scope: Scope, before: int) -> None:
        self.scope, self.before = scope, before

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.scope.lookup(name, self.before)[0]

    def __getitem__(self, name: str) -> str | None:
        visible, tname = self.scope.lookup(name, self.before)
        if not visible:
            raise KeyError(name)
        return tname


# What the typing functions accept as a scope: a Scope, what a declaration sees, or a
# plain dict (a caller with no function at hand passes {}).
Names = Scope | _Visible | dict[str, str | None]


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
        self._scopes: dict[int, Scope] = {}
        self._decls: dict[int, list[Node]] = {}
        self._unshadowed: dict[tuple[int, str], bool] = {}

    def release(self) -> None:
        """Drop the cached scopes (each refers back to this object)."""
        self._scopes.clear()

    # -- scopes -------------------------------------------------------------------------

    def scope(self, func: Node) -> Scope:
        """Local name → type for a function, including the names visible from enclosing
        functions (closures)."""
        key = func.id
        if key not in self._scopes:
            parent = func.parent
            while parent is not None and parent.type not in _FUNC_TYPES:
                parent = parent.parent
            outer = self.scope(parent) if parent is not None else None
            self._scopes[key] = Scope(self, func, outer)
        return self._scopes[key]

    def declares(self, func: Node, name: str) -> bool:
        """Whether the function itself declares `name` (parameter, result or local)."""
        return self.scope(func).declares(name)

    def _value_types(self, values: list[Node], count: int, scope: Names) -> list[str | None]:
        if len(values) == 1 and count > 1:
            call = unparen(values[0])
            if call is not None and call.type == "call_expression":
                results = self.call_results(call, scope)
                return results + [None] * (count - len(results))
            return [None] * count
        return [self.type_of(v, scope) for v in values]

    # -- expressions ----------------------------------------------------------------------

    def type_of(self, expr: Node | None, scope: Names) -> str | None:
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
            field_type = getattr(self.signatures, "field_type", None)  # module packages'
            if owner.startswith("."):
                found = self.symbols.field_type(owner, name)
                decl = self.symbols.local(owner)
                if found is None and field_type is not None and decl is not None:
                    for emb in decl.embedded:  # promoted from a type of another package
                        if not emb.startswith("."):
                            found = field_type(emb, name)
                            if found is not None:
                                break
                return found
            return field_type(owner, name) if field_type is not None else None
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
        word = name.encode()
        for at in word_starts(top.text or b"", word):
            start = top.start_byte + at
            node = self.root.descendant_for_byte_range(start, start + len(word))
            if node is None or not _harmless(node):
                return False
        return True

    def _is_import(self, name: str, scope: Names) -> bool:
        return name in self.imports and name not in scope

    # -- calls ----------------------------------------------------------------------------

    def callee(self, call: Node, scope: Names) -> Callee | None:
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
        # Another module package's struct may have it from a type it embeds; the
        # module's summaries tell (module/summary.py ModuleSignatures).
        promoted = getattr(self.signatures, "method_owner", None)
        if promoted is not None and not owner.startswith("."):
            owner = promoted(owner.lstrip("*"), name)
        package, _, tname = owner.rpartition(".")
        return Callee(package or ".", tname, name, text(fn))

    def _opaque(self, recv: str) -> bool:
        decl = self.symbols.local(recv)
        return decl is not None and decl.kind == "named" and decl.underlying is None

    def call_results(self, call: Node, scope: Names) -> list[str | None]:
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


_DECLARATIONS = (
    "[(var_spec) (short_var_declaration) (assignment_statement)] @decl (func_literal) @lit"
)
_FUNC_TYPES = ("function_declaration", "method_declaration", "func_literal")


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
    kind = node.type
    if kind in _NOT_VALUES:
        return True
    if kind != "identifier":  # an identifier never sits inside a string or comment
        cur: Node | None = node
        for _ in range(3):  # string contents and escapes sit at most two levels down
            if cur is None:
                break
            if cur.type in _QUOTED:
                return True
            cur = cur.parent
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
    every analyzed function in Python cost more than parsing; the literals' byte ranges
    tell which are nested (climbing parents costs a descent from the root each)."""
    found = queries.captures(_DECLARATIONS, body)
    literals: list[tuple[int, int]] = []  # outermost nested literals, by start
    for lit in sorted(found.get("lit", ()), key=lambda n: n.start_byte):
        if not literals or lit.start_byte >= literals[-1][1]:
            literals.append((lit.start_byte, lit.end_byte))
    starts = [start for start, _ in literals]
    out = []
    for node in found.get("decl", ()):
        at = bisect_right(starts, node.start_byte) - 1
        if at < 0 or node.end_byte > literals[at][1]:
            out.append(node)
    out.sort(key=lambda n: n.start_byte)
    return out
