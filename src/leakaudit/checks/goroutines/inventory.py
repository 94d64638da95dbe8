"""The goroutine inventory: how each launched goroutine's lifetime is managed.

Not findings: evidence for the report's "goroutine management" section. One record per
`go` statement, plus one per errgroup/WaitGroup `Go(func...)` call, classified by the
first of: joined by a WaitGroup, run by an errgroup, reports through a result channel
its launcher receives from, a server (ListenAndServe/Serve), stoppable (watches a
Done channel or its loop can exit), process-lifetime, ends on its own (nothing waits
for it, but the concurrency model finds it finishes in every interleaving),
fire-and-forget.
"""

from __future__ import annotations

from tree_sitter import Node

from leakaudit.checks.api import Function, Package, location
from leakaudit.checks.goroutines import blocked
from leakaudit.checks.goroutines.channels import CLOSE, RANGE, RECV, SEND, local_channels
from leakaudit.checks.goroutines.exits import ending
from leakaudit.checks.goroutines.launches import Launch, find, launches
from leakaudit.checks.goroutines.waitgroup import WAITGROUP, wait_group_calls
from leakaudit.parsing.syntax import field as child
from leakaudit.parsing.syntax import text, unparen, walk
from leakaudit.result import GoroutineRecord

ERRGROUP = "golang.org/x/sync/errgroup.Group"
SERVE = frozenset({"ListenAndServe", "ListenAndServeTLS", "Serve", "ServeTLS"})


def records(pkg: Package) -> list[GoroutineRecord]:
    out = [_record(pkg, launch) for launch in launches(pkg)]
    out.extend(_group_records(pkg))
    return out


def _record(pkg: Package, launch: Launch) -> GoroutineRecord:
    kind, evidence = classify(pkg, launch)
    return GoroutineRecord(
        location=location(launch.owner.file, launch.stmt, first_line_only=True),
        function=launch.owner.name,
        kind=kind,
        evidence=evidence,
    )


def classify(pkg: Package, launch: Launch) -> tuple[str, str]:
    target = launch.target
    call_text = " ".join(text(child(launch.call, "function")).split())
    if target is not None and not target.is_literal:
        call_text = target.name
    # Joined by a WaitGroup.
    if target is not None:
        done = wait_group_calls(target, "Done", into_funcs=True)
        if done:
            return "waitgroup", f"calls {done[0][1]}.Done(); joined by {done[0][1]}.Wait()"
    else:
        for arg in _args(launch.call):
            inner = unparen(child(arg, "operand")) if arg.type == "unary_expression" else arg
            if launch.owner.types.type_of(inner, launch.owner.scope) == WAITGROUP:
                return "waitgroup", f"{call_text} is given {text(arg)}"
    added = _added_before(launch)
    if added is not None:
        return "waitgroup", f"{added}.Add before the go statement; joined by {added}.Wait()"
    # Reports to its launcher through a channel.
    for chan in local_channels(pkg, launch.owner):
        if launch in chan.by_launch and chan.launch_ops(launch, SEND, CLOSE):
            verb = "closes" if chan.launch_ops(launch, CLOSE) else "sends on"
            if chan.own_ops(RECV, RANGE):
                return "result-channel", f"{verb} {chan.name}; {launch.owner.name} receives from it"
            if chan.escapes:
                return "result-channel", f"{verb} {chan.name}, which {launch.owner.name} hands on"
    # A server.
    served = _served(launch)
    if served is not None:
        shutdown = _has_call(pkg, ("Shutdown", "Close"))
        return "server", f"{served}" + (
            "; stopped with Shutdown/Close"
            if shutdown
            else "; no Shutdown or Close in this package"
        )
    # Stoppable.
    if target is not None:
        shape = ending(pkg, target)
        if shape.watches_done:
            return "stoppable", "returns when a Done() channel is closed"
        if shape.loops and shape.can_end:
            return "stoppable", "its loop can exit (return, break, or a closed channel)"
        handed = _context_handed(target)
        if handed is not None:
            return "stoppable", handed
    else:
        for arg in _args(launch.call):
            tname = launch.owner.types.type_of(arg, launch.owner.scope)
            if tname == "context.Context" or text(arg) in ("ctx", "stop", "stopCh", "quit", "done"):
                return "stoppable", f"{call_text} is given {text(arg)}"
    if launch.lifetime is not None:
        return "process-lifetime", launch.lifetime
    if target is not None and not ending(pkg, target).can_end:
        return "fire-and-forget", "endless; nothing stops or waits for it"
    verdict = blocked.outcome(pkg, launch.stmt, launch.owner)
    if verdict == "blocks":
        return "fire-and-forget", "can block forever (see the goroutine-leak finding)"
    if verdict == "ends":
        return "ends-on-its-own", "nothing waits for it, but in every interleaving it finishes"
    return "fire-and-forget", "nothing waits for it"


