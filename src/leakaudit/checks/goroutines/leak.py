"""goroutine-leak: a goroutine blocked forever on a channel its launcher abandons.

For each private unbuffered (or small literal-buffered) channel a function makes, the
goroutines it launches that send on it plainly (not in a select with another way out)
*need* receives: one per send on the longest path through the goroutine, unboundedly
many when the sends loop or the `go` statement does. A forward analysis over the
launcher's graph counts, per path, the receives that happen after each launch; a loop
that receives and leaves only through its own condition or range *drains* the channel.
A path reaching the function's exit with fewer receives than needed (beyond the
buffer) strands a sender.

Also here: a goroutine ranging over a private channel that nothing closes, and a
struct's event loop that sends on the unbuffered channel only it receives from (see
`selfsend`).
"""

from __future__ import annotations

from tree_sitter import Node

from leakaudit.checks.api import Function, Interest, Package, Sink, location
from leakaudit.checks.goroutines import selfsend
from leakaudit.checks.goroutines.channels import RANGE, RECV, SEND, LocalChan, local_channels
from leakaudit.checks.goroutines.launches import Launch, launches
from leakaudit.facts.cfg import Block, Kind
from leakaudit.findings import Related
from leakaudit.parsing.syntax import FUNC_NODES, line_of, statements
from leakaudit.parsing.syntax import field as child
from leakaudit.ruleset.model import Rule

MANY = 3  # "three or more": counts saturate here
DRAINED = 4  # received until the senders were done


def _add(a: int, b: int) -> int:
    return min(a + b, MANY)


def interest(rule: Rule) -> Interest:
    """Only packages that launch goroutines."""
    return Interest(nodes=frozenset({"go_statement"}))


def run(pkg: Package, rule: Rule, sink: Sink) -> None:
    by_owner: dict[int, list[Launch]] = {}
    owners: list[Function] = []
    for launch in launches(pkg):
        if launch.owner.node.id not in by_owner:
            owners.append(launch.owner)
        by_owner.setdefault(launch.owner.node.id, []).append(launch)
    order = {source.path: i for i, source in enumerate(pkg.files)}
    owners.sort(key=lambda fn: (order[fn.file.path], fn.node.start_byte))
    for fn in owners:  # in source order
        mine = by_owner[fn.node.id]
        if rule.options.get("exempt-main") and fn.is_main:
            continue
        if rule.options.get("skip-tests") and fn.file.is_test:
            continue
        for chan in local_channels(pkg, fn):
            if not chan.private:
                continue
            _unreceived(fn, rule, chan, mine, sink)
            _never_closed(fn, rule, chan, mine, sink)
    selfsend.run(pkg, rule, sink)


# -- senders the launcher stops receiving from -------------------------------------------


def _need(launch: Launch, chan: LocalChan) -> int:
    """How many receives the goroutine needs on chan: its plain sends on the longest path
    (MANY when they loop), MANY for any sender launched in a loop."""
    if chan.launch_ops(launch, RECV, RANGE):
        return -1  # it also receives: a conversation, not a result; stay out
    sends = [
        op
        for op in chan.launch_ops(launch, SEND)
        if not op.guarded and not _server_failure_only(op.stmt)
    ]
    if not sends:
        return 0
    target = launch.target
    assert target is not None
    graph = target.cfg
    per_block: dict[int, int] = {}
    for block in graph.blocks:
        if block.node is None or block.kind in (Kind.GO, Kind.DEFER):
            continue
        node = block.node
        n = sum(1 for op in sends if node.start_byte <= op.stmt.start_byte < node.end_byte)
        if n:
            per_block[block.index] = n
    best: dict[int, int] = {}
    work = [(graph.entry, 0)]
    top = 0
    while work:
        block, count = work.pop()
        count = _add(count, per_block.get(block.index, 0))
        if best.get(block.index, -1) >= count:
            continue
        best[block.index] = count
        top = max(top, count)
        for edge in block.succs:
            work.append((edge.target, count))
    if top == 0:
        top = 1  # a send the graph does not place (e.g. in a deferred call): still one
    return MANY if _repeats(launch, chan) else top


