"""The check API: what every check gets (one package, its functions) and where it puts
results (a sink). Named for what it is; Go contexts are a rule family, not this."""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property

from tree_sitter import Node

from leakaudit.facts import cfg
from leakaudit.facts.symbols import PackageSymbols
from leakaudit.facts.typing import FileTypes, Scope
from leakaudit.findings import Finding, Location, Related, Severity, Step
from leakaudit.module.summary import ModuleSignatures
from leakaudit.parsing import queries
from leakaudit.parsing.parser import SourceFile
from leakaudit.parsing.syntax import FUNC_NODES, PARENT_STEPS, text, unparen
from leakaudit.parsing.syntax import field as child
from leakaudit.result import Acquisition, GoroutineRecord
from leakaudit.ruleset.model import Rule

# Per-function analysis budget. A function over it gets an analysis-error note instead of
# an answer: generated or pathological code must not stall a pre-commit hook.
MAX_BLOCKS = 20_000  # CFG blocks (about one per statement)
MAX_WORK = 2_000_000  # dataflow steps and nodes walked by one rule, over its acquire sites


_FUNCTIONS = "[(function_declaration) (method_declaration) (func_literal)] @fn"


class BudgetExceeded(Exception):
    """A function is too large to analyze within the budget."""


@dataclass(frozen=True)
class Interest:
    """What a function must contain for a check to have anything to say about it: calls
    by callee name, calls of this package's functions returning one of `returns` (a
    resource type, e.g. "os.File"), or syntax nodes of the given types. The package finds
    them all in one pass per file (a byte search for the names and keywords, then a few
    syntax steps from each place found), so the other functions cost nothing: no
    Function, no scope, no CFG. A check module declares it as `interest(rule)`."""

    calls: frozenset[str] = frozenset()
    returns: frozenset[str] = frozenset()
    nodes: frozenset[str] = frozenset()
    # Package functions as (import path, name): only a file importing the package can
    # call one, so in other files the name (`New` of `pgxpool.New`, in a file calling
    # `errors.New`) is passed over before any syntax is looked at.
    imported: frozenset[tuple[str, str]] = frozenset()

    def __or__(self, other: Interest) -> Interest:
        return Interest(
            self.calls | other.calls,
            self.returns | other.returns,
            self.nodes | other.nodes,
            self.imported | other.imported,
        )

    @cached_property
    def names(self) -> frozenset[str]:
        """Every callee name, whatever its gate."""
        return self.calls | frozenset(name for _, name in self.imported)

    @cached_property
    def gates(self) -> dict[str, frozenset[str]]:
        """Callee name -> the import paths one of which a file needs for a call by that
        name to count; a name that is also wanted as a method is not gated."""
        out: dict[str, set[str]] = {}
        for path, name in self.imported:
            if name not in self.calls:
                out.setdefault(name, set()).add(path)
        return {name: frozenset(paths) for name, paths in out.items()}

    def gated_out(self, imports: Iterable[str]) -> frozenset[bytes]:
        """The gated names (as bytes) whose calls cannot count in a file with these
        import paths. Files differ in few of the gates' paths: asked once per mix."""
        key = self._gate_paths.intersection(imports)
        if key not in self._gated_out:
            self._gated_out[key] = frozenset(
                name.encode() for name, paths in self.gates.items() if not paths & key
            )
        return self._gated_out[key]

    @cached_property
    def _gate_paths(self) -> frozenset[str]:
        return frozenset(path for paths in self.gates.values() for path in paths)

    @cached_property
    def _gated_out(self) -> dict[frozenset[str], frozenset[bytes]]:
        return {}


