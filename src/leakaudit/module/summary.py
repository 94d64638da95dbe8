"""What a package tells the packages that import it: its exported declarations with
every type named by import path, and per function what it does to the resources it
is given and hands out. Plain data: stored in the cache, sent to workers, and
digested, so that an importer's cached result is keyed by what it can see of this
package, not by this package's bytes.

Only exported names go in: nothing else can be named from another package.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # a warm scan reads summaries from the cache, never the parser
    from leakaudit.facts.symbols import PackageSymbols

# What a function does with a resource passed as a parameter, on its paths:
RELEASES = "releases"  # released (or given to something that releases it) on every path
SOME = "some"  # released on some paths only
# Released on every path that returns a nil error, and not on some that return one
# (`if resp.StatusCode != 200 { return fmt.Errorf(...) }; defer resp.Body.Close()`):
# the caller still owes it where the call failed.
ON_SUCCESS = "on-success"
# Released on the paths that return an error, and not on those that return nil (a
# setup step that closes what it was given when it fails): the caller owes it after
# a success.
ON_FAILURE = "on-failure"
BORROWS = "borrows"  # read only: neither released nor kept; the caller still owes it
KEEPS = "keeps"  # stored, returned, sent or passed on to the unknown: someone else's now


@dataclass(frozen=True)
class FuncFacts:
    """One function or method (`Name`, `Type.Name`)."""

    results: tuple[str | None, ...]
    # Indexes of results that are a fresh resource the caller owns (a resource-typed
    # result missing here is a getter's or is released before it is returned).
    fresh: tuple[int, ...] = ()
    # (parameter index, what the function does with it) for resource-typed parameters.
    params: tuple[tuple[int, str], ...] = ()
    noreturn: bool = False  # never returns (log.Fatal, os.Exit, panic on every path)
    # (parameter index, the methods of its interface type) for parameters declared as
    # a reader or writer interface (a file as an io.Reader) that the function only
    # borrows: under a rule none of whose release methods the interface has, the
    # caller still owes the release.
    lends: tuple[tuple[int, tuple[str, ...]], ...] = ()
    # (result index, parameter index, field) for a fresh result the function releases
    # instead when the caller sets that boolean field of that argument (module/flags.py).
    unless: tuple[tuple[int, int, str], ...] = ()

    def param(self, index: int) -> str | None:
        return next((effect for i, effect in self.params if i == index), None)


@dataclass(frozen=True)
class Owner:
    """A type whose values own a resource (leakaudit.module.owners finds them)."""

    type: str  # ".Worker" as its package names it; "path.Worker" in a summary
    rule: str  # the rule whose resource it holds
    field: str
    release: tuple[str, ...]  # its methods that release the field
    constructors: tuple[str, ...]  # "New", "Pool.Worker": what hands out a fresh one
    # Of `release`, those that may wait (a channel receive or send, a select without a
    # default, a Wait): a fix never defers one, which could hang where the value was
    # never started (`Shutdown` waiting for a `Run` that never ran).
    blocking: tuple[str, ...] = ()
    # The `go` statement of a constructor that starts what the value owns (a goroutine
    # waiting for `release`), as (file, line, column): a finding's related location.
    started: tuple[str, int, int] | None = None


# What an exported method does to a lock of its receiver (the acquisitions of a rule
# with `receiver: true`: a held lock is a resource), for importers' lock checks:
TAKES = "takes"  # locks it, and lets go of it before returning
HOLDS = "holds"  # returns holding it (a lock helper): its caller owes the release
# (RELEASES: lets go of a lock its caller holds, on every path: an unlock helper.)


@dataclass(frozen=True)
class LockFact:
    """One lock of the receiver: its path below the receiver ("mu"; "" for an embedded
    mutex), what the method does to it, whether only for reading, the chain of
    methods through which it takes it, and (HOLDS) the methods that release it."""

    field: str
    effect: str  # TAKES, HOLDS or RELEASES
    read: bool = False
    chain: tuple[str, ...] = ()
    release: tuple[str, ...] = ()


@dataclass
class PackageSummary:
    path: str  # import path
    funcs: dict[str, FuncFacts] = field(default_factory=dict)
    fields: dict[str, dict[str, str | None]] = field(default_factory=dict)  # type -> field
    vars: dict[str, str | None] = field(default_factory=dict)
    # Types whose values own a resource (module/owners.py), by qualified type name.
    owners: dict[str, Owner] = field(default_factory=dict)
    # Rule family -> "Type.Method" -> what the exported method does to its receiver's
    # locks (module/locks.py).
    locks: dict[str, dict[str, tuple[LockFact, ...]]] = field(default_factory=dict)
    # Struct type -> its own exported methods, for structs that embed a type: a method
    # not among them is promoted from an embedded one (`reg.Lock()` on a struct
    # embedding sync.RWMutex). `funcs` cannot tell: it leaves out uninteresting methods.
    embedding: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # Set by `seal` once the summary is complete: importers' cache keys hold it, and a
    # warm scan reads it for every import edge (computing it there cost half the scan).
    digest: str = ""

    def seal(self) -> PackageSummary:
        """Fix the digest of everything an importer can see."""
        data = repr(
            (
                self.path,
                sorted(self.funcs.items()),
                sorted((k, sorted(v.items())) for k, v in self.fields.items()),
                sorted(self.vars.items()),
                sorted(self.owners.items()),
                sorted((k, sorted(v.items())) for k, v in self.locks.items()),
                sorted(self.embedding.items()),
            )
        )
        self.digest = hashlib.blake2b(
            data.encode("utf-8", "surrogateescape"), digest_size=16
        ).hexdigest()
        return self


def exported(name: str) -> bool:
    return bool(name) and name[0].isupper()


def qualify(tname: str | None, path: str) -> str | None:
    """A type as the package itself names it (".Store") as importers name it."""
    if tname is not None and tname.startswith("."):
        return path + tname
    return tname


def declarations(symbols: PackageSymbols, path: str) -> PackageSummary:
    """The exported declarations of a package, types qualified (no function facts yet).
    Only from non-test files: the caller passes their symbols."""
    out = PackageSummary(path)
    for name in symbols.funcs:
        if exported(name):
            out.funcs[name] = FuncFacts(tuple(qualify(t, path) for t in symbols.funcs[name]))
    for key in symbols.methods:
        recv, name = key
        if exported(name):  # an unexported type's methods are called on values of it
            results = tuple(qualify(t, path) for t in symbols.methods[key])
            out.funcs[f"{recv}.{name}"] = FuncFacts(results)
    for tname, decl in symbols.types.items():
        if decl.kind == "interface":
            for method, results in decl.methods.items():
                if exported(method):
                    out.funcs[f"{tname}.{method}"] = FuncFacts(
                        tuple(qualify(t, path) for t in results)
                    )
        elif decl.kind == "struct":
            # Exported fields, and embedded ones whatever their name: their exported
            # fields are promoted (`t.DB` through an embedded `*base`).
            embedded = {t.rsplit(".", 1)[-1] for t in decl.embedded}
            fields = {
                f: qualify(t, path) for f, t in decl.fields.items() if exported(f) or f in embedded
            }
            if fields:
                out.fields[tname] = fields
            if decl.embedded:
                out.embedding[tname] = tuple(
                    sorted(
                        name for recv, name in symbols.methods if recv == tname and exported(name)
                    )
                )
    for name, tname in symbols.vars.items():
        if exported(name):
            out.vars[name] = qualify(tname, path)
    return out


class ModuleSignatures(Mapping[str, tuple[str | None, ...]]):
    """Declared results by qualified name ("path.Func", "path.Type.Method", "path.Var"):
    the rules' signatures of library APIs first, then the module's own packages from
    their summaries. What typing asks when a call or a name goes through an import."""

    def __init__(
        self,
        library: Mapping[str, tuple[str, ...]],
        summaries: Mapping[str, PackageSummary] | None = None,
        implementations: Mapping[str, str | None] | None = None,
        own: str | None = None,
        launched: frozenset[str] = frozenset(),
    ) -> None:
        self.library = library
        self.summaries = summaries or {}
        # Interface -> its one implementation in the module, or None when several
        # (module/implementations.py); `own`: the import path of the package reading.
        self.implementations = implementations or {}
        self.own = own
        # Method names some file of the module starts as a goroutine (`go hub.Run()`).
        self.launched = launched

    def split(self, qualified: str) -> tuple[PackageSummary, str] | None:
        """(the package's summary, the name inside it) for a name of a module package."""
        if not self.summaries:
            return None
        slash = qualified.rfind("/")
        dot = qualified.find(".", slash + 1)
        while dot != -1:  # a last path element may hold dots itself (yaml.v3)
            found = self.summaries.get(qualified[:dot])
            if found is not None:
                return found, qualified[dot + 1 :]
            dot = qualified.find(".", dot + 1)
        return None

    def func(self, qualified: str) -> FuncFacts | None:
        """A module function's facts; a method of an interface whose one implementation
        is in another package, that implementation's (from its summary, when this
        package reads it)."""
        if self.implementations:
            facts = self.implemented(qualified)
            if facts is not None:
                return facts
        found = self.split(qualified)
        return found[0].funcs.get(found[1]) if found is not None else None

    def implemented(self, method: str) -> FuncFacts | None:
        """For "path.Iface.Method": the facts of the method of Iface's one implementation,
        when it is in a package whose summary this one reads."""
        iface, _, name = method.rpartition(".")
        impl = self.implementations.get(iface)
        if impl is None or impl.rpartition(".")[0] == iface.rpartition(".")[0]:
            return None  # several, none, or the interface's own package's: its summary
        found = self.split(f"{impl}.{name}")
        return found[0].funcs.get(found[1]) if found is not None else None

    def elsewhere(self, iface: str) -> bool:
        """Is the reading package's interface (".Iface" or "Iface") implemented by
        something other than exactly one type of its own?"""
        key = f"{self.own}.{iface.lstrip('.')}"
        if self.own is None or key not in self.implementations:
            return False
        impl = self.implementations[key]
        return impl is None or impl.rpartition(".")[0] != self.own

    def field_type(self, owner: str, name: str, depth: int = 0) -> str | None:
        """A field's type on a struct of a module package, promoted fields included
        (an embedded field is named after its type, here and in the package)."""
        found = self.split(owner)
        if found is None or depth > 4:
            return None
        fields = found[0].fields.get(found[1], {})
        if name in fields:
            return fields[name]
        for fname, ftype in fields.items():
            if ftype is not None and ftype.rsplit(".", 1)[-1] == fname:  # embedded
                promoted = self.field_type(ftype, name, depth + 1)
                if promoted is not None:
                    return promoted
        return None

    def method_owner(self, tname: str, name: str, depth: int = 0) -> str:
        """The type providing method `name` on `tname`, a module package's type: the
        first embedded type when the struct does not declare it (promoted, as the
        package's own typing does), else `tname` itself."""
        found = self.split(tname)
        if found is None or depth > 4:
            return tname
        summary, local = found
        own = summary.embedding.get(local)
        if own is None or name in own:
            return tname
        for fname, ftype in summary.fields.get(local, {}).items():
            if ftype is not None and ftype.lstrip("*").rsplit(".", 1)[-1] == fname:
                return self.method_owner(ftype.lstrip("*"), name, depth + 1)
        return tname

    def get(self, qualified: str, default=None):  # type: ignore[no-untyped-def,override]
        """Without the KeyError a Mapping's get catches: typing asks this for every
        name used through an import, and most are in neither table."""
        found = self.library.get(qualified)
        if found is not None:
            return found
        split = self.split(qualified)
        if split is not None:
            summary, name = split
            facts = summary.funcs.get(name)
            if facts is not None:
                return facts.results
            if name in summary.vars:
                return (summary.vars[name],)
        return default

    def __getitem__(self, qualified: str) -> tuple[str | None, ...]:
        found = self.get(qualified)
        if found is None:
            raise KeyError(qualified)
        return found  # type: ignore[no-any-return]

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.library)

    def __len__(self) -> int:
        return len(self.library)