def _server_failure_only(send: Node) -> bool:
    """A send made only when a server stopped for another reason than Shutdown/Close
    (`if !errors.Is(err, http.ErrServerClosed) { errc <- err }`): after the launcher
    shuts the server down, it does not happen."""
    cur = send.parent
    while cur is not None and cur.type not in FUNC_NODES:
        if cur.type == "if_statement":
            cond = child(cur, "condition")
            body = child(cur, "consequence")
            if (
                cond is not None
                and b"ErrServerClosed" in (cond.text or b"")
                and body is not None
                and body.start_byte <= send.start_byte < body.end_byte
            ):
                return True
        cur = cur.parent
    return False


def _repeats(launch: Launch, chan: LocalChan) -> bool:
    """The go statement runs many times for one channel: it sits in a loop that does not
    also make a fresh channel each time round."""
    cur = launch.stmt.parent
    stop = launch.owner.node
    while cur is not None and cur != stop:
        if cur.type == "for_statement" and not (
            cur.start_byte <= chan.make.start_byte < cur.end_byte
        ):
            return True
        if cur.type == "func_literal":
            return False
        cur = cur.parent
    return False


def _unreceived(fn: Function, rule: Rule, chan: LocalChan, mine: list[Launch], sink: Sink) -> None:
    if chan.capacity is None:
        return
    if any(op.comma_ok for op in chan.own) or any(
        op.comma_ok for ops in chan.by_launch.values() for op in ops
    ):
        return  # drained until closed, by a loop this analysis does not model
    if chan.own_ops(SEND) or _drains_explicitly(chan):
        return
    needs: dict[int, int] = {}
    senders: list[Launch] = []
    for launch in mine:
        if launch not in chan.by_launch:
            continue
        need = _need(launch, chan)
        if need < 0:
            return
        if need:
            needs[launch.stmt.id] = need
            senders.append(launch)
    if not senders or _correlated(senders, chan):
        return
    leak = _flow(fn, chan, needs)
    if leak is None:
        return
    exit_node, exit_block, receiving = leak
    first = min(senders, key=lambda launch: launch.stmt.start_byte)
    where, what = _abandoning(fn, chan, exit_node, _reaching(exit_block, receiving))
    related = (Related(location(fn.file, where, first_line_only=True), what),)
    desc = (
        f"unbuffered channel {chan.name}"
        if not chan.capacity
        else f"{chan.name} (buffer {chan.capacity})"
    )
    sink.report(
        rule,
        "unreceived",
        fn.file,
        first.stmt,
        fn.name,
        related,
        chan=chan.name,
        chan_desc=desc,
        line=line_of(where),
        where=what,
    )


def _conditions(node: Node, stop: Node) -> set[bytes]:
    out: set[bytes] = set()
    cur = node.parent
    while cur is not None and cur != stop:
        if cur.type == "if_statement":
            cond = child(cur, "condition")
            if cond is not None and cond.text:
                out.add(b" ".join(cond.text.split()))
        cur = cur.parent
    return out


def _correlated(senders: list[Launch], chan: LocalChan) -> bool:
    """A sender launched under `if c` and a receive under the same `if c`: the paths
    that launch and the paths that receive go together, which this path-insensitive
    analysis cannot see."""
    owner = senders[0].owner.node
    launched = set().union(*(_conditions(launch.stmt, owner) for launch in senders))
    if not launched:
        return False
    return any(launched & _conditions(op.stmt, owner) for op in chan.own_ops(RECV, RANGE))


def _drains_explicitly(chan: LocalChan) -> bool:
    """`for range ch {}`: the author unblocks the senders on purpose somewhere; paths
    that skip it are usually ones where the senders are already gone."""
    for op in chan.own_ops(RANGE):
        loop = op.stmt.parent
        body = child(loop, "body") if loop is not None else None
        if body is not None and not statements(body):
            return True
    return False