@dataclass(eq=False)
class Function:
    """A function declaration, method, or function literal, with lazily built facts."""

    node: Node
    file: SourceFile
    types: FileTypes
    work: int = 0
    # Which calls never return: the static list, or (set by the package) also the
    # module's own functions that never return (leakaudit.module.noreturn).
    is_noreturn: Callable[[Node], bool] = cfg.is_noreturn_call
    _memo: dict[object, object] = field(default_factory=dict, repr=False)

    @cached_property
    def name(self) -> str:
        return function_name(self.node)

    @cached_property
    def cfg(self) -> cfg.CFG:
        try:
            return cfg.build(child(self.node, "body"), self.is_noreturn, max_blocks=MAX_BLOCKS)
        except cfg.TooLarge:
            raise BudgetExceeded(
                f"function too large to analyze (more than {MAX_BLOCKS} statements)"
            ) from None

    @cached_property
    def scope(self) -> Scope:
        return self.types.scope(self.node)

    @cached_property
    def named_results(self) -> tuple[str, ...]:
        result = child(self.node, "result")
        if result is None or result.type != "parameter_list":
            return ()
        return tuple(
            text(n) for decl in result.named_children for n in decl.children_by_field_name("name")
        )

    @property
    def is_literal(self) -> bool:
        return self.node.type == "func_literal"

    @property
    def is_main(self) -> bool:
        return (
            self.file.package == "main"
            and self.node.type == "function_declaration"
            and text(child(self.node, "name")) == "main"
        )

    def spend(self, steps: int = 1) -> None:
        """Count analysis work on this function; raise BudgetExceeded past the budget."""
        self.work += steps
        if self.work > MAX_WORK:
            raise BudgetExceeded(f"analysis budget of {MAX_WORK} steps exceeded")

    def memo(self, key: object, compute: Callable[[], object]) -> object:
        """Per-function cache for facts several acquire sites share."""
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    def release(self) -> None:
        """Drop the facts (see `Package.release`)."""
        graph = self.__dict__.get("cfg")
        if graph is not None:
            graph.release()
        self.__dict__.clear()


def location(source: SourceFile, node: Node, first_line_only: bool = False) -> Location:
    (sl, sc), (el, ec) = node.start_point, node.end_point
    if first_line_only and el != sl:
        line_end = source.content.find(b"\n", node.start_byte)
        el, ec = sl, (line_end if line_end >= 0 else len(source.content)) - (node.start_byte - sc)
    return Location(source.path, sl + 1, sc + 1, el + 1, ec + 1)


@dataclass(frozen=True)
class Failure:
    """A rule that could not analyze one function (reported as analysis-error)."""

    rule_id: str
    location: Location
    function: str
    why: str


@dataclass
class Sink:
    findings: list[Finding] = field(default_factory=list)
    acquisitions: list[Acquisition] = field(default_factory=list)
    goroutines: list[GoroutineRecord] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    inventory: bool = True  # whether `goroutines` is wanted (only reports show it)

    def report(
        self,
        rule: Rule,
        kind: str,
        source: SourceFile,
        node: Node,
        function: str,
        related: tuple[Related, ...] = (),
        severity: Severity | None = None,
        flow: tuple[Step, ...] = (),
        **values: object,
    ) -> None:
        template = rule.messages.get(kind) or next(iter(rule.messages.values()))
        try:
            message = template.format(**values)
        except (KeyError, IndexError, ValueError):
            message = template
        self.findings.append(
            Finding(
                rule_id=rule.id,
                severity=severity or rule.severity,
                message=message,
                location=location(source, node, first_line_only=True),
                related=related,
                family=rule.family,
                function=function,
                snippet=" ".join(text(node).split())[:200],
                flow=flow,
                extra={"violation": kind},
            )
        )

    def each(
        self, functions: Iterable[Function], rule: Rule, analyze: Callable[[Function], None]
    ) -> None:
        """Run `analyze` on each function. One that is over budget, nested too deep for
        the analysis, or trips a checker bug loses only its own results (an
        analysis-error note says so); the other functions are still analyzed."""
        for fn in functions:
            marks = (len(self.findings), len(self.acquisitions), len(self.goroutines))
            fn.work = 0
            try:
                analyze(fn)
                continue
            except BudgetExceeded as exc:
                why = str(exc)
            except RecursionError:
                why = "nesting too deep to analyze"
            except Exception as exc:  # a checker bug must not cost the other functions
                why = f"{type(exc).__name__}: {exc}"
            del self.findings[marks[0] :]
            del self.acquisitions[marks[1] :]
            del self.goroutines[marks[2] :]
            where = location(fn.file, fn.node, first_line_only=True)
            self.failures.append(Failure(rule.id, where, fn.name, why))


_DECLARATIONS = ("function_declaration", "method_declaration")


@dataclass
class _FileIndex:
    """What the query found in one file: interesting calls and nodes, by the function
    whose body holds them (innermost; func literals are functions of their own)."""

    calls: dict[int, list[tuple[str, Node]]] = field(default_factory=dict)
    nodes: dict[int, list[Node]] = field(default_factory=dict)
    # callee name / node type -> ids of the functions holding one
    callers: dict[str, set[int]] = field(default_factory=dict)
    holders: dict[str, set[int]] = field(default_factory=dict)


