"""goroutine-leak, decided by the model: goroutines its search finds waiting forever.

Each function that owns channels or WaitGroups and launches goroutines (itself or in a
literal inside it) is a reach (`model.skeleton`). The search (`model.search`) finds the
terminal states where a goroutine still waits on a tracked operation; each becomes a
finding at the `go` statement of the goroutine, one per object and kind of wait, with
the interleaving as its witness:

- `unreceived`: it sends, and the launcher returned without receiving;
- `never-closed`: it ranges over a channel nothing closes;
- `unsent`: it receives, and nothing will send on the channel or close it again;
- `wait-forever`: it waits on a WaitGroup whose count never reaches zero;
- `deadlock`: the launcher itself waits forever, on a path with no free choice;
- `closed-send`, `closed-close`: a send on, or a close of, a closed channel (panics).
"""

from __future__ import annotations

from tree_sitter import Node

from leakaudit.checks.api import Failure, Function, Package, Sink, location
from leakaudit.checks.goroutines.launches import launches
from leakaudit.findings import Related, Step
from leakaudit.model.search import Result, Stuck, explore
from leakaudit.model.skeleton import (
    ADD,
    ANY,
    BRANCH,
    CHOICE,
    CLOSE,
    GO,
    LOCK,
    RANGE,
    RECV,
    SELECT,
    SEND,
    WAIT,
    Op,
    Program,
    Unsupported,
    compile_reach,
)
from leakaudit.parsing.syntax import FUNC_NODES, enclosing_function, line_of, text, word_starts
from leakaudit.parsing.syntax import field as child
from leakaudit.ruleset.model import Rule

MAX_FLOW = 40  # steps kept in a witness


def roots(pkg: Package) -> list[Function]:
    """Functions that launch goroutines, and the functions around them: the channels a
    goroutine uses are often made one literal further out; and functions that close a
    channel in deferred code, which may wait on it themselves. In source order."""
    seen: dict[int, Function] = {}
    for launch in launches(pkg):
        node: Node | None = launch.owner.node
        while node is not None:
            if node.type in FUNC_NODES and node.id not in seen:
                fn = pkg.function(node, launch.owner.file)
                if fn is not None:
                    seen[node.id] = fn
            node = node.parent
    for fn in _deferring_channel_ops(pkg).values():
        seen.setdefault(fn.node.id, fn)
    order = {source.path: i for i, source in enumerate(pkg.files)}
    return sorted(seen.values(), key=lambda fn: (order[fn.file.path], fn.node.start_byte))


def run(pkg: Package, rule: Rule, sink: Sink) -> None:
    candidates = [fn for fn in roots(pkg) if _wanted(fn, rule) and _has_objects(fn)]
    sink.each(candidates, rule, lambda fn: check(pkg, fn, rule, sink))


def _deferring_channel_ops(pkg: Package) -> dict[int, Function]:
    """The functions (declared or literal) whose deferred code closes or sends on a
    channel (`defer close(done)`, `defer func() { out <- v }()`), by node id: with no
    goroutine of their own, they can still wait on what only that deferred code
    releases (then `<-done`), and only the model tells whether they do. Found from a
    byte search for `defer`: most files hold few."""

    def compute() -> dict[int, Function]:
        out: dict[int, Function] = {}
        for source in pkg.files:
            content = source.content
            for at in word_starts(content, b"defer"):
                node = source.root.descendant_for_byte_range(at, at + 5)
                stmt = node.parent if node is not None else None
                if stmt is None or stmt.type != "defer_statement":
                    continue
                said = stmt.text or b""
                if b"close(" not in said and b"<-" not in said:
                    continue
                func = enclosing_function(stmt)
                fn = pkg.function(func, source) if func is not None else None
                if fn is not None:
                    out.setdefault(fn.node.id, fn)
        return out

    return pkg.memo(("deferring-channel-ops",), compute)  # type: ignore[no-any-return]


def _wanted(fn: Function, rule: Rule) -> bool:
    if rule.options.get("exempt-main") and fn.is_main:
        return False
    return not (rule.options.get("skip-tests") and fn.file.is_test)


