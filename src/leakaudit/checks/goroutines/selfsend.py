"""An event loop that sends to itself: a plain send on an unbuffered struct-field channel
from code running on the one goroutine that receives from it.

Shape: `go s.loop()` where loop is the only code in the package that receives from
`s.ch` (made unbuffered); a method loop calls, directly or through other methods on
the same receiver, does `s.ch <- v`. That send waits for a receiver, and the only
receiver is the loop, which is busy making the send. It blocks forever. The `go` may
be in another package of the module (`go hub.Run(ctx)` in the server's main): the
scan collects the method names every file starts (module/filefacts.py).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from tree_sitter import Node

from leakaudit.checks.api import Function, Package, Sink, callee_name, location
from leakaudit.checks.goroutines.channels import RANGE, RECV, classify, select_alternatives
from leakaudit.checks.goroutines.exits import field_channels
from leakaudit.checks.goroutines.launches import (
    find_word,
    index,
    launches,
    looped,
    owner_of,
    receiver_name,
    receiver_type,
)
from leakaudit.findings import Related
from leakaudit.parsing.syntax import field as child
from leakaudit.parsing.syntax import text, unparen, walk
from leakaudit.ruleset.model import Rule


@dataclass(frozen=True)
class InboxLoop:
    """A method of `type_name` run as a goroutine that is the package's only receiver
    of the unbuffered channel field `field`, receiving in a loop: an event loop, with
    the methods that run on its goroutine (`reach`: method -> the chain of calls that
    gets there from the loop)."""

    type_name: str
    field: str
    loop: Function
    first_receive: Node
    reach: dict[Function, list[str]]


def inbox_loops(pkg: Package) -> list[InboxLoop]:
    """The package's event loops, shared by the checks of sends into their inboxes."""

    def compute() -> list[InboxLoop]:
        facts = field_channels(pkg)
        if not facts.made:
            return []  # no channel made into a field: no type has an inbox
        idx = index(pkg)
        candidates: dict[str, set[str]] = {}  # type name -> unbuffered chan fields
        for tname, decl in pkg.symbols.types.items():
            for fname, ftype in decl.fields.items():
                if ftype == "chan" and fname in facts.made and facts.unbuffered.get(fname):
                    candidates.setdefault(tname, set()).add(fname)
        if not candidates:
            return []
        receivers = _receive_sites(pkg, candidates)
        if not receivers:
            return []
        # Only the receiving methods matter as loops: look for launches of those names.
        names = {fn.name.rsplit(".", 1)[-1] for sites in receivers.values() for fn, _ in sites}
        launched = _launched_methods(pkg, names)
        out: list[InboxLoop] = []
        for (tname, fname), sites in sorted(receivers.items()):
            owners = {fn for fn, _ in sites}
            if any(receiver_type(fn) != tname for fn in owners):
                continue  # received outside the type's methods: not a single loop
            for loop in sorted(owners & launched, key=lambda f: f.node.start_byte):
                if not any(fn is loop and looped(node, loop.node) for fn, node in sites):
                    continue
                reach = _reachable(idx, tname, loop)
                if not owners <= set(reach):
                    continue
                first = min((node for fn, node in sites if fn is loop), key=lambda n: n.start_byte)
                out.append(InboxLoop(tname, fname, loop, first, reach))
        return out

    return pkg.memo(("inbox-loops",), compute)  # type: ignore[no-any-return]


def other_methods(pkg: Package, inbox: InboxLoop) -> list[Function]:
    """The methods of the loop's type that do not run on its goroutine, by name: those
    its callers run, on goroutines of their own."""
    idx = index(pkg)
    out: list[Function] = []
    for receiver, name in sorted(idx.methods):
        if receiver != inbox.type_name:
            continue
        method = idx.method(receiver, name)
        if method is not None and method not in inbox.reach:
            out.append(method)
    return out


def run(pkg: Package, rule: Rule, sink: Sink) -> None:
    reported: set[int] = set()
    for inbox in inbox_loops(pkg):
        loop, fname = inbox.loop, inbox.field
        for method, chain in inbox.reach.items():
            for send in plain_sends(method, fname):
                if send.id in reported:
                    continue
                reported.add(send.id)
                loop_name = text(child(loop.node, "name"))
                sink.report(
                    rule,
                    "self-deadlock",
                    method.file,
                    send,
                    method.name,
                    (
                        Related(
                            location(loop.file, inbox.first_receive, first_line_only=True),
                            f"the only receiver of {fname}: the {loop_name} loop",
                        ),
                    ),
                    field=fname,
                    loop=loop_name,
                    chain=" -> ".join(chain),
                )