@dataclass
class Package:
    """One Go package (a directory's files with one package name, tests included)."""

    directory: str
    files: list[SourceFile]
    symbols: PackageSymbols
    # The rules' library signatures and the summaries of the module packages imported.
    signatures: ModuleSignatures
    go_version: str | None = None
    # Resource type ("database/sql.Rows") -> the obligation rule that follows it: the
    # parameters and results function summaries describe.
    resource_rules: dict[str, Rule] = field(default_factory=dict)
    # Rule family -> the rule whose receiver acquisitions (held locks) the package's
    # summary describes for importers (module/locks.py).
    lock_rules: dict[str, Rule] = field(default_factory=dict)
    # Rules whose owner types are found by what their constructors start (a goroutine
    # waiting for the value's Close: module/owners.py).
    owner_rules: tuple[Rule, ...] = ()
    # Files read for the package's facts only (a pre-commit run's siblings): their
    # findings are dropped, so checks that report inside the function they look at
    # skip those files' functions (`reported`).
    quiet: frozenset[str] = frozenset()
    # What the rules that will run look for: indexed in one query per file up front.
    # Checks may ask for more; that costs another query, not a wrong answer.
    interest: Interest = field(default_factory=Interest)
    _cache: dict[object, object] = field(default_factory=dict)
    _functions: dict[int, Function | None] = field(default_factory=dict, repr=False)
    _indexed: tuple[frozenset[str], frozenset[str]] = (frozenset(), frozenset())
    _index: dict[str, _FileIndex] = field(default_factory=dict, repr=False)
    _func_starts: dict[str, tuple[list[int], list[Node]]] = field(default_factory=dict, repr=False)

    @property
    def module(self) -> ModuleSignatures:
        return self.signatures

    @cached_property
    def file_types(self) -> dict[str, FileTypes]:
        """Path -> FileTypes, each made on first use (most files of a package hold
        nothing any rule looks at)."""
        return _FileTypesByPath(self)

    # -- functions ------------------------------------------------------------------------

    @cached_property
    def functions(self) -> list[Function]:
        """Every analyzable function of the package, in source order (outer before
        inner). Checks that only care about some calls should use `candidates`."""
        return [fn for source in self.files for fn in self.functions_in(source)]

    def functions_in(self, source: SourceFile) -> list[Function]:
        """Every analyzable function of one file, in source order (outer before inner)."""

        def compute() -> list[Function]:
            # Declarations are the file's top-level nodes; literals are found where the
            # word `func` starts anything but a declaration.
            words = queries.finder(frozenset(), frozenset({"func_literal"}))  # all say func
            tops = self.declarations_in(source)
            literals = queries.captures_near(
                queries.LITERALS,
                source.root,
                source.content,
                words,
                skip={c.start_byte for c in tops},
            ).get("fn", ())
            out = []
            for node in sorted([*tops, *literals], key=lambda n: n.start_byte):
                fn = self.function(node, source)
                if fn is not None:
                    out.append(fn)
            return out

        return self.memo(("functions-in", source.path), compute)  # type: ignore[no-any-return]

    def declarations_in(self, source: SourceFile) -> list[Node]:
        """The file's function and method declarations (its top-level nodes)."""
        return [c for c in source.root.named_children if c.type in _DECLARATIONS]

    def function(self, node: Node, source: SourceFile) -> Function | None:
        """The Function of a function node of `source`; None when it cannot be analyzed."""
        # A function with a syntax error inside is skipped: its CFG would be guesswork.
        # The rest of the file is still analyzed.
        key = node.id
        if key not in self._functions:
            ok = child(node, "body") is not None and not node.has_error
            fn = Function(node, source, self.file_types[source.path]) if ok else None
            if fn is not None:
                fn.is_noreturn = self._noreturn(fn)
            self._functions[key] = fn
        return self._functions[key]

    def _noreturn(self, fn: Function) -> Callable[[Node], bool]:
        from leakaudit.module.noreturn import never_returns_call

        return lambda call: never_returns_call(self, fn, call)

    def function_of(self, node: Node, source: SourceFile) -> Function | None:
        """The analyzable function whose own body holds `node` (not a nested literal's).
        A few steps up `Node.parent`; in deeply nested code, by byte ranges (see
        PARENT_STEPS: 50,000 nested blocks took minutes)."""
        cur: Node | None = node.parent
        for _ in range(PARENT_STEPS):  # ordinary code: a few steps up
            if cur is None or cur.type in FUNC_NODES:
                break
            cur = cur.parent
        else:
            cur = self._innermost_function(node, source)
        if cur is None:
            return None
        body = child(cur, "body")
        if body is None or node.start_byte < body.start_byte:
            return None  # in a signature, not the body
        return self.function(cur, source)

    def _innermost_function(self, node: Node, source: SourceFile) -> Node | None:
        """The function or literal around a deeply nested node, by byte ranges."""
        starts, funcs = self._func_ranges(source)
        at = node.start_byte
        i = bisect_right(starts, at) - 1
        while i >= 0:
            candidate = funcs[i]
            if candidate.end_byte > at and candidate != node:
                return candidate  # the latest-starting function around node: innermost
            i -= 1
        return None

    def _func_ranges(self, source: SourceFile) -> tuple[list[int], list[Node]]:
        """The file's functions and literals, by start byte (one query per file)."""
        found = self._func_starts.get(source.path)
        if found is None:
            nodes = sorted(
                queries.captures(_FUNCTIONS, source.root).get("fn", ()),
                key=lambda n: (n.start_byte, -n.end_byte),
            )
            found = self._func_starts[source.path] = ([n.start_byte for n in nodes], nodes)
        return found

    # -- the query index ------------------------------------------------------------------

    def resource_call_names(self, returns: frozenset[str]) -> frozenset[str]:
        """Names of this package's functions and methods (and local interface methods)
        declared to return one of the `returns` types."""
        if not returns:
            return frozenset()

        def by_type(wanted: frozenset[str]) -> dict[str, set[str]]:
            out: dict[str, set[str]] = {}
            symbols = self.symbols
            declared = [
                *symbols.funcs.returning(wanted),
                *((name, results) for (_, name), results in symbols.methods.returning(wanted)),
                *(item for decl in symbols.types.values() for item in decl.methods.items()),
            ]
            for name, results in declared:
                for result in results:
                    if result in wanted:  # resource types only: most results are not
                        out.setdefault(result, set()).add(name)
            # The module's other packages: functions whose summary hands out a fresh one,
            # and the constructors of the values that own one.
            for summary in self.signatures.summaries.values():
                for owner in summary.owners.values():
                    if owner.type in wanted:
                        names = {c.rsplit(".", 1)[-1] for c in owner.constructors}
                        out.setdefault(owner.type, set()).update(names)
                for key, facts in summary.funcs.items():
                    for index in facts.fresh:
                        result = facts.results[index]
                        if result in wanted:
                            out.setdefault(result, set()).add(key.rsplit(".", 1)[-1])
            return out

        def compute() -> frozenset[str]:
            # One pass for every resource type the rules name, shared by their checks.
            wanted = self.interest.returns
            if not returns <= wanted:  # a check asking about another type: its own pass
                wanted = returns
            returning: dict[str, set[str]] = self.memo(  # type: ignore[assignment]
                ("returning", wanted), lambda: by_type(wanted)
            )
            return frozenset(name for kind in returns for name in returning.get(kind, ()))

        return self.memo(("resource-call-names", returns), compute)  # type: ignore[return-value]

    def call_names(self, interest: Interest) -> frozenset[str]:
        """The callee names `interest` asks for in this package: its own, and the names
        of the package's functions returning one of its resource types."""
        return interest.names | self.resource_call_names(interest.returns)

    def _gated_out(self, source: SourceFile) -> frozenset[bytes]:
        """Names whose calls cannot count in `source`: package functions of packages
        the file does not import, unless this package has a function of that name that
        returns a resource (`resource_call_names`; every check asks about the rules'
        resource types, all in `self.interest`)."""
        if not self.interest.gates:
            return frozenset()
        imported = self.symbols.imports_by_root.get(source.root.id)
        gated = self.interest.gated_out(imported.values() if imported is not None else ())
        return gated - self._own_gated if gated else gated

    @cached_property
    def _own_gated(self) -> frozenset[bytes]:
        """Gated names that may be this module's own: functions returning a resource,
        the package's functions (a bare call of one is the package's), and the
        constructors of the owner types of the packages it imports (`worker.New`)."""
        own = set(self.resource_call_names(self.interest.returns))
        own.update(self._maybe_constructors)
        for summary in self.signatures.summaries.values():  # owner types' constructors
            for owner in summary.owners.values():
                own.update(c.rsplit(".", 1)[-1] for c in owner.constructors)
        return frozenset(name.encode() for name in self.interest.gates if name in own)

    @cached_property
    def _maybe_constructors(self) -> frozenset[str]:
        """Names of this package's functions and methods returning a struct of its own
        that has a field of a resource type (or a `cancel` func): the constructors an
        owner type can have (leakaudit.module.owners), told from the text alone."""
        words = {re.escape(t.rsplit(".", 1)[-1].encode()) for t in self.resource_rules}
        search = re.compile(b"|".join(sorted(words | {b"ancel"}))).search
        types = frozenset(
            "." + name
            for name, decl in self.symbols.types.items()
            if decl.kind == "struct" and decl.body is not None and search(decl.body.text or b"")
        )
        if not types:
            return frozenset()
        found = {name for name, _ in self.symbols.funcs.returning(types)}
        found.update(name for (_, name), _ in self.symbols.methods.returning(types))
        return frozenset(found)

    def _ensure(self, names: frozenset[str], nodes: frozenset[str]) -> None:
        """Index the calls named `names` and the nodes of types `nodes`, if not yet."""
        have_names, have_nodes = self._indexed
        if not self._index:  # first use: the whole interest of the rules, in one pass
            names = names | self.call_names(self.interest)
            nodes = nodes | self.interest.nodes
        new_names, new_nodes = names - have_names, nodes - have_nodes
        if not new_names and not new_nodes:
            return
        # The rules' names are methods and other packages' functions, so only a selector
        # calls them: a regex jumping from dot to dot finds those, the same for every
        # package (compiled once). A name this package declares a function of is called
        # bare too, as are its functions returning a resource: looked for everywhere.
        common = new_names & self.interest.names
        funcs = self.symbols.funcs
        declared = frozenset(name for name in common if name in funcs)
        not_dotted = frozenset(name.encode() for name in declared)
        parts = [
            (common, new_nodes, True, not_dotted),
            ((new_names - common) | declared, frozenset(), False, frozenset()),
        ]
        for source in self.files:
            index = self._index.setdefault(source.path, _FileIndex())
            calls, nodes_found = [], []
            gated = self._gated_out(source)
            for part_names, part_nodes, only_selectors, passed in parts:
                if not part_names and not part_nodes:
                    continue
                skip = gated | passed if passed else gated
                found = queries.calls_and_nodes(
                    source.root, source.content, part_names, part_nodes, skip, only_selectors
                )
                if found is None:  # a node type no keyword starts: the query looks everywhere
                    kept = frozenset(n for n in part_names if n.encode() not in skip)
                    found = self._query(source, kept, part_nodes)
                calls.extend(found[0])
                nodes_found.extend(found[1])
            for name, call in calls:
                self._add_call(index, source, call, name)
            for node in nodes_found:
                if node.type in new_nodes:
                    fn = self.function_of(node, source)
                    if fn is not None:
                        index.nodes.setdefault(fn.node.id, []).append(node)
                        index.holders.setdefault(node.type, set()).add(fn.node.id)
        for index in self._index.values():
            for calls in index.calls.values():
                calls.sort(key=lambda item: (item[1].start_byte, -item[1].end_byte))
            for nodes_ in index.nodes.values():
                nodes_.sort(key=lambda n: (n.start_byte, -n.end_byte))
        self._indexed = (have_names | new_names, have_nodes | new_nodes)

    @staticmethod
    def _query(
        source: SourceFile, names: frozenset[str], nodes: frozenset[str]
    ) -> tuple[list[tuple[str, Node]], list[Node]]:
        found = queries.captures(queries.calls_pattern(names, nodes), source.root)
        calls = []
        for name_node in found.get("call", ()):
            call = name_node.parent
            if call is not None and call.type == "selector_expression":
                call = call.parent
            if call is not None:
                calls.append((text(name_node), call))
        for fn_node in found.get("paren", ()):
            call = fn_node.parent
            name = callee_name(call) if call is not None else ""
            if call is not None and name in names:
                calls.append((name, call))
        return calls, list(found.get("node", ()))

    def _add_call(self, index: _FileIndex, source: SourceFile, call: Node, name: str) -> None:
        fn = self.function_of(call, source)
        if fn is not None:
            index.calls.setdefault(fn.node.id, []).append((name, call))
            index.callers.setdefault(name, set()).add(fn.node.id)

    def candidates(self, interest: Interest) -> list[Function]:
        """The functions holding something `interest` names, in source order: the only
        ones a check with that interest needs to look at."""

        def compute() -> list[Function]:
            names, nodes = self.call_names(interest), interest.nodes
            self._ensure(names, nodes)
            out: list[Function] = []
            for source in self.files:
                index = self._index.get(source.path)
                if index is None or not (index.callers or index.holders):
                    continue  # most files hold nothing any rule looks at
                ids: set[int] = set()
                callers = index.callers
                # Loop over the smaller side: rules name many calls, files hold few.
                for name in names if len(names) <= len(callers) else callers.keys() & names:
                    ids.update(callers.get(name, ()))
                for kind in nodes:
                    ids.update(index.holders.get(kind, ()))
                found_fns = [fn for fn in map(self._functions.get, ids) if fn is not None]
                out.extend(sorted(found_fns, key=lambda fn: fn.node.start_byte))
            return out

        return self.memo(("candidates", interest), compute)  # type: ignore[no-any-return]

    def reported(self, interest: Interest) -> list[Function]:
        """`candidates`, less the functions of files whose findings are dropped."""
        found = self.candidates(interest)
        if not self.quiet:
            return found
        return [fn for fn in found if fn.file.path not in self.quiet]

    def calls_in(self, fn: Function, names: frozenset[str]) -> list[Node]:
        """Calls in `fn`'s own body whose callee name is in `names`, in source order."""
        self._ensure(names, frozenset())
        index = self._index.get(fn.file.path)
        if index is None:
            return []
        return [call for name, call in index.calls.get(fn.node.id, ()) if name in names]

    def interested(self, interest: Interest) -> bool:
        return bool(self.candidates(interest))

    def memo(self, key, compute):  # type: ignore[no-untyped-def]
        """Per-package cache for facts several rules share (e.g. released fields)."""
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]

    def release(self) -> None:
        """Drop every fact, once the checks are done with the package (it is unusable
        after). Control-flow graphs, scopes and the package's caches are full of
        cycles; left to the garbage collector, they were most of what it walked again
        and again before it found them dead. Broken here, reference counting frees
        them at once."""
        for fn in self._functions.values():
            if fn is not None:
                fn.release()
        for types in self.__dict__.get("file_types", {}).values():
            types.release()
        self.__dict__.clear()


