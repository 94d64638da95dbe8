"""A send into an event loop's inbox while holding a lock the loop takes between its
receives.

Shape: `go s.loop()` where loop is the package's only receiver of the unbuffered field
channel `s.inbox` (selfsend.inbox_loops), and loop's receiving `for` takes `s.mu`
(`s.mu.Lock()` in its body). A method of the type sends `s.inbox <- v` while it holds
`s.mu` (locked before the send, not unlocked in between; a deferred unlock holds it to
the end). The send waits until loop is back at its receive, and loop, done with the
previous value, first waits for `s.mu`: a second send right after the first is enough,
and both goroutines wait for each other forever. Reported at the send, with the loop's
lock as the related location. Two read locks do not exclude each other: a read-locked
send against a read-locking loop is not reported.

This is the concurrency model's lock-wait finding for channels a function makes
itself (model/skeleton.py), for the struct-field inbox the model does not follow
across methods. Locks are matched by their path below the receiver (`mu`, `state.mu`),
as the lock checks name them.
"""

from __future__ import annotations

from tree_sitter import Node

from leakaudit.checks.api import Function, Package, Sink, location
from leakaudit.checks.goroutines.launches import receiver_name
from leakaudit.checks.goroutines.selfsend import inbox_loops, other_methods, plain_sends
from leakaudit.findings import Related
from leakaudit.parsing.syntax import FUNC_NODES, path_of, text, unparen
from leakaudit.parsing.syntax import field as child
from leakaudit.ruleset.model import Rule

_TAKE = {"Lock": False, "RLock": True}  # method -> is it a read lock
_GIVE = {"Unlock": "Lock", "RUnlock": "RLock"}


def run(pkg: Package, rule: Rule, sink: Sink) -> None:
    reported: set[int] = set()
    for inbox in inbox_loops(pkg):
        taken = _loop_locks(inbox.loop, inbox.first_receive)
        if not taken:
            continue
        loop_name = text(child(inbox.loop.node, "name"))
        for method in other_methods(pkg, inbox):  # the loop's own: selfsend's findings
            for send in plain_sends(method, inbox.field):
                if send.id in reported:
                    continue
                for path, (lock, read) in _held_at(method, send).items():
                    found = taken.get(path)
                    if found is None or (read and found[1]):
                        continue  # not taken by the loop, or read locks on both sides
                    reported.add(send.id)
                    sink.report(
                        rule,
                        "locked-send",
                        method.file,
                        send,
                        method.name,
                        (
                            Related(
                                location(inbox.loop.file, found[0], first_line_only=True),
                                f"the {loop_name} loop takes {path} here before it "
                                f"receives from {inbox.field} again",
                            ),
                        ),
                        field=inbox.field,
                        lock=path,
                        lock_line=lock.start_point[0] + 1,
                        loop=loop_name,
                        loop_line=found[0].start_point[0] + 1,
                    )
                    break


def _loop_locks(loop: Function, receive: Node) -> dict[str, tuple[Node, bool]]:
    """Lock path -> (the call, is it a read lock) for the locks the loop's receiving
    `for` takes on its receiver in its body (not in func literals)."""
    recv = receiver_name(loop)
    body = _outermost_loop(receive, loop.node)
    if recv is None or body is None:
        return {}
    out: dict[str, tuple[Node, bool]] = {}
    for call, path, method in _lock_calls(body, recv):
        if method in _TAKE and path not in out:
            out[path] = (call, _TAKE[method])
    return out


def _outermost_loop(node: Node, stop: Node) -> Node | None:
    """The outermost for statement around node below stop."""
    found = None
    cur = node.parent
    while cur is not None and cur != stop:
        if cur.type == "for_statement":
            found = cur
        cur = cur.parent
    return found


def _held_at(method: Function, send: Node) -> dict[str, tuple[Node, bool]]:
    """Lock path -> (the Lock call, is it a read lock) for the locks the method holds on
    its receiver at `send`: taken before it, and not let go in between (a deferred
    unlock lets go only at the return)."""
    recv = receiver_name(method)
    body = child(method.node, "body")
    if recv is None or body is None:
        return {}
    held: dict[str, tuple[Node, bool]] = {}
    for call, path, name in _lock_calls(body, recv):
        if call.start_byte >= send.start_byte:
            break
        if name in _TAKE:
            held[path] = (call, _TAKE[name])
        elif name in _GIVE and not _deferred(call):
            held.pop(path, None)
    return held


def _lock_calls(node: Node, recv: str) -> list[tuple[Node, str, str]]:
    """(call, lock path below the receiver, method) for `recv.path.Lock()` and the like
    below node, in source order, not inside func literals (a deferred literal's
    unlock included: `defer func() { s.mu.Unlock() }()`)."""
    out: list[tuple[Node, str, str]] = []
    stack = [node]
    while stack:
        cur = stack.pop()
        if cur.type == "call_expression":
            fn = unparen(child(cur, "function"))
            if fn is not None and fn.type == "selector_expression":
                method = text(child(fn, "field"))
                if method in _TAKE or method in _GIVE:
                    full = path_of(unparen(child(fn, "operand")))
                    if full is not None and full.startswith(recv + "."):
                        out.append((cur, full[len(recv) + 1 :], method))
        for c in reversed(cur.named_children):
            if c.type not in FUNC_NODES or _deferred_literal(c):
                stack.append(c)
    out.sort(key=lambda item: item[0].start_byte)
    return out


def _deferred_literal(node: Node) -> bool:
    """A func literal called by a defer statement (`defer func() { ... }()`)."""
    call = node.parent
    return (
        node.type == "func_literal"
        and call is not None
        and call.type == "call_expression"
        and call.parent is not None
        and call.parent.type == "defer_statement"
    )


def _deferred(call: Node) -> bool:
    """Does the call run deferred: `defer s.mu.Unlock()`, or inside a deferred literal?"""
    cur = call.parent
    while cur is not None:
        if cur.type == "defer_statement":
            return True
        if cur.type in FUNC_NODES and not _deferred_literal(cur):
            return False
        cur = cur.parent
    return False
