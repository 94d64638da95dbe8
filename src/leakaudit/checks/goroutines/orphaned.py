"""A send into an event loop's inbox that outlives the loop.

Shape: `go s.loop()` where loop is the package's only receiver of the unbuffered field
channel `s.inbox` (selfsend.inbox_loops), and loop returns (or breaks out of its
labeled loop) from a `select` case on something else (`<-s.quit`, `<-ctx.Done()`)
beside its receive from the inbox (a stop that leaves at once goes first; a case
that leaves only on some values, `if err != nil { return }`, counts too). Once it
has returned, nothing receives from `s.inbox` again: a method of the type that does a
plain `s.inbox <- v` (no other case to take) blocks its goroutine forever when it is
called after the stop, or while it happens. Reported at the send, with the case that
ends the loop as the related location.

Not reported, for precision: an inbox the package closes somewhere (a send after that
panics, another bug), a sending method that mentions the stop at all (it may check it
first), or that takes a lock before its send (a `closed` flag under the lock
that the stopping code sets first) or reads, itself or through a method of the type it
calls first, a field that the code closing the stop channel assigns (`w.readyState =
CLOSED; close(w.done)` against `w.assertStateOpen()`), sends made on the loop's own
goroutine (selfsend's shape), and exported fields (another package may receive from
them).
"""

from __future__ import annotations

import re

from tree_sitter import Node

from leakaudit.checks.api import Package, Sink, location
from leakaudit.checks.goroutines.launches import receiver_name
from leakaudit.checks.goroutines.selfsend import (
    InboxLoop,
    inbox_loops,
    other_methods,
    plain_sends,
)
from leakaudit.findings import Related
from leakaudit.module.effects import declarations_by_name
from leakaudit.parsing.syntax import FUNC_NODES, statements, text, unparen
from leakaudit.parsing.syntax import field as child
from leakaudit.ruleset.model import Rule

_LOCKS = (b".Lock()", b".RLock()")


def run(pkg: Package, rule: Rule, sink: Sink) -> None:
    reported: set[int] = set()  # a send into an inbox two launched loops serve, once
    for inbox in inbox_loops(pkg):
        if inbox.field[:1].isupper():
            continue  # exported: it may have receivers in other packages
        if _closed_somewhere(pkg, inbox.field):
            continue  # a send after that close panics: another bug than a leak
        stop = _stop_case(inbox)
        if stop is None:
            continue  # the loop never returns while senders may still come
        case, stop_chan, at_once = stop
        loop_name = text(child(inbox.loop.node, "name"))
        if at_once:
            how, fix = f"on <-{stop_chan}", f"select on {stop_chan} here too"
        else:
            how = f"from its case on <-{stop_chan}"
            fix = f"select here on a channel that {loop_name}() closes when it returns"
        stop_word = _last_name(stop_chan).encode()
        states = _stopping_states(pkg, stop_word)
        for method in other_methods(pkg, inbox):  # the loop's own: selfsend's findings
            body = child(method.node, "body")
            if body is None or stop_word in (body.text or b""):
                continue  # it looks at the stop: it may check it before sending
            for send in plain_sends(method, inbox.field, into_funcs=True):
                before = method.file.content[body.start_byte : send.start_byte]
                if any(lock in before for lock in _LOCKS):
                    continue  # under a lock the stopping code may take first
                if states and (
                    _checks_state(pkg, inbox.type_name, before, states)
                    or _callers_check(pkg, inbox.type_name, method.name, states)
                ):
                    continue  # it checks the state the stopping code sets as it stops
                if send.id in reported:
                    continue
                reported.add(send.id)
                sink.report(
                    rule,
                    "orphaned-send",
                    method.file,
                    send,
                    method.name,
                    (
                        Related(
                            location(inbox.loop.file, case, first_line_only=True),
                            f"the {loop_name} loop ends here, and nothing receives from "
                            f"{inbox.field} after it",
                        ),
                    ),
                    field=inbox.field,
                    loop=loop_name,
                    how=how,
                    stop_line=case.start_point[0] + 1,
                    fix=fix,
                )


def _stopping_states(pkg: Package, stop_word: bytes) -> frozenset[bytes]:
    """The fields assigned by the functions that close the stop channel (`w.readyState =
    CLOSED; close(w.done)`): a sender that checks one first (`w.assertStateOpen()`)
    knows whether the loop was told to stop, when both run on one goroutine (an event
    loop's) or under one lock."""

    def compute() -> frozenset[bytes]:
        closing = _closing(stop_word)
        out: set[bytes] = set()
        for decl, _ in declarations_by_name(pkg).values():
            data = decl.text or b""
            if closing.search(data):
                out.update(m.group(1) for m in _ASSIGNED_FIELD.finditer(data))
        return frozenset(out)

    return pkg.memo(("stopping-states", stop_word), compute)  # type: ignore[no-any-return]


_ASSIGNED_FIELD = re.compile(rb"\b\w+\.(\w+)\s*=(?!=)")
_RECEIVER_CALL = re.compile(rb"\b\w+\.(\w+)\(")