def _added_before(launch: Launch) -> str | None:
    """`wg.Add(n)` among the few statements right before the go statement."""
    stmt = launch.stmt
    seen = 0
    prev = stmt.prev_named_sibling
    while prev is not None and seen < 3:
        if prev.type == "expression_statement":
            call = unparen(prev.named_children[0]) if prev.named_children else None
            if call is not None and call.type == "call_expression":
                fn = unparen(child(call, "function"))
                if fn is not None and fn.type == "selector_expression":
                    operand = unparen(child(fn, "operand"))
                    owner = launch.owner
                    if text(child(fn, "field")) == "Add" and (
                        owner.types.type_of(operand, owner.scope) == WAITGROUP
                    ):
                        return text(operand)
        if prev.type != "comment":
            seen += 1
        prev = prev.prev_named_sibling
    return None


def _context_handed(target: Function) -> str | None:
    """`run(ctx, ...)` inside the goroutine: the blocking work it does is cancellable."""
    body = child(target.node, "body")
    for node in walk(body) if body is not None else ():
        if node.type != "call_expression":
            continue
        for arg in _args(node):
            if target.types.type_of(arg, target.scope) == "context.Context":
                callee = " ".join(text(child(node, "function")).split())
                return f"passes {text(arg)} to {callee}"
    return None


def _args(call: Node) -> list[Node]:
    args = child(call, "arguments")
    return [a for a in (args.named_children if args else []) if a.type != "comment"]


def _served(launch: Launch) -> str | None:
    callee = unparen(child(launch.call, "function"))
    if (
        callee is not None
        and callee.type == "selector_expression"
        and text(child(callee, "field")) in SERVE
    ):
        return f"runs {text(callee)}"
    target = launch.target
    if target is None or not target.is_literal:
        return None
    body = child(target.node, "body")
    for node in walk(body) if body is not None else ():
        fn = unparen(child(node, "function")) if node.type == "call_expression" else None
        if (
            fn is not None
            and fn.type == "selector_expression"
            and text(child(fn, "field")) in SERVE
        ):
            return f"runs {text(fn)}"
    return None


def _has_call(pkg: Package, names: tuple[str, ...]) -> bool:
    def compute() -> bool:
        pattern = rb"\b(?:" + b"|".join(n.encode() for n in names) + rb")\b"
        return any(find(source, pattern, ("field_identifier",)) for source in pkg.files)

    return pkg.memo(("goroutines:has-call", names), compute)  # type: ignore[no-any-return]


def _group_records(pkg: Package) -> list[GoroutineRecord]:
    """`g.Go(func...)` on an errgroup.Group or sync.WaitGroup launches a joined goroutine."""
    out: list[GoroutineRecord] = []
    for source in pkg.files:
        if b".Go(" not in source.content:
            continue
        for fn in pkg.functions_in(source):
            out.extend(_group_calls(fn))
    return out


def _group_calls(fn: Function) -> list[GoroutineRecord]:
    """The records of the g.Go(...) calls in one function's own body."""
    body = child(fn.node, "body")
    if body is None or b".Go(" not in (body.text or b""):
        return []
    out: list[GoroutineRecord] = []
    for node in walk(body):
        if node.type != "call_expression":
            continue
        callee = unparen(child(node, "function"))
        if callee is None or callee.type != "selector_expression":
            continue
        if text(child(callee, "field")) not in ("Go", "TryGo"):
            continue
        kind = _group_kind(fn, unparen(child(callee, "operand")))
        if kind is None:
            continue
        operand = text(child(callee, "operand"))
        method = text(child(callee, "field"))
        out.append(
            GoroutineRecord(
                location=location(fn.file, node, first_line_only=True),
                function=fn.name,
                kind=kind,
                evidence=f"{operand}.{method}; joined by {operand}.Wait()",
            )
        )
    return out


def _group_kind(fn: Function, operand: Node | None) -> str | None:
    tname = fn.types.type_of(operand, fn.scope)
    if tname == ERRGROUP:
        return "errgroup"
    if tname == WAITGROUP:
        return "waitgroup"
    return None