def _flow(
    fn: Function, chan: LocalChan, needs: dict[int, int]
) -> tuple[Node, Block, set[int]] | None:
    """The first exit (return, or the function's end) some path reaches with senders
    still waiting, the block leaving through it, and the blocks that receive; or None."""
    graph = fn.cfg
    recv_ops = chan.own_ops(RECV)
    range_clauses = {op.stmt.id for op in chan.own_ops(RANGE)}
    receive_loops = _receive_loops(chan)

    made_in = next(
        (
            b.index
            for b in graph.blocks
            if b.node is not None
            and b.kind == Kind.STMT
            and b.node.start_byte <= chan.make.start_byte < b.node.end_byte
        ),
        -1,
    )
    recvs_in: dict[int, int] = {}
    for block in graph.blocks:
        node = block.node
        if node is None or block.kind == Kind.LOOP:
            continue
        n = sum(1 for op in recv_ops if node.start_byte <= op.stmt.start_byte < node.end_byte)
        if n:
            recvs_in[block.index] = n

    def transfer(block: Block, states: set[tuple[int, int]]) -> set[tuple[int, int]]:
        if block.kind == Kind.NORETURN:
            return set()
        out = states
        if block.index == made_in:
            out = {(0, 0)} if out else out  # a fresh channel: earlier rounds used another
        if block.kind == Kind.GO and block.node is not None and block.node.id in needs:
            need = needs[block.node.id]
            out = {(_add(n, need), got) for n, got in out}
        k = recvs_in.get(block.index)
        if k:
            out = {(n, got if got == DRAINED else _add(got, k)) for n, got in out}
        return out

    def along(block: Block, value: bool, cond: Node | None, states: set[tuple[int, int]]):  # type: ignore[no-untyped-def]
        head = _loop_of(block)
        if head is None or head.id not in receive_loops:
            return states
        normal_exit = (block.kind == Kind.COND and cond is not None and not value) or (
            block.kind == Kind.LOOP and cond is None and not value
        )
        if normal_exit:
            return {(n, DRAINED) for n, _ in states}
        if (
            block.kind == Kind.LOOP
            and value
            and block.node is not None
            and block.node.id in range_clauses
        ):
            return {(n, got if got == DRAINED else _add(got, 1)) for n, got in states}
        return states

    state_in: dict[int, set[tuple[int, int]]] = {graph.entry.index: {(0, 0)}}
    work = [graph.entry]
    while work:
        block = work.pop()
        out = transfer(block, state_in.get(block.index, set()))
        for edge in block.succs:
            flowed = along(block, edge.value, edge.cond, out)
            old = state_in.setdefault(edge.target.index, set())
            if not flowed <= old:
                old |= flowed
                work.append(edge.target)
    capacity = chan.capacity or 0
    leaks: list[tuple[Node, Block]] = []
    for block in graph.exit.preds:
        out = transfer(block, state_in.get(block.index, set()))
        for edge in block.succs:
            if edge.target is not graph.exit:
                continue
            for need, got in along(block, edge.value, edge.cond, out):
                if _strands(need, got, capacity):
                    node = block.node if block.kind == Kind.RETURN and block.node else _end(fn)
                    leaks.append((node, block))
    if not leaks:
        return None
    node, block = min(leaks, key=lambda leak: leak[0].start_byte)
    receiving = set(recvs_in) | {
        b.index
        for b in graph.blocks
        if b.kind == Kind.LOOP and b.node is not None and b.node.id in range_clauses
    }
    return node, block, receiving


def _strands(need: int, got: int, capacity: int) -> bool:
    if need == 0 or got == DRAINED:
        return False
    if need == MANY:
        # How many is many is unknown (a loop bound, a slice's length): sure only when
        # the launcher takes at most one value and at most one more fits the buffer.
        return got + capacity < 2
    return need - got > capacity


