"""Every `go` statement of a package, what it runs, and whether it is process-lifetime.

A launch knows its target when the goroutine runs a function literal or a function or
method of this package: then its body can be read, with the target's parameters bound
to the argument expressions of the `go` call. Launches of anything else (another
package's function, a func value) have no target; the checks stay silent on them.

Process-lifetime code is where an endless goroutine is intended: `main`, `init`, what
only they (or package-level var initializers) call, and bodies run under
`sync.Once.Do`. A bounded number of goroutines started there lives as long as the
process, which is what the author wanted.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property, lru_cache

from tree_sitter import Node

from leakaudit.checks.api import Function, Package
from leakaudit.parsing.parser import SourceFile
from leakaudit.parsing.syntax import (
    FUNC_NODES,
    WORD_BYTES,
    expressions,
    leaf_at,
    parent_of,
    text,
    unparen,
    word_starts,
)
from leakaudit.parsing.syntax import field as child

LOOPS = ("for_statement",)


@dataclass(eq=False)
class Launch:
    stmt: Node  # the go_statement
    call: Node  # its call expression
    owner: Function  # the function whose body holds the go statement
    target: Function | None  # what the goroutine runs, when it is readable
    # target parameter (and method receiver) name -> argument expression in the owner
    bindings: dict[str, Node] = field(default_factory=dict)
    # Decides `lifetime` on first use: it searches the package for the callers of the
    # owner, and most launches are classified (joined, stoppable...) before asking.
    lifetimes: Lifetime | None = field(default=None, repr=False)

    @cached_property
    def lifetime(self) -> str | None:
        """Why the goroutine is started a bounded number of times per process, or None."""
        return self.lifetimes.of(self.stmt) if self.lifetimes is not None else None

    @property
    def captures(self) -> bool:
        """The target is a literal written in the owner: it sees the owner's locals."""
        return self.target is not None and self.target.is_literal

    def names_for(self, local: str) -> set[str]:
        """Names that denote the owner's local `local` inside the target."""
        if self.target is None:
            return set()
        out = {
            name
            for name, arg in self.bindings.items()
            if unparen(arg) is not None
            and unparen(arg).type == "identifier"  # type: ignore[union-attr]
            and text(unparen(arg)) == local
        }
        if self.captures and local not in self.bindings and not declares(self.target.node, local):
            out.add(local)
        return out


@dataclass
class Index:
    """The package's analyzable function and method declarations, by syntax node and
    by name; the Function of one is made when asked for (a literal is found from its
    node: listing every literal of a package costs a query per `func` in its files)."""

    pkg: Package
    declared: dict[int, tuple[Node, SourceFile]]
    funcs: dict[str, tuple[Node, SourceFile]]
    methods: dict[tuple[str, str], tuple[Node, SourceFile]]

    def declaration(self, node: Node) -> Function | None:
        return self._function(self.declared.get(node.id))

    def func(self, name: str) -> Function | None:
        return self._function(self.funcs.get(name))

    def method(self, receiver: str, name: str) -> Function | None:
        return self._function(self.methods.get((receiver, name)))

    def _function(self, found: tuple[Node, SourceFile] | None) -> Function | None:
        return self.pkg.function(*found) if found is not None else None


def index(pkg: Package) -> Index:
    def compute() -> Index:
        declared: dict[int, tuple[Node, SourceFile]] = {}
        funcs: dict[str, tuple[Node, SourceFile]] = {}
        methods: dict[tuple[str, str], tuple[Node, SourceFile]] = {}
        for source in pkg.files:
            for node in pkg.declarations_in(source):
                if child(node, "body") is None or node.has_error:
                    continue  # what Package.function leaves out
                declared[node.id] = (node, source)
                if node.type == "function_declaration":
                    funcs.setdefault(text(child(node, "name")), (node, source))
                else:
                    recv = _receiver_type(node)
                    if recv:
                        methods.setdefault((recv, text(child(node, "name"))), (node, source))
        return Index(pkg, declared, funcs, methods)

    return pkg.memo("goroutines:index", compute)  # type: ignore[no-any-return]


def receiver_type(fn: Function) -> str | None:
    """The local type name a method is declared on (`Poller` for `(p *Poller)`)."""
    return _receiver_type(fn.node)


def _receiver_type(method: Node) -> str | None:
    recv = child(method, "receiver")
    if recv is None:
        return None
    for decl in recv.named_children:
        t = child(decl, "type")
        while t is not None and t.type in ("pointer_type", "parenthesized_type"):
            t = t.named_children[-1] if t.named_children else None
        if t is not None and t.type == "generic_type":
            t = child(t, "type")
        if t is not None and t.type == "type_identifier":
            return text(t)
    return None