Found = tuple[Program, Result, list[tuple[Stuck, Op, int, str]]]


def explored(pkg: Package, fn: Function) -> Found | None:
    """The reach rooted at fn and its search, once per package (the goroutine-leak
    check and the goroutine inventory both read it); None when fn owns nothing the
    model follows or launches nothing. With the program and the search, the stuck
    states worth a finding (`findings`), worked out once for both readers."""

    def compute() -> Found | None:
        try:
            program = compile_reach(pkg, fn)
        except Unsupported:
            return None
        if program is None:
            return None
        if not program.launches and fn.node.id not in _deferring_channel_ops(pkg):
            return None  # nothing runs beside it, and it cannot wait on itself
        result = explore(program)
        return program, result, findings(program, result)

    return pkg.memo(("model:reach", fn.node.id), compute)  # type: ignore[no-any-return]


def outcome(pkg: Package, launch: Node, owner: Function) -> str | None:
    """What the model says of the goroutine a `go` statement starts: "blocks" when some
    interleaving leaves it waiting for good, "ends" when every interleaving explored
    (all of them, none cut off) lets it finish, None when it has no say: the
    goroutine touches nothing the model follows, or no reach holds the statement."""
    node: Node | None = owner.node
    while node is not None:
        if node.type in FUNC_NODES and (fn := pkg.function(node, owner.file)) is not None:
            found = explored(pkg, fn) if _has_objects(fn) else None
            if found is not None:
                verdict = _verdict(found, launch)
                if verdict is not None:
                    return verdict
        node = node.parent
    return None


def _has_objects(fn: Function) -> bool:
    body = child(fn.node, "body")
    data = (body.text or b"") if body is not None else b""
    return b"chan" in data or b"WaitGroup" in data


def _verdict(found: Found, launch: Node) -> str | None:
    program, result, reported = found
    threads = [k + 1 for k, stmt in enumerate(program.launches) if stmt.id == launch.id]
    if not threads:
        return None
    go_pcs = {pc for pc, op in enumerate(program.code) if op.kind == GO and op.node == launch}
    if any(stuck.launch in go_pcs for stuck, *_ in reported):
        return "blocks"
    body = [op for op in program.code if op.thread in threads]
    touches = any(op.kind in (SEND, RECV, RANGE, SELECT, CLOSE, WAIT, ADD, LOCK) for op in body)
    if touches and result.complete and not result.pruned:
        return "ends"
    return None


def check(pkg: Package, fn: Function, rule: Rule, sink: Sink) -> None:
    found = explored(pkg, fn)
    if found is None:
        return
    program, result, reported = found
    if not result.complete:
        # What was found within the budget stands; the rest is said to be unexplored.
        where = location(fn.file, fn.node, first_line_only=True)
        why = f"more than {result.states} interleavings of its goroutines; explored in part"
        sink.failures.append(Failure(rule.id, where, fn.name, why))
    for stuck, op, obj, kind in reported:
        _report(fn, rule, sink, program, stuck, op, obj, kind)


def findings(program: Program, result: Result) -> list[tuple[Stuck, Op, int, str]]:
    """The stuck states worth a finding, with the op, object and kind of each: one per
    object and kind of wait, at the first `go` (in source order) of the goroutines
    stuck on it, and one per `go` statement."""
    out: list[tuple[Stuck, Op, int, str]] = []
    reported: set[object] = set()
    for stuck in sorted(result.stuck, key=lambda s: _report_node(program, s).start_byte):
        op = program.code[stuck.pc]
        obj = _waited_on(program, op, stuck)
        kind = _kind(program, op, obj, stuck)
        if kind is None or _unbounded(program, op, obj, kind, stuck):
            continue
        node = _report_node(program, stuck)
        if (obj, kind) in reported or node.id in reported:
            continue
        reported.update(((obj, kind), node.id))
        out.append((stuck, op, obj, kind))
    return out