def _receive_loops(chan: LocalChan) -> set[int]:
    """for statements of the owner whose body receives from chan (or that range over it)."""
    out: set[int] = set()
    for op in chan.own_ops(RECV, RANGE):
        cur = op.stmt.parent
        while cur is not None and cur.type not in FUNC_NODES:
            if cur.type == "for_statement":
                out.add(cur.id)
            cur = cur.parent
    return out


def _loop_of(block: Block) -> Node | None:
    """The for statement a loop head block belongs to."""
    node = block.node
    if node is None or block.kind not in (Kind.COND, Kind.LOOP):
        return None
    parent = node.parent
    if parent is not None and parent.type == "for_clause":
        parent = parent.parent
    return parent if parent is not None and parent.type == "for_statement" else None


def _end(fn: Function) -> Node:
    body = child(fn.node, "body")
    if body is not None and body.children:
        return body.children[-1]
    return fn.node


def _reaching(exit_block: Block, receiving: set[int]) -> set[int]:
    """Blocks from which the leaking exit is reached without receiving again."""
    seen: set[int] = set()
    stack = [exit_block]
    while stack:
        block = stack.pop()
        if block.index in seen or (block.index in receiving and block is not exit_block):
            continue
        seen.add(block.index)
        stack.extend(block.preds)
    return seen


def _abandoning(
    fn: Function, chan: LocalChan, exit_node: Node, reaching: set[int]
) -> tuple[Node, str]:
    """Where the launcher gives up on the channel: a select case (beside one receiving
    from it) from which the leaking exit is reached without receiving, else the exit."""
    for op in chan.own_ops(RECV):
        if not op.guarded:
            continue
        case = op.stmt.parent
        while case is not None and case.type != "communication_case":
            case = case.parent
        select = case.parent if case is not None else None
        if select is None:
            continue
        for other in select.named_children:
            if other.type not in ("communication_case", "default_case") or other == case:
                continue
            inside = [
                b
                for b in fn.cfg.blocks
                if b.node is not None
                and other.start_byte <= b.node.start_byte < other.end_byte
                and b.index in reaching
            ]
            if inside:
                what = "default" if other.type == "default_case" else "this case"
                return other, f"{what} leaves without receiving from {chan.name}"
    if exit_node.type == "return_statement":
        return exit_node, f"returns without receiving from {chan.name}"
    return exit_node, f"the function ends without receiving from {chan.name}"


# -- consumers of a channel nothing closes -------------------------------------------------


def _never_closed(
    fn: Function, rule: Rule, chan: LocalChan, mine: list[Launch], sink: Sink
) -> None:
    if chan.closed:
        return
    for launch in mine:
        if not chan.launch_ops(launch, RANGE):
            continue
        exit_node = _exit_after(fn, launch)
        if exit_node is None:
            continue  # the launcher never returns: the consumer lives as long as it does
        what = (
            f"returns without closing {chan.name}"
            if exit_node.type == "return_statement"
            else f"the function ends without closing {chan.name}"
        )
        sink.report(
            rule,
            "never-closed",
            fn.file,
            launch.stmt,
            fn.name,
            (Related(location(fn.file, exit_node, first_line_only=True), what),),
            chan=chan.name,
            line=line_of(exit_node),
            where=what,
        )


def _exit_after(fn: Function, launch: Launch) -> Node | None:
    graph = fn.cfg
    start = next(
        (b for b in graph.blocks if b.node is not None and b.node.id == launch.stmt.id), None
    )
    if start is None:
        return None
    seen: set[int] = set()
    stack = [start]
    exits: list[Node] = []
    while stack:
        block = stack.pop()
        if block.index in seen:
            continue
        seen.add(block.index)
        for edge in block.succs:
            if edge.target is graph.exit:
                exits.append(block.node if block.kind == Kind.RETURN and block.node else _end(fn))
            else:
                stack.append(edge.target)
    if not exits:
        return None
    return min(exits, key=lambda n: n.start_byte)