def receiver_name(fn: Function) -> str | None:
    recv = child(fn.node, "receiver")
    if recv is None:
        return None
    for decl in recv.named_children:
        names = decl.children_by_field_name("name")
        if names:
            return text(names[0])
    return None


def param_names(fn: Function) -> list[str | None]:
    """Positional parameter names (None for `_` or unnamed); variadics end the list."""
    params = child(fn.node, "parameters")
    out: list[str | None] = []
    if params is None:
        return out
    for decl in params.named_children:
        if decl.type not in ("parameter_declaration", "variadic_parameter_declaration"):
            continue
        names = decl.children_by_field_name("name")
        if not names:
            out.append(None)
        for n in names:
            out.append(None if text(n) == "_" else text(n))
        if decl.type == "variadic_parameter_declaration":
            break
    return out


def declares(func: Node, name: str) -> bool:
    """Does a function literal declare its own `name` (parameter or local)? Then the
    outer variable of that name is not what the body means by it."""
    for list_name in ("parameters", "result"):
        params = child(func, list_name)
        if params is not None and any(
            text(n) == name for d in params.named_children for n in d.children_by_field_name("name")
        ):
            return True
    body = child(func, "body")
    data = (body.text or b"") if body is not None else b""
    word = name.encode()
    if body is None or word not in data:
        return False
    for at in word_starts(data, word):  # each occurrence, not every node of the body
        start = body.start_byte + at
        node = leaf_at(body, start, start + len(word), "identifier")
        if node is not None and _declared_name(node):
            return True
    return False


_DECLARING = ("short_var_declaration", "range_clause", "receive_statement")


def _declared_name(ident: Node) -> bool:
    """Is this identifier one a `:=` (declaration, range, receive) or a var/const spec
    declares?"""
    parent = ident.parent
    if parent is None:
        return False
    if parent.type in ("var_spec", "const_spec"):
        return ident in parent.children_by_field_name("name")
    if parent.type != "expression_list":
        return False
    decl = parent.parent
    if decl is None or decl.type not in _DECLARING or child(decl, "left") != parent:
        return False
    if decl.type != "short_var_declaration" and not any(
        c.type == ":=" for c in decl.children if not c.is_named
    ):
        return False
    return ident in expressions(parent)


def launch_call(stmt: Node) -> Node | None:
    call = next((c for c in stmt.named_children if c.type != "comment"), None)
    call = unparen(call)
    return call if call is not None and call.type == "call_expression" else None


def resolve(pkg: Package, owner: Function, call: Node) -> tuple[Function | None, dict[str, Node]]:
    """The function a call runs, when it is a literal or belongs to this package, and its
    parameters bound to the call's arguments (a method's receiver to the operand)."""
    fn_node = unparen(child(call, "function"))
    args_node = child(call, "arguments")
    args = [a for a in (args_node.named_children if args_node else []) if a.type != "comment"]
    target: Function | None = None
    bindings: dict[str, Node] = {}
    if fn_node is None:
        return None, {}
    if fn_node.type == "func_literal":
        target = pkg.function(fn_node, owner.file)
    elif fn_node.type == "identifier" and (literal := owner.scope.literal(text(fn_node))):
        target = pkg.function(literal, owner.file)  # work := func() {...}; go work()
    else:
        callee = owner.types.quick_callee(call, owner.node) or owner.types.callee(call, owner.scope)
        if callee is not None and callee.package == ".":
            if callee.receiver is None:
                target = index(pkg).func(callee.name)
            else:
                target = index(pkg).method(_implementing(pkg, owner, callee.receiver), callee.name)
            if target is not None and callee.receiver is not None:
                recv = receiver_name(target)
                operand = (
                    child(fn_node, "operand") if fn_node.type == "selector_expression" else None
                )
                if recv and operand is not None:
                    bindings[recv] = operand
    if target is None:
        return None, {}
    for name, arg in zip(param_names(target), args, strict=False):
        if name:
            bindings[name] = arg
    return target, bindings


def _implementing(pkg: Package, owner: Function, receiver: str) -> str:
    """The type whose method a call on `receiver` runs: the one implementation of an
    interface of the package, when the module holds exactly one and it is here."""
    decl = pkg.symbols.types.get(receiver)
    if decl is None or decl.kind != "interface":
        return receiver
    from leakaudit.module.effects import sole_implementation

    return sole_implementation(pkg, receiver, owner.file.is_test) or receiver


@lru_cache(maxsize=512)
def _compiled(pattern: bytes) -> tuple[re.Pattern[bytes], bool]:
    if pattern.startswith(rb"\b"):
        return re.compile(pattern[2:]), True
    return re.compile(pattern), False