class _FileTypesByPath(dict):  # type: ignore[type-arg]
    def __init__(self, pkg: Package) -> None:
        super().__init__()
        self.by_path = {f.path: f for f in pkg.files}
        self.pkg = pkg

    def __missing__(self, path: str) -> FileTypes:
        source = self.by_path[path]
        types = self[path] = FileTypes(source.root, self.pkg.symbols, self.pkg.signatures)
        return types


def callee_name(call: Node) -> str:
    """The last name of what a call calls: `Query` in `r.db.Query(...)`."""
    fn = unparen(child(call, "function"))
    if fn is None:
        return ""
    if fn.type == "selector_expression":
        return text(child(fn, "field"))
    if fn.type == "identifier":
        return text(fn)
    return ""


def function_name(node: Node) -> str:
    """`Name`, `Recv.Name`, or `func literal in Outer` (iteratively: literals can nest
    deeper than Python recursion goes)."""
    depth = 0
    cur: Node | None = node
    while cur is not None and cur.type == "func_literal":
        depth += 1
        cur = cur.parent
        while cur is not None and cur.type not in FUNC_NODES:
            cur = cur.parent
    if cur is None:
        name = "<package>"
    elif cur.type == "function_declaration":
        name = text(child(cur, "name"))
    else:
        recv = child(cur, "receiver")
        recv_type = ""
        if recv is not None:
            for decl in recv.named_children:
                t = child(decl, "type")
                recv_type = text(t).lstrip("*").split("[", 1)[0] if t is not None else ""
        name = text(child(cur, "name"))
        name = f"{recv_type}.{name}" if recv_type else name
    return "func literal in " * depth + name