def _checks_state(pkg: Package, type_name: str, before: bytes, states: frozenset[bytes]) -> bool:
    """`before` (a sender's text up to its send) reads one of `states`, itself or in a
    method of the type it calls there."""
    texts = [before]
    found = declarations_by_name(pkg)
    for name in {m.group(1).decode() for m in _RECEIVER_CALL.finditer(before)}:
        decl = found.get((type_name, name))
        if decl is not None:
            texts.append(decl[0].text or b"")
    return any(
        re.search(rb"\." + re.escape(state) + rb"\b(?!\s*=[^=])", data)
        for data in texts
        for state in states
    )


def _callers_check(pkg: Package, type_name: str, name: str, states: frozenset[bytes]) -> bool:
    """An unexported helper (`sendArrayBuffer`) every call of which, in the methods of
    its type, comes after such a check (`send` calls `assertStateOpen()` first)."""
    short = name.rsplit(".", 1)[-1]
    if short[:1].isupper():
        return False
    call = re.compile(rb"\b\w+\." + re.escape(short.encode()) + rb"\(")
    seen = False
    for (receiver, _), (decl, _) in declarations_by_name(pkg).items():
        data = decl.text or b""
        for match in call.finditer(data):
            if receiver != type_name or not _checks_state(
                pkg, type_name, data[: match.start()], states
            ):
                return False
            seen = True
    return seen


def _closed_somewhere(pkg: Package, field: str) -> bool:
    """Does the package close a channel field of that name (`close(s.inbox)`)?"""
    closing = _closing(field.encode())
    return any(closing.search(source.content) for source in pkg.files)


def _closing(field: bytes) -> re.Pattern[bytes]:
    """`close(x.field)`, `close(s.a.field)`."""
    return re.compile(rb"\bclose\(\s*[\w.]+\." + re.escape(field) + rb"\s*\)")


def _stop_case(inbox: InboxLoop) -> tuple[Node, str, bool] | None:
    """A case of a select in the loop that also receives from the inbox, receiving from
    something else and leaving the loop: (the case, its channel as written, is it a
    stop). A stop leaves at once (`case <-s.quit: return`) and goes first; a case that
    leaves only on some values (`case j := <-s.jobs: if err != nil { return }`) is not
    one a sender can select on."""
    recv = receiver_name(inbox.loop)
    body = child(inbox.loop.node, "body")
    if recv is None or body is None:
        return None
    inbox_chan = f"{recv}.{inbox.field}"
    found: list[tuple[Node, str, bool]] = []
    for select in _selects(body):
        cases = [c for c in select.named_children if c.type == "communication_case"]
        received = [_received_from(c) for c in cases]
        if inbox_chan not in received:
            continue
        for case, chan in zip(cases, received, strict=True):
            if chan is not None and chan != inbox_chan and _leaves(case, select):
                found.append((case, chan, _leaves_at_once(case, select)))
    found.sort(key=lambda item: not item[2])  # stops first, then in source order
    return found[0] if found else None


def _leaves_at_once(case: Node, select: Node) -> bool:
    """Is the case's first statement the one that leaves the loop?"""
    stmts = statements(case)
    if not stmts:
        return False
    first = stmts[0]
    if first.type == "return_statement":
        return True
    label = first.named_children[0] if first.named_children else None
    return (
        first.type == "break_statement"
        and label is not None
        and text(label) in _loop_labels(select)
    )


def _selects(node: Node) -> list[Node]:
    """The select statements below node, not inside func literals."""
    out: list[Node] = []
    stack = [node]
    while stack:
        cur = stack.pop()
        if cur.type == "select_statement":
            out.append(cur)
        stack.extend(c for c in reversed(cur.named_children) if c.type not in FUNC_NODES)
    return out


def _received_from(case: Node) -> str | None:
    """The channel a communication case receives from, as written (`s.quit`,
    `ctx.Done()`); None for a send case."""
    comm = child(case, "communication")
    if comm is None:
        return None
    expr: Node | None = comm
    if comm.type == "receive_statement":
        expr = child(comm, "right")
    elif comm.type == "expression_statement":
        expr = comm.named_children[0] if comm.named_children else None
    expr = unparen(expr)
    if expr is None or expr.type != "unary_expression" or text(child(expr, "operator")) != "<-":
        return None
    operand = unparen(child(expr, "operand"))
    return text(operand) if operand is not None else None


def _leaves(case: Node, select: Node) -> bool:
    """Does the case's body end the loop: a `return` (not from a func literal), or a
    `break L` out of the labeled loop around the select (`case <-ctx.Done(): break
    loop`)?"""
    labels = _loop_labels(select)
    stack = [c for c in case.named_children if c != child(case, "communication")]
    while stack:
        cur = stack.pop()
        if cur.type == "return_statement":
            return True
        if cur.type == "break_statement":
            label = cur.named_children[0] if cur.named_children else None
            if label is not None and text(label) in labels:
                return True
        stack.extend(c for c in cur.named_children if c.type not in FUNC_NODES)
    return False


def _loop_labels(node: Node) -> set[str]:
    """The labels of the for statements around node, up to its function."""
    out: set[str] = set()
    cur = node.parent
    while cur is not None and cur.type not in FUNC_NODES:
        if cur.type == "for_statement":
            outer = cur.parent
            if outer is not None and outer.type == "labeled_statement":
                label = child(outer, "label")
                if label is not None:
                    out.add(text(label))
        cur = cur.parent
    return out


def _last_name(chan: str) -> str:
    """The word a method that checks the stop would spell: `quit` of `s.quit`, `Done`
    of `ctx.Done()`."""
    return chan.removesuffix("()").rsplit(".", 1)[-1]