def matches(pattern: bytes, content: bytes) -> Iterator[re.Match[bytes]]:
    """`re.finditer(pattern, content)`, faster for a pattern that starts with `\\b`:
    a leading `\\b` stops the regex engine from jumping to its literal prefix, so the
    boundary is checked here instead, at each place the rest of the pattern matches."""
    regex, boundary = _compiled(pattern)
    if not boundary:
        yield from regex.finditer(content)
        return
    pos, size = 0, len(content)
    while pos <= size:
        match = regex.search(content, pos)
        if match is None:
            return
        start, end = match.span()
        before = start > 0 and content[start - 1] in WORD_BYTES
        after = start < size and content[start] in WORD_BYTES
        if before == after:  # no word boundary here: as the regex, try the next byte
            pos = start + 1
            continue
        yield match
        pos = end if end > start else start + 1


def find(source: SourceFile, pattern: bytes, kinds: tuple[str, ...]) -> list[Node]:
    """Nodes of the given kinds that start where `pattern` matches in the file: a cheap
    way to visit only the few places that matter instead of walking every node."""
    return _starting_at(source, (m.start() for m in matches(pattern, source.content)), kinds)


def find_word(source: SourceFile, word: str, kinds: tuple[str, ...]) -> list[Node]:
    """`find` for the whole word `word`, by substring search (no regex to compile)."""
    return _starting_at(source, word_starts(source.content, word.encode()), kinds)


def _starting_at(source: SourceFile, starts: Iterable[int], kinds: tuple[str, ...]) -> list[Node]:
    """The nodes of the given kinds that start at the given offsets, each once."""
    out: list[Node] = []
    seen: set[int] = set()
    root = source.root
    for start in starts:
        node: Node | None = root.descendant_for_byte_range(start, start + 1)
        while node is not None and node.type not in kinds and node.start_byte == start:
            node = node.parent
        if node is None or node.type not in kinds or node.start_byte != start:
            continue
        if node.id not in seen:
            seen.add(node.id)
            out.append(node)
    return out


def owner_of(pkg: Package, node: Node, source: SourceFile) -> Function | None:
    """The function (declared or literal) around `node`, a node of `source`."""
    func = enclosing(node)
    return pkg.function(func, source) if func is not None else None


def launches(pkg: Package) -> list[Launch]:
    """Every go statement of the package (each exactly once), in source order."""

    def compute() -> list[Launch]:
        lifetime = Lifetime(pkg)
        out: list[Launch] = []
        for source in pkg.files:
            for node in find(source, rb"\bgo\b", ("go_statement",)):
                fn = owner_of(pkg, node, source)
                call = launch_call(node)
                if fn is None or call is None:
                    continue
                target, bindings = resolve(pkg, fn, call)
                out.append(
                    Launch(
                        stmt=node,
                        call=call,
                        owner=fn,
                        target=target,
                        bindings=bindings,
                        lifetimes=lifetime,
                    )
                )
        out.sort(key=lambda launch: (launch.owner.file.path, launch.stmt.start_byte))
        return out

    return pkg.memo("goroutines:launches", compute)  # type: ignore[no-any-return]


def launched_literals(pkg: Package) -> dict[int, Launch]:
    """Function literal node id -> the launch that runs it (`go func() {...}()`)."""

    def compute() -> dict[int, Launch]:
        return {
            launch.target.node.id: launch
            for launch in launches(pkg)
            if launch.target is not None and launch.captures
        }

    return pkg.memo("goroutines:literals", compute)  # type: ignore[no-any-return]


# -- process lifetime ----------------------------------------------------------------------


