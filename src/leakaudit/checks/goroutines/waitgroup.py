"""waitgroup-add-in-goroutine: `wg.Add` inside the goroutine that `wg` is meant to count.

`Wait` may run before the new goroutine is scheduled; the counter is still zero, Wait
returns, and the work it was meant to wait for is still running. Add must happen
before the `go` statement. Only an Add on a declared sync.WaitGroup, in a goroutine
that also calls Done on it, is reported; an Add followed by a `go` statement is the
goroutine counting a child it launches, which is correct.
"""

from __future__ import annotations

from dataclasses import replace

from tree_sitter import Node

from leakaudit.checks.api import Function, Interest, Package, Sink
from leakaudit.checks.goroutines.launches import declares, launches
from leakaudit.facts.cfg import Kind
from leakaudit.fix.waitgroup import move_add_edits
from leakaudit.parsing.syntax import call_named_by, named, text, unparen, walk
from leakaudit.parsing.syntax import field as child
from leakaudit.ruleset.model import Rule

WAITGROUP = "sync.WaitGroup"


def interest(rule: Rule) -> Interest:
    """Only packages that launch goroutines."""
    return Interest(nodes=frozenset({"go_statement"}))


def run(pkg: Package, rule: Rule, sink: Sink) -> None:
    seen: set[int] = set()
    for launch in launches(pkg):
        target = launch.target
        if target is None:
            continue
        for add, wg in _self_adds(target):
            if add.id in seen or _handshake(launch.owner, target, add, wg):
                continue
            if _guarded(pkg, target, add, wg):
                continue
            seen.add(add.id)
            stmt = add.parent if add.parent is not None else add
            sink.report(rule, "add-inside", target.file, stmt, target.name, wg=wg)
            edits, title = move_add_edits(target.file.content, launch.stmt, stmt)
            if edits:
                sink.findings[-1] = replace(sink.findings[-1], fix=edits, fix_title=title)


def wait_group_calls(fn: Function, method: str, into_funcs: bool = False) -> list[tuple[Node, str]]:
    """(call, receiver text) of `x.<method>(...)` on a declared sync.WaitGroup."""
    body = child(fn.node, "body")
    out: list[tuple[Node, str]] = []
    if body is None:
        return out
    for node in _method_calls(fn, body, method, into_funcs):
        callee = unparen(child(node, "function"))
        assert callee is not None
        operand = unparen(child(callee, "operand"))
        if operand is not None and operand.type == "unary_expression":
            operand = unparen(child(operand, "operand"))
        if operand is None:
            continue
        scope = fn.types.scope(_enclosing_or(node, fn.node))
        if fn.types.type_of(operand, scope) == WAITGROUP:
            out.append((node, text(operand)))
    return out


def _method_calls(fn: Function, body: Node, method: str, into_funcs: bool) -> list[Node]:
    """Calls `x.<method>(...)` in body, in the order a walk visits them (by start, the
    outer call first), found from the few field identifiers spelled `method`."""
    calls: list[Node] = []
    for ident in named(body, (method,), kind="field_identifier"):
        call = call_named_by(ident)
        if call is None:
            continue
        if not into_funcs and _enclosing_or(call, fn.node).id != fn.node.id:
            continue  # inside a func literal of its own, which the walk would not enter
        calls.append(call)
    calls.sort(key=lambda call: (call.start_byte, -call.end_byte))
    return calls


def _enclosing_or(node: Node, default: Node) -> Node:
    cur = node.parent
    while cur is not None and cur.type not in (
        "func_literal",
        "function_declaration",
        "method_declaration",
    ):
        cur = cur.parent
    return cur if cur is not None else default


def _self_adds(target: Function) -> list[tuple[Node, str]]:
    adds = wait_group_calls(target, "Add")
    if not adds:
        return []
    done = {wg for _, wg in wait_group_calls(target, "Done", into_funcs=True)}
    out = []
    for add, wg in adds:
        if wg not in done:
            continue
        root = wg.split(".", 1)[0]
        if target.is_literal and "." not in wg and declares(target.node, root):
            continue  # the goroutine's own WaitGroup
        if _launches_after(target, add):
            continue  # counting a child it is about to launch
        out.append((add, wg))
    return out


def _handshake(owner: Function, target: Function, add: Node, wg: str) -> bool:
    """The goroutine signals another WaitGroup after its Add (`swg.Done()`), and the
    launching function waits on that one (`swg.Wait()`) before it waits on `wg`: the
    Add happens before the Wait it matters to."""
    signals = {
        other
        for done, other in wait_group_calls(target, "Done", into_funcs=True)
        if other != wg and done.start_byte > add.end_byte
    }
    if not signals:
        return False
    waits = [(call, name) for call, name in wait_group_calls(owner, "Wait")]
    first_wait = min((c.start_byte for c, name in waits if name == wg), default=None)
    return any(
        name in signals and (first_wait is None or call.start_byte < first_wait)
        for call, name in waits
    )