def _unbounded(program: Program, op: Op, obj: int, kind: str, stuck: Stuck) -> bool:
    """A goroutine looping with no bound (`for { v, err := read(); ...; ch <- v }`)
    sends or receives as often as its input lasts, which the model cannot count: it
    is only known to be left behind when the launcher took at most one value (and the
    buffer holds no second). An endless receiver is goroutine-unstoppable's."""
    if not op.loose or kind in ("deadlock", "closed-send", "closed-close", "lock-wait"):
        return False
    if kind != "unreceived":
        return True
    taken = 0
    for _, pc, what in stuck.trace:
        step = program.code[pc]
        if not what.startswith("recv:"):
            continue
        c = int(what.split(":")[1])
        got = step.cases[c].obj if step.kind == SELECT and c >= 0 else step.obj
        taken += got == obj
    return taken + program.objs[obj].capacity >= 2


def _report_node(program: Program, stuck: Stuck) -> Node:
    node = program.code[stuck.launch if stuck.launch >= 0 else stuck.pc].node
    assert node is not None
    return node


def _waited_on(program: Program, op: Op, stuck: Stuck) -> int:
    if stuck.panic and op.kind == SELECT:
        closed = [c.obj for c in op.cases if c.obj >= 0 and stuck.state.closed >> c.obj & 1]
        return closed[0] if closed else -1
    if op.kind == SELECT:
        tracked = [case.obj for case in op.cases if case.kind != ANY]
        return tracked[0] if tracked else -1
    return op.obj


def _kind(program: Program, op: Op, obj: int, stuck: Stuck) -> str | None:
    if obj < 0:
        return None
    if stuck.panic:
        return "closed-close" if op.kind == CLOSE else "closed-send"
    if not stuck.root_done:
        return "deadlock"
    if op.kind == WAIT:
        return "wait-forever"
    if op.kind == LOCK:
        return "lock-wait"
    if op.kind == SEND or (op.kind == SELECT and all(c.kind == SEND for c in op.cases)):
        return "unreceived"
    closes = any(o.kind == CLOSE and o.obj == obj for o in program.code)
    if op.kind == RANGE and not closes:
        return "never-closed"
    return "unsent"


def _report(
    fn: Function,
    rule: Rule,
    sink: Sink,
    program: Program,
    stuck: Stuck,
    op: Op,
    obj: int,
    kind: str,
) -> None:
    chan = program.objs[obj]
    where_node, where = _abandoning(program, stuck, obj, kind)
    related = (Related(location(fn.file, where_node, first_line_only=True), where),)
    assert op.node is not None
    node = _report_node(program, stuck)
    sink.report(
        rule,
        kind,
        fn.file,
        node,
        fn.name,
        related,
        flow=witness(fn, program, stuck),
        chan=chan.name,
        chan_desc=chan.describe(),
        line=line_of(where_node),
        where=where,
        what=_blocked_text(program, op),
        op_line=line_of(op.node),
        fix=_lock_fix(program, stuck) or _deadlock_fix(op, chan.name),
        remedy=_send_remedy(op, chan.name),
        twice=(
            f"at line {line_of(where_node)} on two iterations"
            if line_of(where_node) == line_of(op.node)
            else f"line {line_of(where_node)}, then line {line_of(op.node)}"
        ),
    )


def _send_remedy(op: Op, name: str) -> str:
    """How to unblock a send nobody receives: a buffer only for a bounded number of
    sends (a send in a loop would fill any buffer), else a way out of the send."""
    if op.loose:
        return f"select on ctx.Done() or a done channel when sending on {name}"
    return f"give {name} a buffer, or select on ctx.Done() when sending"


def _lock_fix(program: Program, stuck: Stuck) -> str | None:
    """When another goroutine waits for a mutex the stuck one holds, that is what to
    fix: the lock held across the blocking operation."""
    held: dict[int, int] = {}  # mutex -> holding goroutine
    for gid, pc, what in stuck.trace:
        op = program.code[pc]
        if what == "lock" and op.n == 0:
            held[op.obj] = gid
        elif what == "unlock" and op.n == 0:
            held.pop(op.obj, None)
    for gid, g in enumerate(stuck.state.gs):
        waiting = program.code[g[0]] if g[0] >= 0 else None
        if waiting is not None and waiting.kind == LOCK and held.get(waiting.obj) == stuck.gid:
            name = program.objs[waiting.obj].name
            who = "the function" if gid == 0 else f"goroutine {gid}"
            return f"unlock {name} before blocking here: {who} needs it to get there"
    return None


