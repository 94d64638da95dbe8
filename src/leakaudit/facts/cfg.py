"""Control-flow graph of one Go function body, one block per statement.

Blocks are statement-sized because the checks ask per-statement questions ("does this
statement release x?"), and Go functions are small enough that coarser basic blocks
would save little. Edges out of a condition carry the condition and its truth value,
so checks can learn facts such as `err != nil` on the branch they take.

Function literals are not entered: each is a function with a graph of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import Enum
from typing import NamedTuple

from tree_sitter import Node

from leakaudit.parsing.syntax import field as child
from leakaudit.parsing.syntax import selector_parts, statements, text, unparen


class Kind(str, Enum):
    ENTRY = "entry"
    EXIT = "exit"
    STMT = "stmt"  # a simple statement, or a switch tag / select communication
    COND = "cond"  # node is the boolean condition; out-edges carry it
    LOOP = "loop"  # a loop head; node is the range_clause, or None for `for {}`
    JOIN = "join"  # no code: label targets, switch/select heads
    RETURN = "return"
    DEFER = "defer"
    GO = "go"
    NORETURN = "noreturn"  # panic, os.Exit, log.Fatal...: the path ends here


class Edge(NamedTuple):
    """A successor, guarded by a condition and the value it has on this edge. A tuple:
    a graph is built for every analyzed function, and a frozen dataclass per edge cost
    a tenth of building it."""

    target: Block
    cond: Node | None = None
    value: bool = True


@dataclass(eq=False, slots=True)
class Block:
    index: int
    kind: Kind
    node: Node | None
    succs: list[Edge] = field(default_factory=list)
    preds: list[Block] = field(default_factory=list)

    def __repr__(self) -> str:
        where = f"@{self.node.start_point[0] + 1}" if self.node is not None else ""
        return f"<{self.index}:{self.kind.value}{where}>"


@dataclass
class CFG:
    entry: Block
    exit: Block
    blocks: list[Block]
    _by_kind: dict[Kind, list[Block]] = field(default_factory=dict, repr=False)
    _reachable: set[int] | None = field(default=None, repr=False)

    def reachable(self) -> set[int]:
        """Indexes of the blocks some path from the entry reaches."""
        if self._reachable is None:
            seen = {self.entry.index}
            stack = [self.entry]
            while stack:
                for edge in stack.pop().succs:
                    if edge.target.index not in seen:
                        seen.add(edge.target.index)
                        stack.append(edge.target)
            self._reachable = seen
        return self._reachable

    def __iter__(self) -> Iterator[Block]:
        return iter(self.blocks)

    def release(self) -> None:
        """Unlink the blocks (edges run both ways, so every graph is a cycle): freed by
        reference counting when dropped, not left to the garbage collector."""
        for block in self.blocks:
            block.succs.clear()
            block.preds.clear()

    def of_kind(self, kind: Kind) -> list[Block]:
        """The blocks of one kind, in order (asked once per acquire site: a function's
        defers, say, without visiting all its blocks each time)."""
        if not self._by_kind:
            for block in self.blocks:
                self._by_kind.setdefault(block.kind, []).append(block)
        return self._by_kind.get(kind, [])

    def block_of(self, node: Node) -> Block | None:
        """The innermost block whose node contains `node` (a statement or a call)."""
        best: Block | None = None
        size = 0
        for block in self.blocks:
            b = block.node
            if b is None or not (b.start_byte <= node.start_byte and node.end_byte <= b.end_byte):
                continue
            if best is None or b.end_byte - b.start_byte < size:
                best, size = block, b.end_byte - b.start_byte
        return best


# A pending edge: from a block, optionally guarded by (cond, value).
Pending = tuple[Block, Node | None, bool]

_FATAL_METHODS = frozenset(
    {"Fatal", "Fatalf", "Fatalln", "FailNow", "SkipNow", "Skip", "Skipf", "Exit", "Exitf"}
)
_CHAINED_FATAL = frozenset({"Fatal", "Fatalf", "Fatalln"})
_NORETURN_FUNCS = frozenset(
    {
        ("os", "Exit"),
        ("runtime", "Goexit"),
        ("log", "Panic"),
        ("log", "Panicf"),
        ("log", "Panicln"),
        ("klog", "Exit"),
    }
)


# Every last name a never-returning call can have.
_NORETURN_NAMES = _FATAL_METHODS | _CHAINED_FATAL | {name for _, name in _NORETURN_FUNCS}


def is_noreturn_call(call: Node) -> bool:
    """Calls that never return to the caller. Name-based on purpose: `x.Fatal(...)` is a
    process-ending logger call (or testing.T's) in practically every Go code base."""
    fn = unparen(child(call, "function"))
    if fn is None:
        return False
    if fn.type == "identifier":
        return text(fn) == "panic"
    if fn.type == "selector_expression" and text(child(fn, "field")) not in _NORETURN_NAMES:
        return False  # the common case, told without spelling out the whole selector
    parts = selector_parts(fn)
    if parts is None:
        # A chain with calls in it: logrus.WithError(err).Fatal(...)
        name = text(child(fn, "field")) if fn.type == "selector_expression" else ""
        return name in _CHAINED_FATAL
    if len(parts) < 2:
        return False
    if (parts[-2], parts[-1]) in _NORETURN_FUNCS:
        return True
    return parts[-1] in _FATAL_METHODS and not (parts[-1] == "Exit" and parts[-2] != "os")


def block_leaves(block: Node | None) -> bool:
    """Every path through the block (or an if-else) ends the function: it ends in a
    return or a call that never returns, or in an if-else whose branches both do."""
    if block is None:
        return False
    if block.type == "if_statement":
        alt = child(block, "alternative")
        return alt is not None and block_leaves(child(block, "consequence")) and block_leaves(alt)
    fake = statements(block)
    if not fake:
        return False
    last = fake[-1]
    return last.type == "return_statement" or (
        last.type == "expression_statement"
        and last.named_children
        and unparen(last.named_children[0]).type == "call_expression"  # type: ignore[union-attr]
        and is_noreturn_call(unparen(last.named_children[0]))  # type: ignore[arg-type]
    )


@dataclass
class _Target:
    """An enclosing statement that `break` (and, for loops, `continue`) can leave."""

    label: str | None
    is_loop: bool
    breaks: list[Pending] = field(default_factory=list)
    continue_to: Block | None = None


class TooLarge(Exception):
    """The function has more statements than the caller's budget allows."""


class _Builder:
    def __init__(self, is_noreturn: Callable[[Node], bool], max_blocks: int | None = None) -> None:
        self.blocks: list[Block] = []
        self.is_noreturn = is_noreturn
        self.max_blocks = max_blocks
        self.entry = self.new(Kind.ENTRY, None)
        self.exit = self.new(Kind.EXIT, None)
        self.targets: list[_Target] = []
        self.labels: dict[str, Block] = {}
        self.gotos: list[tuple[str, list[Pending]]] = []

    def new(self, kind: Kind, node: Node | None) -> Block:
        block = Block(len(self.blocks), kind, node)
        self.blocks.append(block)
        if self.max_blocks is not None and len(self.blocks) > self.max_blocks:
            raise TooLarge(f"more than {self.max_blocks} statements")
        return block

    @staticmethod
    def connect(frontier: list[Pending], target: Block) -> None:
        preds = target.preds
        for src, cond, value in frontier:
            # tuple.__new__ directly: a NamedTuple's own constructor is a Python function
            src.succs.append(_new_edge(Edge, (target, cond, value)))
            preds.append(src)

    def step(self, kind: Kind, node: Node | None, frontier: list[Pending]) -> Block:
        block = self.new(kind, node)
        self.connect(frontier, block)
        return block

    # -- statements -------------------------------------------------------------------

    def seq(self, stmts: list[Node], frontier: list[Pending]) -> list[Pending]:
        for i, stmt in enumerate(stmts):
            if stmt.type == "fallthrough_statement" and i == len(stmts) - 1:
                break  # handled by the enclosing switch
            frontier = self.stmt(stmt, frontier)
        return frontier

    def stmt(self, node: Node, frontier: list[Pending], label: str | None = None) -> list[Pending]:
        kind = node.type
        handler = _HANDLERS.get(kind)
        if handler is not None:
            return handler(self, node, frontier, label)  # type: ignore[no-any-return]
        if kind in ("empty_statement", "comment", "fallthrough_statement"):
            return frontier
        if kind == "expression_statement":
            expr = unparen(node.named_children[0]) if node.named_children else None
            if expr is not None and expr.type == "call_expression" and self.is_noreturn(expr):
                self.step(Kind.NORETURN, node, frontier)
                return []
        return [(self.step(Kind.STMT, node, frontier), None, True)]

    def _block(self, node: Node, frontier: list[Pending], label: str | None) -> list[Pending]:
        return self.seq(statements(node), frontier)

    def _return_statement(self, node: Node, frontier: list[Pending], _: str | None) -> list:
        block = self.step(Kind.RETURN, node, frontier)
        self.connect([(block, None, True)], self.exit)
        return []

    def _defer_statement(self, node: Node, frontier: list[Pending], _: str | None) -> list:
        return [(self.step(Kind.DEFER, node, frontier), None, True)]

    def _go_statement(self, node: Node, frontier: list[Pending], _: str | None) -> list:
        return [(self.step(Kind.GO, node, frontier), None, True)]

    def _if_statement(self, node: Node, frontier: list[Pending], _: str | None) -> list:
        init = child(node, "initializer")
        if init is not None:
            frontier = self.stmt(init, frontier)
        cond_node = child(node, "condition")
        cond = self.step(Kind.COND, cond_node, frontier)
        then = self.seq(statements(child(node, "consequence")), [(cond, cond_node, True)])
        alt = child(node, "alternative")
        if alt is None:
            return [*then, (cond, cond_node, False)]
        return then + self.stmt(alt, [(cond, cond_node, False)])

    def _for_statement(self, node: Node, frontier: list[Pending], label: str | None) -> list:
        body = child(node, "body")
        clause = next((c for c in node.named_children if c != body and c.type != "comment"), None)
        cond_node: Node | None = None
        post: Block | None = None
        if clause is not None and clause.type == "for_clause":
            init = child(clause, "initializer")
            if init is not None:
                frontier = self.stmt(init, frontier)
            cond_node = child(clause, "condition")
            update = child(clause, "update")
            if update is not None:
                post = self.new(Kind.STMT, update)
        elif clause is not None and clause.type != "range_clause":
            cond_node = clause
        if cond_node is not None:
            head = self.step(Kind.COND, cond_node, frontier)
        else:
            is_range = clause is not None and clause.type == "range_clause"
            head = self.step(Kind.LOOP, clause if is_range else None, frontier)
        is_endless = cond_node is None and (clause is None or clause.type != "range_clause")
        target = _Target(label, True, continue_to=post or head)
        self.targets.append(target)
        body_front = self.seq(statements(body), [(head, cond_node, True)])
        self.targets.pop()
        if post is not None:
            self.connect(body_front, post)
            self.connect([(post, None, True)], head)
        else:
            self.connect(body_front, head)
        exits: list[Pending] = [] if is_endless else [(head, cond_node, False)]
        return exits + target.breaks

    def _switch(
        self, node: Node, frontier: list[Pending], label: str | None, head_node: Node | None
    ) -> list[Pending]:
        init = child(node, "initializer")
        if init is not None:
            frontier = self.stmt(init, frontier)
        head = self.step(Kind.STMT if head_node is not None else Kind.JOIN, head_node, frontier)
        tagless = node.type == "expression_switch_statement" and head_node is None
        target = _Target(label, False)
        self.targets.append(target)
        out: list[Pending] = []
        carried: list[Pending] = []  # a fallthrough from the previous case
        has_default = False
        for case in (c for c in node.named_children if c.type.endswith("case")):
            if case.type == "default_case":
                has_default = True
                entry: list[Pending] = [(head, None, True)]
            elif case.type == "communication_case":
                comm = self.step(Kind.STMT, child(case, "communication"), [(head, None, True)])
                entry = [(comm, None, True)]
            else:
                values = [c for c in _case_values(case)]
                if tagless and len(values) == 1:
                    entry = [(head, values[0], True)]
                else:
                    entry = [(head, None, True)]
            body = statements(case)
            front = self.seq(body, entry + carried)
            if body and body[-1].type == "fallthrough_statement":
                carried = front
            else:
                carried = []
                out.extend(front)
        self.targets.pop()
        out.extend(carried)
        if not has_default and node.type != "select_statement":
            out.append((head, None, True))
        return out + target.breaks

    def _expression_switch_statement(self, node: Node, frontier: list, label: str | None) -> list:
        return self._switch(node, frontier, label, child(node, "value"))

    def _type_switch_statement(self, node: Node, frontier: list, label: str | None) -> list:
        return self._switch(node, frontier, label, child(node, "value"))

    def _select_statement(self, node: Node, frontier: list, label: str | None) -> list:
        return self._switch(node, frontier, label, None)

    def _labeled_statement(self, node: Node, frontier: list, _: str | None) -> list:
        name = text(child(node, "label"))
        mark = self.step(Kind.JOIN, None, frontier)
        self.labels[name] = mark
        inner = next((c for c in node.named_children if c.type != "label_name"), None)
        if inner is None:
            return [(mark, None, True)]
        return self.stmt(inner, [(mark, None, True)], label=name)

    def _find_target(self, node: Node, loop_only: bool) -> _Target | None:
        label = next((text(c) for c in node.named_children if c.type == "label_name"), None)
        for target in reversed(self.targets):
            if label is not None and target.label != label:
                continue
            if loop_only and not target.is_loop:
                continue
            return target
        return None

    def _break_statement(self, node: Node, frontier: list[Pending], _: str | None) -> list:
        target = self._find_target(node, loop_only=False)
        if target is not None:
            target.breaks.extend(frontier)
        return []

    def _continue_statement(self, node: Node, frontier: list[Pending], _: str | None) -> list:
        target = self._find_target(node, loop_only=True)
        if target is not None and target.continue_to is not None:
            self.connect(frontier, target.continue_to)
        return []

    def _goto_statement(self, node: Node, frontier: list[Pending], _: str | None) -> list:
        name = next((text(c) for c in node.named_children if c.type == "label_name"), "")
        self.gotos.append((name, frontier))
        return []

    def finish(self, frontier: list[Pending]) -> CFG:
        self.connect(frontier, self.exit)
        for name, pending in self.gotos:
            if name in self.labels:
                self.connect(pending, self.labels[name])
        return CFG(self.entry, self.exit, self.blocks)


# Statement type -> the _Builder method for it (`_if_statement` for if_statement...).
_HANDLERS: dict[str, Callable[..., list[Pending]]] = {
    name[1:]: method
    for name, method in vars(_Builder).items()
    if name.endswith("_statement") or name == "_block"
}
_new_edge = tuple.__new__


def _case_values(case: Node) -> list[Node]:
    value = child(case, "value")
    if value is None:
        return []
    return [c for c in value.named_children if c.type != "comment"] or [value]


def build(
    body: Node | None,
    is_noreturn: Callable[[Node], bool] = is_noreturn_call,
    max_blocks: int | None = None,
) -> CFG:
    """The CFG of a function body (a `block` node; None for a declaration without body).
    Raises TooLarge as soon as it would exceed `max_blocks` blocks."""
    builder = _Builder(is_noreturn, max_blocks)
    frontier: list[Pending] = [(builder.entry, None, True)]
    if body is not None:
        frontier = builder.seq(statements(body), frontier)
    return builder.finish(frontier)