def _receive_sites(
    pkg: Package, candidates: dict[str, set[str]]
) -> dict[tuple[str, str], list[tuple[Function, Node]]]:
    """(type, field) -> every (function, receive) that takes from x.field."""
    names = sorted({f for fields in candidates.values() for f in fields})
    out: dict[tuple[str, str], list[tuple[Function, Node]]] = {}
    for source in pkg.files:
        for fname in names:
            if fname.encode() not in source.content:
                continue
            for ident in find_word(source, fname, ("field_identifier",)):
                chan = ident.parent
                if chan is None or chan.type != "selector_expression":
                    continue
                kind = classify(chan).kind
                if kind not in (RECV, RANGE):
                    continue
                fn = owner_of(pkg, chan, source)
                if fn is None:
                    continue
                node = chan.parent  # the `<-x.f` or the range clause
                owner = fn.types.type_of(child(chan, "operand"), fn.scope)
                for tname, fields in candidates.items():
                    if fname in fields and owner in (None, "." + tname):
                        out.setdefault((tname, fname), []).append((fn, node))
    return out


def _launched_methods(pkg: Package, names: set[str]) -> set[Function]:
    """Methods named one of `names` run as a goroutine: `go x.m()`, or a launched
    literal that calls x.m(); or started by name in another package of the module
    (`go hub.Run(ctx)` in the server's main package)."""
    idx = index(pkg)
    out: set[Function] = set()
    for receiver, name in idx.methods:
        if name in names and name in pkg.module.launched:
            found = idx.method(receiver, name)
            if found is not None:
                out.add(found)
    for launch in launches(pkg):
        target = launch.target
        if target is None:
            continue
        if not target.is_literal:
            out.add(target)
            continue
        body = child(target.node, "body")
        for node in walk(body) if body is not None else ():
            if node.type != "call_expression":
                continue
            if callee_name(node) not in names:
                continue  # not named like a receiving method: no typing needed
            callee = target.types.quick_callee(node, target.node) or target.types.callee(
                node, target.scope
            )
            if callee is not None and callee.package == "." and callee.receiver:
                found = idx.method(callee.receiver, callee.name)
                if found is not None:
                    out.add(found)
    return out


def _reachable(idx, tname: str, loop: Function) -> dict[Function, list[str]]:  # type: ignore[no-untyped-def]
    """Methods of tname that run on loop's goroutine: called from it on the receiver,
    directly or through each other (not through go statements or closures)."""
    seen: dict[Function, list[str]] = {loop: [text(child(loop.node, "name"))]}
    queue = deque([loop])
    while queue:
        fn = queue.popleft()
        recv = receiver_name(fn)
        body = child(fn.node, "body")
        if recv is None or body is None:
            continue
        for node in walk(body):
            if node.type != "call_expression" or (
                node.parent is not None and node.parent.type == "go_statement"
            ):
                continue
            callee = unparen(child(node, "function"))
            if callee is None or callee.type != "selector_expression":
                continue
            operand = unparen(child(callee, "operand"))
            if operand is None or operand.type != "identifier" or text(operand) != recv:
                continue
            found = idx.method(tname, text(child(callee, "field")))
            if found is not None and found not in seen:
                seen[found] = seen[fn] + [text(child(found.node, "name"))]
                queue.append(found)
    return seen


def plain_sends(fn: Function, fname: str, into_funcs: bool = False) -> list[Node]:
    """`recv.fname <- v` in the method fn (and in its func literals, `into_funcs`) that
    waits for a receiver: no other case of a select to take instead."""
    recv = receiver_name(fn)
    body = child(fn.node, "body")
    if recv is None or body is None:
        return []
    out: list[Node] = []
    for node in walk(body, into_funcs=into_funcs):
        if node.type != "send_statement":
            continue
        chan = unparen(child(node, "channel"))
        if chan is None or chan.type != "selector_expression":
            continue
        operand = unparen(child(chan, "operand"))
        if (
            operand is not None
            and operand.type == "identifier"
            and text(operand) == recv
            and text(child(chan, "field")) == fname
            and not select_alternatives(node)
        ):
            out.append(node)
    return out
