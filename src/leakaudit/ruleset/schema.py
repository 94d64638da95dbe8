"""The schema of a rule file, as data, so the loader can report `file:line: problem`.

Kept in Python rather than JSON Schema because validation must give the YAML line of
the offending key, and the runtime must not depend on a schema library.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Field:
    # "str" | "int" | "bool" | "list[str]" | "map[str,str]" | "map[str,list[str]]"
    # | "object" (a nested schema) | "list[object]"
    kind: str
    required: bool = False
    schema: str = ""  # for object / list[object]: the name of a nested schema
    pattern: str = ""  # for str: a regex the value must match
    choices: tuple[str, ...] = ()


RULE_ID = r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$"
IMPORT_PATH = r"^[A-Za-z0-9_.\-~]+(/[A-Za-z0-9_.\-~]+)*$"
GO_IDENT = r"^[A-Za-z_][A-Za-z0-9_]*$"
GO_NAME_GLOB = r"^[A-Za-z_*][A-Za-z0-9_*]*$"  # a function name, `*` for any run of characters
QUALIFIED = r"^[A-Za-z0-9_.\-~/]+\.[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$"
VERSION = r"^1\.\d+(\.\d+)?$"

SCHEMAS: dict[str, dict[str, Field]] = {
    "file": {
        "family": Field("str", required=True, pattern=RULE_ID),
        "title": Field("str", required=True),
        "description": Field("str"),
        "signatures": Field("map[str,list[str]]"),
        "rules": Field("list[object]", required=True, schema="rule"),
    },
    "rule": {
        "id": Field("str", required=True, pattern=RULE_ID),
        "name": Field("str", required=True, pattern=r"^[A-Z][A-Za-z0-9]*$"),
        "severity": Field("str", required=True, choices=("error", "warning", "note")),
        "summary": Field("str", required=True),
        "help": Field("str", required=True),
        "check": Field("str", required=True, pattern=RULE_ID),
        "messages": Field("map[str,str]", required=True),
        "reports": Field("list[str]"),
        "acquire": Field("list[object]", schema="acquire"),
        "release": Field("object", schema="release"),
        "companion": Field("object", schema="companion"),
        "tags": Field("list[str]"),
        "precision": Field("str", choices=("very-high", "high", "medium", "low")),
        "options": Field("object", schema="options"),
        # Off unless an `enable` or `extend-enable` list names it.
        "opt-in": Field("bool"),
        # `leakaudit fix`: the statement that releases it, deferred where it is certainly
        # right (see fix/defer.py); {var} and {release} are filled in.
        "fix": Field("str", pattern=r"^defer [A-Za-z_{][\w{}.]*\(\)$"),
        # ... or a statement before each return that leaks it (error paths of a client).
        "fix-on-exit": Field("str", pattern=r"^(_ = )?[A-Za-z_{][\w{}.]*\(\)$"),
    },
    "acquire": {
        "package": Field("str", pattern=IMPORT_PATH),
        "types": Field("list[str]"),
        "calls": Field("list[str]"),
        "returns": Field("str", pattern=QUALIFIED),
        "resource": Field("int"),
        "error": Field("int"),
        "results": Field("int"),
        "unknown-receivers": Field("bool"),
        # The call's receiver is the resource: a method without a result (`mu.Lock()`).
        "receiver": Field("bool"),
        # With `receiver`: only when the receiver is a local variable (`cmd.Start()`, not
        # `s.cmd.Start()`, whose owner waits for it with the rest of its state).
        "local": Field("bool"),
        # With `receiver`: the call acquires when run as a goroutine (`go srv.Serve(l)`,
        # or a statement of `go func() { ... }()`): the launching function owes the release.
        "launched": Field("bool"),
        # The call's argument at this index is the resource: `signal.Notify(ch, ...)`
        # registers the local channel `ch` (a call without a result).
        "argument": Field("int"),
        # The result at this index is the other end of the resource (`io.Pipe`'s reader):
        # closing it in the same function settles the resource.
        "partner": Field("int"),
        # What releases what this entry acquires, when not the rule's release.methods
        # (`RLock` is released by `RUnlock`, `Lock` by `Unlock`).
        "release": Field("list[str]"),
        # The release takes these arguments of the acquiring call, in order (pgx's
        # `tx.Rollback(ctx)` takes the ctx given to `Begin`).
        "release-args": Field("list[int]"),
    },
    "release": {
        "methods": Field("list[str]"),
        "call": Field("bool"),
        "via": Field("str", pattern=GO_IDENT),
        "borrowers": Field("list[str]"),
        # Function names (globs: `New*Client`) that wrap the resource without owning it.
        "wrappers": Field("list[str]"),
        # Functions that release the resource given to them: `signal.Stop(ch)`.
        "functions": Field("list[str]"),
        # Methods that begin a new use of a reused value (`gw.Reset(buf)`): a value reset
        # in the function is a scratch one and is not followed.
        "resets": Field("list[str]"),
        "receives": Field("list[str]"),
        "exhausts": Field("list[str]"),
        "endless": Field("list[str]"),
        # Fields that stand for the resource itself: `e.Mutex.Unlock()` unlocks `e`.
        "through": Field("list[str]"),
    },
    "companion": {
        "after": Field("list[str]", required=True),
        "require": Field("list[str]", required=True),
    },
    # Options the checks understand. Unknown keys are errors like everywhere else.
    "options": {
        "exempt-main": Field("bool"),  # func main of package main owes nothing
        # Code that runs a bounded number of times for the whole process (main, init,
        # what only they call, sync.Once bodies) owes nothing: it ends with the process.
        "exempt-process-lifetime": Field("bool"),
        "error-paths-only": Field("bool"),  # only returns of a non-nil error leak
        # Only paths that may succeed owe the release: a return that surely returns an
        # error (`return fmt.Errorf(...)`, `return err` under `if err != nil`) does not
        # (a writer left unfinished when the write failed loses nothing).
        "success-paths-only": Field("bool"),
        "field-store-needs-release": Field("bool"),  # a stored field must be released somewhere
        "skip-tests": Field("bool"),  # not in _test.go files
        "relaxed-from-go": Field("str", pattern=VERSION),  # Go version making the leak benign
        "relaxed-severity": Field("str", choices=("error", "warning", "note")),
        "relaxed-reason": Field("str"),
        "calls": Field("list[str]"),  # structural checks: the calls they look at
        "packages": Field("list[str]"),
        "leave-stopped-tickers": Field("bool"),  # ticker loops go to the ticker rule
        # A function that never releases what it acquires returns holding it on purpose
        # (a lock helper): only one releasing it on some paths but not all is reported.
        "helpers-hold": Field("bool"),
        # Report at the exit that leaves it held (the place to fix), not at the acquisition;
        # `acquired-as` names the acquisition in the related location ("locked").
        "report-at-exit": Field("bool"),
        "acquired-as": Field("str"),
        # The rule's `fix` also where some path releases it already: a second release is
        # harmless (cancel twice, Rollback after Commit).
        "fix-beside-release": Field("bool"),
        # Owner types of this rule found by what their constructors start, not by a
        # resource field (module/owners.py): `goroutine`, a struct whose constructor
        # starts a goroutine waiting on a channel field that only its methods close.
        "owners": Field("str", choices=("goroutine",)),
        # The level of a `partner-goroutine` finding (a goroutine blocked for good).
        "partner-goroutine-severity": Field("str", choices=("error", "warning", "note")),
    },
}

_LIST_ITEM_PATTERNS = {
    ("acquire", "types"): GO_IDENT,
    ("acquire", "calls"): GO_IDENT,
    ("release", "methods"): GO_IDENT,
    ("release", "borrowers"): QUALIFIED,
    ("release", "wrappers"): GO_NAME_GLOB,
    ("release", "functions"): QUALIFIED,
    ("release", "resets"): GO_IDENT,
    ("release", "receives"): GO_IDENT,
    ("release", "exhausts"): GO_IDENT,
    ("release", "endless"): GO_IDENT,
    ("release", "through"): GO_IDENT,
    ("acquire", "release"): GO_IDENT,
    ("companion", "after"): GO_IDENT,
    ("companion", "require"): GO_IDENT,
    ("file", "signatures"): r"^$|^error$|^func$|^[A-Za-z0-9_.\-~/]+\.[A-Za-z_][A-Za-z0-9_]*$",
}


def list_item_pattern(schema: str, key: str) -> re.Pattern[str] | None:
    pattern = _LIST_ITEM_PATTERNS.get((schema, key))
    return re.compile(pattern) if pattern else None