def _guarded(pkg: Package, target: Function, add: Node, wg: str) -> bool:
    """The Add runs holding a lock (`mu.Lock()` before it in its block, and no
    `mu.Unlock()` between), and every function that waits on the WaitGroup takes the
    same lock before its Wait: a goroutine either adds before the waiter takes the lock
    (and is waited for) or after it (when the code under the lock, a `closed` flag
    say, decides). Locks and WaitGroups are matched by how they are written
    (`s.mu`, `s.wg`)."""
    lock = _held_at(add)
    if lock is None:
        return False
    key = _identity(target, add)
    waiters = [
        (fn, call)
        for fn in pkg.functions
        if fn is not target
        for call, name in wait_group_calls(fn, "Wait")
        if name.rsplit(".", 1)[-1] == wg.rsplit(".", 1)[-1] and _identity(fn, call) == key
    ]
    return bool(waiters) and all(_locks_before(fn, call, lock) for fn, call in waiters)


def _identity(fn: Function, call: Node) -> tuple[str | None, ...]:
    """Which WaitGroup `x.Add(...)`/`x.Wait()` is on: a field by its struct type and
    name (`p.wg` on *pool), a local by its name and the declaration around it."""
    callee = unparen(child(call, "function"))
    operand = unparen(child(callee, "operand")) if callee is not None else None
    if operand is not None and operand.type == "selector_expression":
        scope = fn.types.scope(_enclosing_or(call, fn.node))
        owner = fn.types.type_of(child(operand, "operand"), scope)
        return ("field", owner, text(child(operand, "field")))
    top: Node | None = call
    while top is not None and top.type not in ("function_declaration", "method_declaration"):
        top = top.parent
    return ("local", text(operand), str(top.id) if top is not None else "")


def _held_at(node: Node) -> str | None:
    """The lock (`mu`, `s.mu`) whose `Lock()` comes before `node`'s statement in its
    block with no `Unlock()` of it in between, if any."""
    stmt = node
    while stmt.parent is not None and stmt.parent.type not in ("block", "statement_list"):
        stmt = stmt.parent
    block = stmt.parent
    if block is None:
        return None
    held: str | None = None
    for sibling in block.named_children:
        if sibling.start_byte >= stmt.start_byte:
            break
        call = _call_of(sibling)
        method = _method(call)
        if method is not None and method[1] == "Lock":
            held = method[0]
        elif method is not None and method[1] == "Unlock" and method[0] == held:
            held = None
    return held


def _locks_before(fn: Function, wait: Node, lock: str) -> bool:
    """`lock.Lock()` is called in `fn` before `wait`, outside any func literal."""
    body = child(fn.node, "body")
    if body is None:
        return False
    for node in walk(body):
        if node.start_byte >= wait.start_byte:
            break
        method = _method(node) if node.type == "call_expression" else None
        if method == (lock, "Lock"):
            return True
    return False


def _call_of(stmt: Node) -> Node | None:
    if stmt.type != "expression_statement" or not stmt.named_children:
        return None
    call = unparen(stmt.named_children[0])
    return call if call is not None and call.type == "call_expression" else None


def _method(call: Node | None) -> tuple[str, str] | None:
    """(receiver as written, method) of `x.m(...)`."""
    fn = unparen(child(call, "function")) if call is not None else None
    if fn is None or fn.type != "selector_expression":
        return None
    return text(unparen(child(fn, "operand"))), text(child(fn, "field"))


def _launches_after(fn: Function, add: Node) -> bool:
    graph = fn.cfg
    holding = [
        b
        for b in graph.blocks
        if b.node is not None and b.node.start_byte <= add.start_byte < b.node.end_byte
    ]
    start = min(
        holding,
        key=lambda b: b.node.end_byte - b.node.start_byte,  # type: ignore[union-attr]
        default=None,
    )
    if start is None:
        return False
    seen: set[int] = set()
    stack = [e.target for e in start.succs]
    while stack:
        block = stack.pop()
        if block.index in seen:
            continue
        seen.add(block.index)
        if block.kind == Kind.GO or (block.node is not None and _calls_go(block.node)):
            return True
        stack.extend(e.target for e in block.succs)
    return False


def _calls_go(node: Node) -> bool:
    """`g.Go(func...)`-style launches (errgroup, WaitGroup.Go) count as launching."""
    for n in walk(node):
        if n.type == "call_expression":
            callee = unparen(child(n, "function"))
            if (
                callee is not None
                and callee.type == "selector_expression"
                and text(child(callee, "field")) == "Go"
            ):
                return True
    return False