def _deadlock_fix(op: Op, name: str) -> str:
    if op.kind == LOCK:
        return f"unlock {name} before blocking on a channel, and never lock it twice"
    if op.kind == WAIT:
        return "call Wait once every counted goroutine has been started"
    if op.kind == SEND:
        return f"give {name} a buffer, or start the goroutine that receives first"
    return f"send on or close {name} before waiting on it (not in deferred code)"


def _abandoning(program: Program, stuck: Stuck, obj: int, kind: str) -> tuple[Node, str]:
    """Where the launcher stops serving the goroutine: a select case or default it took
    last, else the return that ended it; for a deadlock, the operation itself."""
    name = program.objs[obj].name
    if kind == "deadlock":
        op = program.code[stuck.pc]
        assert op.node is not None
        return op.node, f"{_blocked_text(program, op)} and nothing else can move"
    if kind in ("closed-send", "closed-close"):
        who, closing = next(
            (gid, program.code[pc].node)
            for gid, pc, what in stuck.trace
            if what == "close" and program.code[pc].obj == obj
        )
        assert closing is not None
        return closing, f"{'the launcher' if who == 0 else 'another goroutine'} closes {name}"
    if kind == "lock-wait":
        held = _holder(program, stuck, obj)
        if held is not None:
            return held
    if kind == "wait-forever":
        counted = next(
            (program.code[pc].node for _, pc, what in stuck.trace if what == "add"), None
        )
        if counted is not None:
            return counted, f"counted by {text(counted)}"
    verb = {
        "unreceived": "receiving from",
        "never-closed": "closing",
        "unsent": "sending on or closing",
        "wait-forever": "calling Done on",
    }[kind]
    last_case: Node | None = None
    end: Node | None = None
    for gid, pc, what in stuck.trace:
        if gid != 0:
            continue
        op = program.code[pc]
        if op.kind == SELECT and (what.startswith("case:") or what == "default"):
            if what == "default":
                last_case = _case_node(op.node, -1)
            else:
                c = int(what.split(":")[1])
                last_case = _case_node(op.node, c) if op.cases[c].obj < 0 else None
        if what == "end":
            end = op.node
    if last_case is not None:
        label = "default" if last_case.type == "default_case" else "this case"
        return last_case, f"{label} leaves without {verb} {name}"
    assert end is not None
    if end.type == "return_statement":
        return end, f"returns without {verb} {name}"
    return end, f"the function ends without {verb} {name}"


def _holder(program: Program, stuck: Stuck, obj: int) -> tuple[Node, str] | None:
    """Who holds the mutex in the stuck state, where it took it, and what it waits
    on now."""
    taken: dict[int, int] = {}  # goroutine -> pc of its last Lock of obj still held
    for gid, pc, what in stuck.trace:
        if program.code[pc].obj != obj:
            continue
        if what == "lock":
            taken[gid] = pc
        elif what == "unlock":
            taken.pop(gid, None)
    for gid, pc in taken.items():
        node = program.code[pc].node
        g = stuck.state.gs[gid]
        if node is None or gid == stuck.gid:
            continue
        who = "the function" if gid == 0 else f"goroutine {gid}"
        if g[0] >= 0:
            now = f", and waits on {_blocked_text(program, program.code[g[0]])} for good"
        else:
            now = " and has returned without unlocking it"
        return node, f"{who} holds it{now}"
    return None


def _case_node(select: Node | None, index: int) -> Node | None:
    if select is None:
        return None
    cases = [c for c in select.named_children if c.type == "communication_case"]
    if index < 0:
        return next((c for c in select.named_children if c.type == "default_case"), None)
    return cases[index] if index < len(cases) else None


