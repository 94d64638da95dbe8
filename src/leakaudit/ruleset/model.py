"""The in-memory form of a rule file. Loading and validation live in `loader.py`.

A rule is *data*: which calls acquire a resource, what releases it, and which
kinds of violation the rule reports. The checks in `leakaudit.checks` interpret
these objects; nothing in Python names a specific rule id.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from leakaudit.findings import Severity

# Kinds of violation the obligation check can report; a rule lists the ones it owns.
VIOLATIONS = (
    "not-released",  # some path reaches an exit with the resource still open
    "discarded",  # the resource was assigned to `_` or the call's result dropped
    "reassigned",  # the variable was re-acquired while the previous value was open
    "field-never-released",  # stored in a struct field that no function ever releases
    # A value whose constructor stored the resource in a field is dropped without a call
    # of the method that releases that field (module/owners.py): the message may use
    # {field}, {release} (a method that releases it), {releases} (all of them, "Close() or
    # Orphan()") and {type} besides the usual {var}, {call}, {exit}.
    "owner-not-released",
    # ... and such a value dropped, or assigned to `_`, at its constructor's call (the
    # same placeholders, {exit} aside).
    "owner-discarded",
    # `not-released`, where the resource's other end (`partner`: a pipe's reader) is read
    # by a goroutine this function launches: that goroutine blocks forever. The message
    # may use {partner} and {reader_line}; `partner-goroutine-severity` sets its level.
    "partner-goroutine",
)
OWNER_VIOLATION = "owner-not-released"
OWNER_DISCARDED = "owner-discarded"


@dataclass(frozen=True)
class AcquireSpec:
    """One way to acquire: a method on some receiver types, a package function,
    or any call whose declared result has a given type."""

    package: str = ""  # import path; "" with `returns` only
    types: tuple[str, ...] = ()  # receiver type names for methods; () for functions
    calls: tuple[str, ...] = ()
    returns: str = ""  # "import/path.Type": a call in this package that returns it
    resource: int = 0  # index of the result that is the resource
    error: int | None = None  # index of the error result, if any
    results: int | None = None  # how many results the call has (default: inferred)
    # Match a method call whose receiver type is unknown by its name and result shape.
    # Off for APIs whose method names are common elsewhere (Get, Post, Do).
    unknown_receivers: bool = True
    receiver: bool = False  # the call's receiver is the resource (`mu.Lock()`)
    # The call's argument at this index is the resource (`signal.Notify(ch, ...)`
    # registers `ch`): a local variable given to a function without a result.
    argument: int | None = None
    # The result at this index is the resource's other end (a pipe's reader): closing
    # it in the same function settles the resource.
    partner: int | None = None
    # Only a receiver that is a local variable: a field started (`s.cmd.Start()`) is
    # its owner's, released with it.
    local: bool = False
    # With `receiver`: the call acquires when it runs as a goroutine (`go srv.Serve(l)`,
    # or first thing in `go func() { ... }()`), for the function that launched it.
    launched: bool = False
    release: tuple[str, ...] = ()  # its own release methods, instead of the rule's
    # The release takes these arguments of the acquiring call (pgx's `tx.Rollback(ctx)`
    # takes `Begin`'s ctx): messages and fixes write them in.
    release_args: tuple[int, ...] = ()

    @property
    def result_count(self) -> int:
        if self.results is not None:
            return self.results
        return max(self.resource, self.error if self.error is not None else -1) + 1


@dataclass(frozen=True)
class ReleaseSpec:
    methods: tuple[str, ...] = ()  # v.Close()
    call: bool = False  # v() releases, as with a cancel func
    via: str = ""  # v.Body.Close(): the field the methods are called on
    receives: tuple[str, ...] = ()  # `<-v.C` releases: the timer fired and is done
    exhausts: tuple[str, ...] = ()  # `v.Next()` returning false releases (rows auto-close)
    # Channel fields never closed (a ticker's C): `for range v.C` never ends by itself.
    endless: tuple[str, ...] = ()
    # Functions that only borrow the resource: passing it to them is not a hand-off.
    borrowers: tuple[str, ...] = ()
    # Functions, by name pattern (`New*Client`), that wrap the resource in a value with
    # no way to release it (a generated gRPC client): given the resource as their only
    # argument, a borrow, where the module's summaries do not know the function.
    wrappers: tuple[str, ...] = ()
    # Functions that release the resource passed to them (`signal.Stop(ch)`).
    functions: tuple[str, ...] = ()
    # Methods that start a new use of the value (`gw.Reset(buf)`): a value reset in the
    # function is a reused scratch one, not followed.
    resets: tuple[str, ...] = ()
    through: tuple[str, ...] = ()  # fields standing for the resource (`e.Mutex` for `e`)
    # Channel fields whose `close(v.quit)` releases the value (an owner of a goroutine
    # that ends when it is closed: module/owners.py; not a YAML key).
    closes: tuple[str, ...] = ()


@dataclass(frozen=True)
class CompanionSpec:
    """After calling one of `after`, one of `require` must be called too (rows.Err)."""

    after: tuple[str, ...]
    require: tuple[str, ...]


@dataclass(frozen=True)
class Rule:
    id: str
    name: str
    family: str
    severity: Severity
    summary: str  # one line, for `leakaudit rules` and SARIF shortDescription
    help: str  # markdown: why, how to fix, bad/good example
    messages: dict[str, str]  # violation kind -> message template
    check: str  # "obligation" | "companion" | a named structural check
    acquire: tuple[AcquireSpec, ...] = ()
    release: ReleaseSpec = field(default_factory=ReleaseSpec)
    companion: CompanionSpec | None = None
    reports: tuple[str, ...] = ()  # which VIOLATIONS this rule owns
    tags: tuple[str, ...] = ()
    precision: str = "high"  # SARIF: very-high | high | medium | low
    options: dict[str, object] = field(default_factory=dict)
    source: str = ""  # the YAML file it came from
    # Runs only when an `enable` or `extend-enable` list names it (its precision, measured
    # on real code, is too low to be on by default).
    opt_in: bool = False
    # The fix of a `not-released` finding nothing releases or hands off on any path: a
    # statement inserted after the acquisition's error check ("defer {var}.Close()").
    fix: str = ""
    # The fix of a `not-released` finding whose every leak is a return: a statement
    # inserted before each of those returns ("_ = {var}.Close()").
    fix_on_exit: str = ""
    family_title: str = ""  # the rule file's `title` and `description`, for docs and reports
    family_description: str = ""
    line: int = 0


@dataclass(frozen=True)
class Signature:
    """Declared result types of an API the scanned code calls (facts, not rules)."""

    results: tuple[str, ...]  # "import/path.Type" or "" for untyped/builtin


@dataclass
class RuleSet:
    rules: list[Rule]
    # "import/path.Func", "import/path.Type.Method" or "import/path.Var" -> result types
    signatures: dict[str, Signature] = field(default_factory=dict)

    def by_id(self, rule_id: str) -> Rule | None:
        return next((r for r in self.rules if r.id == rule_id), None)