class Lifetime:
    """Which code runs a bounded number of times for the whole process. Decided lazily,
    per function, from the places that name it."""

    def __init__(self, pkg: Package) -> None:
        self.pkg = pkg
        self.decided: dict[int, bool] = {}

    @property
    def idx(self) -> Index:
        return index(self.pkg)

    def _is_lifetime(self, fn: Function) -> bool:
        key = fn.node.id
        if key in self.decided:
            return self.decided[key]
        if fn.node.type == "function_declaration":
            name = text(child(fn.node, "name"))
            if name == "init" or (name == "main" and fn.file.package == "main"):
                self.decided[key] = True
                return True
        if fn.is_literal:
            self.decided[key] = False
            return False
        self.decided[key] = False  # while deciding: recursion does not make it lifetime
        sites = self._references(fn)
        result = bool(sites) and all(self._site_ok(site) for site in sites)
        self.decided[key] = result
        return result

    def _references(self, fn: Function) -> list[Node]:
        """Identifiers (functions) or selectors (methods) in the package that name fn."""
        name = text(child(fn.node, "name"))
        if not name:
            return []
        word = name.encode()
        out: list[Node] = []
        is_method = fn.node.type == "method_declaration"
        for source in self.pkg.files:
            if word not in source.content:
                continue
            types = self.pkg.file_types[source.path]
            for start in word_starts(source.content, word):
                node = source.root.descendant_for_byte_range(start, start + len(word))
                if node is None or node.start_byte != start:
                    continue
                parent = node.parent
                if parent is None or parent.type in ("function_declaration", "method_declaration"):
                    continue  # a declaration's own name
                if not is_method and node.type == "identifier":
                    func = enclosing(node)
                    if (
                        func is not None
                        and not types.undeclared(func, name)  # skips typing the locals
                        and name in types.scope(func)
                    ):
                        continue  # a local of the same name
                    out.append(node)
                elif is_method and node.type == "field_identifier":
                    if parent.type != "selector_expression":
                        continue
                    call = parent.parent
                    if call is not None and call.type == "call_expression":
                        func = enclosing(parent)
                        callee = (types.quick_callee(call, func) if func is not None else None) or (
                            types.callee(call, types.scope(func) if func is not None else {})
                        )
                        if callee is not None and callee.package not in (None, "."):
                            continue  # another package's function of that name
                        if callee is not None and callee.package == "." and callee.receiver:
                            found = self.idx.method(callee.receiver, name)
                            if found is not fn:
                                continue
                    out.append(parent)
        return out

    def _site_ok(self, site: Node) -> bool:
        """A reference runs process-lifetime when it is a call made from lifetime code,
        or the function is handed to sync.Once.Do (or a singleton helper)."""
        parent = site.parent
        if parent is not None and parent.type == "argument_list" and parent.parent is not None:
            return _runs_once(self.pkg, parent.parent)
        if parent is None or parent.type != "call_expression" or child(parent, "function") != site:
            return False
        return self.of(site) is not None

    def of(self, node: Node) -> str | None:
        """Why code at `node` runs a bounded number of times per process, or None."""
        cur = enclosing(node)
        once = False
        while cur is not None and cur.type == "func_literal":
            how = self._literal_runs(cur)
            if how is None:
                return None
            once = once or how == "once"
            cur = enclosing(cur)
        if cur is None:
            return "package initialization"
        if once:
            return "started once (sync.Once or a singleton helper)"
        if looped(node, cur):
            return None  # once per iteration: as many as the loop runs
        decl = self.idx.declaration(cur)
        if decl is not None and self._is_lifetime(decl):
            name = text(child(cur, "name"))
            if name in ("main", "init"):
                return f"started by {name}"
            return "called only from main/init (process lifetime)"
        return None

    def _literal_runs(self, lit: Node) -> str | None:
        """How a literal runs relative to its enclosing function: right away ("now"),
        under sync.Once.Do ("once"), or unknown (None: e.g. a handler)."""
        parent = parent_of(lit)
        if parent is None:
            return None
        if parent.type == "call_expression" and unparen(child(parent, "function")) == lit:
            return "now"  # invoked, deferred or launched in place
        if (
            parent.type == "argument_list"
            and parent.parent is not None
            and _runs_once(self.pkg, parent.parent)
        ):
            return "once"
        return None


def looped(node: Node, stop: Node) -> bool:
    """Is `node` inside a loop below `stop` (func literals included)?"""
    cur = node.parent
    while cur is not None and cur != stop:
        if cur.type in LOOPS:
            return True
        cur = cur.parent
    return False


_SINGLETON = re.compile(r"(?i)once|singleton|getinstance")


def _runs_once(pkg: Package, call: Node) -> bool:
    """A call that runs its function argument at most once per process or object:
    sync.Once.Do, or a helper named for it (singleton.GetInstance, lazyOnce...)."""
    fn = unparen(child(call, "function"))
    if fn is None:
        return False
    if fn.type == "selector_expression" and text(child(fn, "field")) == "Do":
        return _is_once(pkg, call)
    return _SINGLETON.search(text(fn)) is not None


def _is_once(pkg: Package, call: Node) -> bool:
    """`x.Do(f)` on a sync.Once (by declared type; by name when the type is unknown)."""
    fn = unparen(child(call, "function"))
    operand = child(fn, "operand") if fn is not None else None
    types = file_types_of(pkg, call)
    if types is not None:
        func = enclosing(call)
        scope = types.scope(func) if func is not None else {}
        found = types.type_of(operand, scope)
        if found is not None:
            return found == "sync.Once"
    return "once" in text(operand).lower()


def file_types_of(pkg: Package, node: Node):  # type: ignore[no-untyped-def]
    """The FileTypes of the file holding `node`."""
    roots = pkg.memo(
        "goroutines:roots", lambda: {s.root.id: pkg.file_types[s.path] for s in pkg.files}
    )
    cur = node
    while cur.parent is not None:
        cur = cur.parent
    return roots.get(cur.id)


def enclosing(node: Node) -> Node | None:
    cur = node.parent
    while cur is not None and cur.type not in FUNC_NODES:
        cur = cur.parent
    return cur