def _blocked_text(program: Program, op: Op) -> str:
    objs = program.objs
    if op.kind == SEND:
        return f"sending on {objs[op.obj].name}"
    if op.kind == RECV:
        return f"receiving from {objs[op.obj].name}"
    if op.kind == RANGE:
        return f"ranging over {objs[op.obj].name}"
    if op.kind == WAIT:
        return f"{objs[op.obj].name}.Wait()"
    if op.kind == LOCK:
        return f"{objs[op.obj].name}.{'RLock' if op.n else 'Lock'}()"
    if op.kind == SELECT:
        parts = [
            f"{'sending on' if c.kind == SEND else 'receiving from'} {objs[c.obj].name}"
            for c in op.cases
            if c.kind != ANY
        ]
        return "select " + " or ".join(parts)
    return op.kind


# -- the witness ----------------------------------------------------------------------


def witness(fn: Function, program: Program, stuck: Stuck) -> tuple[Step, ...]:
    """The stuck interleaving as steps: each goroutine's operations, choices that
    matter, returns, and finally what each stuck goroutine waits on."""
    names = _thread_names(fn, program, stuck)
    steps: list[Step] = []
    for gid, pc, what in stuck.trace:
        op = program.code[pc]
        message = _step_text(program, op, what)
        if message is None or op.node is None:
            continue
        steps.append(Step(names[gid], location(fn.file, op.node, first_line_only=True), message))
    steps = steps[-MAX_FLOW:]
    if stuck.panic:
        return tuple(steps)
    for gid, g in enumerate(stuck.state.gs):
        if g[0] < 0:
            continue
        op = program.code[g[0]]
        if op.node is None:
            continue
        steps.append(
            Step(
                names[gid],
                location(fn.file, op.node, first_line_only=True),
                f"blocks forever {_blocked_text(program, op)}",
            )
        )
    return tuple(steps)


def _thread_names(fn: Function, program: Program, stuck: Stuck) -> dict[int, str]:
    names = {0: fn.name}
    for gid, g in enumerate(stuck.state.gs):
        if gid:
            node = program.code[g[3]].node
            where = f" (line {line_of(node)})" if node is not None else ""
            names[gid] = f"goroutine {gid}{where}"
    return names


def _step_text(program: Program, op: Op, what: str) -> str | None:
    objs = program.objs
    kind, _, arg = what.partition(":")
    if kind == "go":
        return f"starts goroutine {arg}"
    if kind == "end":
        return "returns" if op.node is not None and op.node.type == "return_statement" else "ends"
    if kind == "panic":
        if op.kind == CLOSE:
            return f"closes {objs[op.obj].name}, already closed: panics"
        sends = [objs[c.obj].name for c in op.cases if c.kind == SEND] if op.cases else []
        name = objs[op.obj].name if op.obj >= 0 else " or ".join(sends)
        return f"{'select: ' if op.cases else ''}sends on {name}, already closed: panics"
    if kind == "close":
        return f"closes {objs[op.obj].name}"
    if kind == "lock":
        return f"locks {objs[op.obj].name}"
    if kind == "unlock":
        return f"unlocks {objs[op.obj].name}"
    if kind == "add":
        return f"`{_short(op.node)}`" if op.node is not None else "Add"
    if kind == "wait":
        return f"{objs[op.obj].name}.Wait() returns"
    if kind == "default":
        return "select takes default"
    if kind in ("send", "recv", "closed", "case"):
        case = op.cases[int(arg)] if op.kind == SELECT and arg not in ("", "-1") else None
        obj = case.obj if case is not None else op.obj
        prefix = "select: " if case is not None else ""
        if case is not None and case.kind == ANY:
            return f"select takes `{_short(case.node)}`"
        if kind == "closed":
            return f"{prefix}receives from {objs[obj].name}, which is closed"
        if kind == "recv" or (case is not None and case.kind == RECV):
            return f"{prefix}receives from {objs[obj].name}"
        return f"{prefix}sends on {objs[obj].name}"
    if kind in ("branch", "choice") and op.kind in (BRANCH, CHOICE):
        cond = op.node
        if cond is None or cond.parent is None or cond.parent.type != "if_statement":
            return None
        value = arg == "1" if kind == "branch" else arg == "0"
        return f"`{_short(cond)}` is {'true' if value else 'false'}"
    return None


def _short(node: Node) -> str:
    raw = " ".join(text(node).split())
    return raw if len(raw) <= 60 else raw[:57] + "..."
