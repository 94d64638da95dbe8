"""Compile a reach into a synchronization skeleton: a flat program of `Op`s.

Only the objects the reach owns are *tracked*: channels made with a literal capacity
and WaitGroups declared in the root function, under one name each, and the mutexes it
locks (named by path) where every body that locks one also unlocks it. Everything that
can touch a tracked channel or WaitGroup must be in view, so any use the compiler does
not model (stored, returned, passed to code it cannot read, captured by a closure that
runs who knows when) makes the object *escape*; it is then dropped and the reach
compiled again. Operations on untracked channels (`ctx.Done()`, `time.After`, a field)
are taken as ready whenever asked: the model never blames them, which keeps it precise.

Control flow is kept only as far as it matters for synchronization:
- `if`/`switch` are choices. A condition over variables and fields (no calls but
  len/cap) takes the same side at every test, in the parent and in its goroutines,
  until one of its variables is assigned (a KILL op). `if !ok` after `v, ok := <-ch`
  follows the receive, and booleans set only from such results are followed exactly.
- Loops over the same collection or bound (`range items`, `i < len(items)`, `i < n`,
  `for n > 0`, `wg.Add(len(items))`) run the same number of times (one or two: bounded
  unrolling), a literal bound up to three (`for range 2`, a range over a slice or map
  literal of two elements) exactly that often; other loops are a free choice at their
  head, or run until a `break`/`return`. Tests of a loop index, and counts the
  unrolling cannot keep, are marked so that no verdict rests on them.
- Calls of this package's functions that are handed a tracked object (or that lock a
  mutex of the object they are called on) are inlined, to a bounded depth; `defer`s
  run at every return; `panic`, `log.Fatal` and `t.Fatal` end the goroutine.
- A construct doing nothing the model sees is dropped; jumps are threaded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from tree_sitter import Node

from leakaudit.checks.api import Function, Package
from leakaudit.checks.goroutines.channels import make_capacity
from leakaudit.checks.goroutines.launches import declares, resolve
from leakaudit.facts.cfg import is_noreturn_call
from leakaudit.parsing.queries import captures
from leakaudit.parsing.syntax import (
    FUNC_NODES,
    calls_bare,
    expressions,
    parent_of,
    path_of,
    text,
    unparen,
)
from leakaudit.parsing.syntax import field as child

# Op kinds.
SEND, RECV, CLOSE, SELECT, RANGE = "send", "recv", "close", "select", "range"
ADD, DONE, WAIT = "add", "done", "wait"
SETFLAG, FLAGBRANCH, MAKE = "setflag", "flagbranch", "make"
OPAQUE = "opaque"  # waits on something untracked: taken as done at once
LOCK, UNLOCK = "lock", "unlock"  # n: 0 Lock/Unlock, 1 RLock/RUnlock
GO, END, JUMP, CHOICE, BRANCH, OKBRANCH, LOOPINIT, LOOP, KILL = (
    "go",
    "end",
    "jump",
    "choice",
    "branch",
    "okbranch",
    "loopinit",
    "loop",
    "kill",
)
ANY = "any"  # a select case on an untracked channel: ready whenever asked

MAX_INLINE = 4  # callee depth
MAX_CODE = 4000  # ops in one reach
UNROLL = (1, 2)  # iterations of a loop whose bound is not a small literal
_LITERAL_BOUND = 3  # literal bounds up to this are run exactly


class Unsupported(Exception):
    """The reach uses control flow the skeleton does not model (goto), or is too big."""


@dataclass(frozen=True)
class Obj:
    name: str
    kind: str  # "chan" or "wg"
    node: Node  # the make(...) call or the declaration (a mutex: its first Lock)
    capacity: int = 0

    def describe(self) -> str:
        if self.kind == "mutex":
            return f"mutex {self.name}"
        if self.kind == "wg":
            return f"WaitGroup {self.name}"
        if self.capacity:
            return f"{self.name} (buffer {self.capacity})"
        return f"unbuffered channel {self.name}"


@dataclass(slots=True)
class Case:
    kind: str  # SEND, RECV or ANY
    obj: int
    node: Node
    ok: bool = False  # `v, ok := <-ch`


@dataclass(slots=True)
class Op:
    kind: str
    node: Node | None = None
    obj: int = -1
    targets: list[int] = field(default_factory=list)
    cases: list[Case] = field(default_factory=list)
    default: int = -1
    key: str = ""
    n: int = 0
    ok: bool = False
    thread: int = 0  # which compiled body (0: the root) the op belongs to
    loose: bool = False  # inside a loop with no bound: it may run any number of times
    # FLAGBRANCH: the condition over flags, as nested tuples ("var", key), ("not", e),
    # ("and", a, b), ("or", a, b), ("const", value)
    expr: tuple | None = None  # type: ignore[type-arg]


@dataclass
class Program:
    root: Function
    objs: list[Obj]
    code: list[Op]
    # A condition's key -> the variables and field paths it reads (for KILL).
    key_vars: dict[str, frozenset[str]] = field(default_factory=dict)
    # The `go` statement each goroutine body was compiled for (index = Op.thread - 1).
    launches: list[Node] = field(default_factory=list)


@dataclass
class _Loop:
    label: str
    breaks: list[int] = field(default_factory=list)
    continues: list[int] = field(default_factory=list)
    breakable_only: bool = False  # a switch or select: `break` leaves it, `continue` passes


@dataclass
class _Frame:
    fn: Function
    names: dict[str, int]
    thread: int
    top: bool  # a goroutine's (or the root's) own body: a return ends the goroutine
    depth: int = 0
    defers: list[Node] = field(default_factory=list)
    returns: list[int] = field(default_factory=list)  # JUMPs to patch (inlined bodies)
    loops: list[_Loop] = field(default_factory=list)
    ok_name: str = ""
    iter_vars: frozenset[str] = frozenset()  # index variables of the enclosing loops
    loose: int = 0  # enclosing loops with no bound
    # Names the enclosing loops bind afresh each round (`for _, acc := range accs`):
    # `acc.mu` is another mutex each time.
    rebound: frozenset[str] = frozenset()
    stack: tuple[int, ...] = ()  # function nodes being inlined (no recursion)
    scope_key: int = 0  # conditions are keyed per scope: the root's literals share it
    # A parameter (or receiver) of an inlined or launched function -> the path it is
    # in the root's terms (`h` -> `s` for h.mu, called as s.flush()): locks are named
    # by path.
    aliases: dict[str, str] = field(default_factory=dict)


_WG_TYPES = (b"sync.WaitGroup",)
# Ops that only steer within a construct: one made of them alone can be dropped.
_INERT = frozenset({JUMP, KILL, OPAQUE, CHOICE, BRANCH, FLAGBRANCH, OKBRANCH, LOOPINIT, LOOP})
_STABLE_CALLS = ("len", "cap")
_KEY_STRIP = re.compile(r"^len\((.*)\)$")
_SERVER_FAILED = re.compile(rb"!=\s*[\w.]*ErrServerClosed|!\s*errors\.Is\([^)]*ErrServerClosed")


def tracked_objects(root: Function, facts: BodyFacts) -> list[Obj]:
    """The channels with a literal capacity and the WaitGroups `root` declares, each
    under a name declared once in the whole function."""
    body = child(root.node, "body")
    if body is None:
        return []
    counts = facts.declared
    out: list[Obj] = []
    for node in root.types.declarations(body):
        for name, value, decl in _bindings(node):
            if counts.get(name, 0) != 1 or node.type == "assignment_statement":
                continue
            capacity = make_capacity(value) if value is not None else False
            if capacity is not False and capacity is not None and value is not None:
                out.append(Obj(name, "chan", value, int(capacity)))
            elif _is_waitgroup(decl, value):
                out.append(Obj(name, "wg", value if value is not None else decl))
    return out


def _bindings(node: Node) -> list[tuple[str, Node | None, Node]]:
    if node.type == "short_var_declaration":
        left, right = expressions(child(node, "left")), expressions(child(node, "right"))
    elif node.type == "var_spec":
        left = list(node.children_by_field_name("name"))
        right = expressions(child(node, "value"))
    else:
        return []
    if len(left) != len(right):
        right = [None] * len(left)  # type: ignore[list-item]
    return [(text(t), v, node) for t, v in zip(left, right, strict=True) if t.type == "identifier"]


def _is_waitgroup(decl: Node, value: Node | None) -> bool:
    if value is None:
        typ = child(decl, "type")
        return typ is not None and (typ.text or b"") in _WG_TYPES
    raw = b"".join((unparen(value) or value).text.split()) if value.text else b""
    return raw in (b"sync.WaitGroup{}", b"&sync.WaitGroup{}", b"new(sync.WaitGroup)")


_LITERAL_BINDING = re.compile(rb"\b(\w+)\s*:?=\s*func\b")
# What makes an expression worth compiling beyond the tracked names: a receive, a
# literal, a call that ends the goroutine, waits, sleeps, or closes.
_INTERESTING = (
    rb"<-|\bfunc\b|\bpanic\b|Panic|Fatal|FailNow|Skip|\bExit|Goexit|\bWait\b|Lock\b|Unlock\b"
    rb"|Sleep\b|\bclose\b|\brequire\.|\bassert\."
)
# The nodes that bind or change a name, for one query (run in C, not a Python walk).
_BINDINGS = (
    "[(short_var_declaration) (assignment_statement) (receive_statement) (range_clause)"
    " (var_spec) (const_spec) (parameter_declaration) (inc_statement) (dec_statement)"
    " (unary_expression)] @node"
)


@dataclass(frozen=True)
class BodyFacts:
    """What one pass over a root function's bindings tells the compiler."""

    declared: dict[str, int]  # name -> how many declarations (nested literals included)
    flags: frozenset[str]  # booleans set only to true, false or a comma-ok
    counted: frozenset[str]  # names counted up or down (`iter++`, `n -= 2`)
    literals: frozenset[str]  # names bound to a func literal (`work := func() {...}`)


def body_facts(body: Node) -> BodyFacts:
    declared: dict[str, int] = {}
    oks: set[str] = set()
    assigned: dict[str, list[Node | None]] = {}
    counted: set[str] = set()
    for node in captures(_BINDINGS, body).get("node", ()):
        kind = node.type
        if kind in ("short_var_declaration", "range_clause", "receive_statement"):
            left = expressions(child(node, "left"))
            if kind == "short_var_declaration" or any(
                c.type == ":=" for c in node.children if not c.is_named
            ):
                for e in left:
                    if e.type == "identifier":
                        declared[text(e)] = declared.get(text(e), 0) + 1
        if kind in ("var_spec", "const_spec", "parameter_declaration"):
            for name in node.children_by_field_name("name"):
                declared[text(name)] = declared.get(text(name), 0) + 1
        if kind in ("short_var_declaration", "assignment_statement", "receive_statement"):
            left = expressions(child(node, "left"))
            right = expressions(child(node, "right"))
            if (
                len(left) == 2
                and len(right) == 1
                and right[0].type == "unary_expression"
                and text(child(right[0], "operator")) == "<-"
            ):
                oks.add(text(left[1]))
                continue
            operator = text(child(node, "operator")) if kind == "assignment_statement" else ""
            if operator in ("+=", "-=") and all(e.type == "int_literal" for e in right):
                counted.update(text(e) for e in left if e.type == "identifier")
            for k, name in enumerate(left):
                if name.type == "identifier":
                    value = right[k] if len(right) == len(left) and not operator[:-1] else name
                    assigned.setdefault(text(name), []).append(value)
        elif kind == "var_spec":
            values = expressions(child(node, "value"))
            typ = child(node, "type")
            for k, name in enumerate(node.children_by_field_name("name")):
                value = values[k] if k < len(values) else None
                if value is None and (typ is None or text(typ) != "bool"):
                    value = name  # not a bool
                assigned.setdefault(text(name), []).append(value)
        elif kind in ("inc_statement", "dec_statement"):
            for e in node.named_children:
                if e.type == "identifier":
                    counted.add(text(e))
                    assigned.setdefault(text(e), []).append(e)
        elif kind == "unary_expression" and text(child(node, "operator")) == "&":
            operand = unparen(child(node, "operand"))
            if operand is not None and operand.type == "identifier":
                assigned.setdefault(text(operand), []).append(operand)
    plain = {"true", "false"} | oks
    flags = frozenset(
        name
        for name, values in assigned.items()
        if declared.get(name) == 1
        and all(
            value is None or " ".join(text(value).split()).lstrip("!") in plain for value in values
        )
    )
    literals = frozenset(m.group(1).decode() for m in _LITERAL_BINDING.finditer(body.text or b""))
    return BodyFacts(declared, flags, frozenset(counted), literals)


class Compiler:
    """Compiles one reach. `escaped` collects the objects used in ways it does not
    model; the caller drops them and compiles again."""

    def __init__(
        self,
        pkg: Package,
        root: Function,
        objs: list[Obj],
        facts: BodyFacts,
        unfollowed: frozenset[str] = frozenset(),
        lock_roots: frozenset[str] = frozenset(),
    ) -> None:
        self.pkg = pkg
        self.root = root
        self.objs = list(objs)
        self._mutexes: dict[str, int] = {}
        self.unfollowed = unfollowed  # mutex paths seen locked with no unlock in view
        self.lock_roots = lock_roots  # first names of the mutex paths a compile found
        self.code: list[Op] = []
        self.escaped: set[int] = set()
        self.launches: list[Node] = []
        self._pending: list[
            tuple[int, Function, dict[str, int], int, int, dict[str, str], frozenset[str]]
        ] = []
        self._loop_ids = 0
        self.key_vars: dict[str, frozenset[str]] = {}
        self.flags = facts.flags
        self._made = {obj.node.id: i for i, obj in enumerate(objs)}
        self._literal_names = facts.literals
        self._patterns: dict[frozenset[str], re.Pattern[bytes]] = {}
        self.counted = facts.counted

    # -- program -----------------------------------------------------------------------

    def compile(self) -> Program:
        names = {obj.name: i for i, obj in enumerate(self.objs)}
        frame = _Frame(self.root, names, 0, True, scope_key=self.root.node.id)
        frame.stack = (self.root.node.id,)
        self._body(self.root, frame)
        while self._pending:
            go_pc, target, names, thread, scope, aliases, rebound = self._pending.pop(0)
            self.code[go_pc].n = len(self.code)
            frame = _Frame(target, names, thread, True, scope_key=scope, aliases=aliases)
            frame.rebound = rebound  # a goroutine started in a loop sees that round's names
            frame.stack = (target.node.id,)
            self._body(target, frame)
        self._check_unlocks()
        # Add(len(jobs)) counts the goroutines a loop over jobs starts; with no such
        # loop, the count is nothing the model can match.
        loops = {op.key for op in self.code if op.kind == LOOP}
        for op in self.code:
            if op.kind == ADD and op.key and op.key not in loops:
                self.escaped.add(op.obj)
        self._mark_inexact()
        self._drop_idle_mutexes()
        self._thread_jumps()
        return Program(self.root, self.objs, self.code, self.key_vars, self.launches)

    def _drop_idle_mutexes(self) -> None:
        """A mutex never held across a channel operation or a Wait only orders
        critical sections: it cannot make a goroutine wait forever on a channel, and its
        interleavings would only multiply the states. Its Lock and Unlock become jumps.
        (Two mutexes taken in opposite orders are mutex-lock-order's.)"""
        code = self.code
        blocking = (SEND, RECV, RANGE, SELECT, WAIT)
        for obj in self._mutexes.values():
            held_across = False
            for pc, op in enumerate(code):
                if op.kind != LOCK or op.obj != obj:
                    continue
                seen: set[int] = set()
                stack = [pc + 1]
                while stack and not held_across:
                    at = stack.pop()
                    if at in seen or at >= len(code):
                        continue
                    seen.add(at)
                    step = code[at]
                    if step.kind == UNLOCK and step.obj == obj:
                        continue
                    if step.kind in blocking:
                        held_across = True
                    elif step.kind == END:
                        continue
                    elif step.kind in (JUMP, CHOICE, BRANCH, OKBRANCH, FLAGBRANCH, LOOP):
                        stack.extend(step.targets)
                    else:
                        stack.append(at + 1)
                if held_across:
                    break
            if not held_across:
                for pc, op in enumerate(code):
                    if op.kind in (LOCK, UNLOCK) and op.obj == obj:
                        op.kind, op.targets = JUMP, [pc + 1]

    def _check_unlocks(self) -> None:
        """A mutex is followed only where every body that locks it also unlocks it:
        one unlocked by code the skeleton does not hold (a method it does not inline)
        would look held forever."""
        for obj in self._mutexes.values():
            locks = {op.thread for op in self.code if op.kind == LOCK and op.obj == obj}
            unlocks = {op.thread for op in self.code if op.kind == UNLOCK and op.obj == obj}
            if not locks <= unlocks:
                self.escaped.add(obj)

    def _thread_jumps(self) -> None:
        """Peephole: an assignment no condition reads becomes a jump; every target is
        moved past the jumps it would go through; a choice whose sides all land on one
        op is that jump. Fewer steps, and choices that change nothing are no branches
        for the search."""
        read = {var for names in self.key_vars.values() for var in names}
        code = self.code
        for pc, op in enumerate(code):
            if op.kind == KILL and not any(
                var == op.key or var.startswith(op.key + ".") for var in read
            ):
                op.kind, op.targets = JUMP, [pc + 1]
        landing: dict[int, int] = {}

        def land(pc: int) -> int:
            path: list[int] = []
            while pc < len(code) and code[pc].kind == JUMP and code[pc].targets:
                if pc in landing:
                    pc = landing[pc]
                    break
                if pc in path:
                    break  # a loop of jumps: `for {}` doing nothing
                path.append(pc)
                pc = code[pc].targets[0]
            for step in path:
                landing[step] = pc
            return pc

        for op in code:
            op.targets = [land(t) for t in op.targets]
            if op.default >= 0:
                op.default = land(op.default)
            if op.kind == GO:
                op.n = land(op.n)
        for op in code:
            if op.kind == CHOICE and op.n == 0 and len(set(op.targets)) == 1:
                op.kind, op.targets = JUMP, op.targets[:1]

    def _mark_inexact(self) -> None:
        """Loops whose count the model cannot keep, so that no verdict rests on it
        (`ok` on the LOOP op): a literal bound beyond what is unrolled (`for range 5`
        against five `go` statements), and a loop receiving from a tracked channel as
        often as something no other loop runs over (`for i := 0; i < 2+n; i++ {
        <-done }`). A loop launching goroutines keeps its one-or-two rounds (also
        one receiving what each round launched): that some round launches one more
        than is received is what it is about."""
        keys: dict[str, int] = {}
        for op in self.code:
            if op.kind == LOOP or (op.kind == ADD and op.key):
                keys[op.key] = keys.get(op.key, 0) + 1
        for op in self.code:
            if op.kind != LOOP:
                continue
            if op.obj > _LITERAL_BOUND:
                op.obj, op.ok = _LITERAL_BOUND, True
                continue
            if op.obj >= 0 or keys.get(op.key, 0) > 1:
                continue
            body = self.code[op.targets[0] : op.targets[1]]
            op.ok = not any(step.kind == GO for step in body) and any(
                step.kind in (RECV, RANGE)
                or (step.kind == SELECT and any(c.kind == RECV for c in step.cases))
                for step in body
            )

    def _emit(self, op: Op, frame: _Frame) -> int:
        if len(self.code) >= MAX_CODE:
            raise Unsupported("skeleton too large")
        op.thread = frame.thread
        op.loose = frame.loose > 0
        self.code.append(op)
        return len(self.code) - 1

    def _here(self) -> int:
        return len(self.code)

    def _body(self, fn: Function, frame: _Frame) -> None:
        body = child(fn.node, "body")
        if body is not None:
            self._block(body, frame)
        self._return(body.children[-1] if body is not None and body.children else fn.node, frame)

    def _return(self, node: Node, frame: _Frame) -> None:
        for call in reversed(frame.defers):
            self._expr(call, frame)
        if frame.top:
            self._emit(Op(END, node), frame)
        else:
            frame.returns.append(self._emit(Op(JUMP, node), frame))

    def _end_goroutine(self, node: Node, frame: _Frame) -> None:
        """panic / log.Fatal / os.Exit: deferred calls run (for panic), then the
        goroutine is gone."""
        for call in reversed(frame.defers):
            self._expr(call, frame)
        self._emit(Op(END, node, n=1), frame)

    # -- statements --------------------------------------------------------------------

    def _block(self, node: Node, frame: _Frame) -> None:
        for stmt in node.named_children:
            self._stmt(stmt, frame)

    def _stmt(self, node: Node, frame: _Frame) -> None:
        kind = node.type
        if kind in ("block", "statement_list"):
            self._block(node, frame)
        elif kind == "comment" or kind == "empty_statement":
            return
        elif kind == "send_statement":
            self._expr(child(node, "value"), frame)
            obj = self._obj(child(node, "channel"), frame)
            if obj >= 0:
                self._emit(Op(SEND, node, obj), frame)
            else:
                self._expr(child(node, "channel"), frame)
                self._emit(Op(OPAQUE, node), frame)
        elif kind == "if_statement":
            self._if(node, frame)
        elif kind == "for_statement":
            self._for(node, frame, "")
        elif kind == "labeled_statement":
            label = text(child(node, "label"))
            inner = next((c for c in node.named_children if c.type != "label_name"), None)
            if inner is not None and inner.type == "for_statement":
                self._for(inner, frame, label)
            elif inner is not None and inner.type == "select_statement":
                self._select(inner, frame, label)
            elif inner is not None and inner.type.endswith("switch_statement"):
                self._switch(inner, frame, label)
            elif inner is not None:
                self._stmt(inner, frame)
        elif kind in ("expression_switch_statement", "type_switch_statement"):
            self._switch(node, frame)
        elif kind == "select_statement":
            self._select(node, frame)
        elif kind == "return_statement":
            for e in node.named_children:
                self._expr(e, frame)
            self._return(node, frame)
        elif kind == "go_statement":
            self._go(node, frame)
        elif kind == "defer_statement":
            call = next((c for c in node.named_children if c.type != "comment"), None)
            if call is not None:
                frame.defers.append(call)
        elif kind == "break_statement" or kind == "continue_statement":
            self._jump_out(node, frame, kind == "break_statement")
        elif kind == "goto_statement":
            raise Unsupported("goto")
        elif kind == "fallthrough_statement":
            return
        elif kind in ("inc_statement", "dec_statement"):
            for e in node.named_children:
                self._expr(e, frame)
                self._kill(e, frame)
        elif kind == "var_declaration" and self.flags:
            for e in node.named_children:
                self._expr(e, frame)
            for spec in node.named_children:
                names = spec.children_by_field_name("name") if spec.type == "var_spec" else []
                values = expressions(child(spec, "value"))
                for k, name in enumerate(names):
                    if text(name) in self.flags:
                        value = values[k] if k < len(values) else None
                        self._set_flag(text(name), value, frame)
        elif kind in ("receive_statement", "short_var_declaration", "assignment_statement"):
            self._assign_like(node, frame)
        else:
            for e in node.named_children:
                self._expr(e, frame)

    def _assign_like(self, node: Node, frame: _Frame) -> None:
        right = child(node, "right")
        left = expressions(child(node, "left"))
        values = expressions(right) if right is not None else []
        if (
            len(left) == 2
            and len(values) == 1
            and (recv := self._recv_operand(values[0], frame)) >= 0
        ):
            self._emit(Op(RECV, values[0], recv, ok=True), frame)
            frame.ok_name = text(left[1])
            self._kill(left[0], frame)
            return
        for e in values:
            self._expr(e, frame)
        for e in left:
            if e.type != "identifier" or node.type == "assignment_statement":
                self._expr(e, frame)
            self._kill(e, frame)
        if len(left) == 1 and len(values) == 1 and text(left[0]) in self.flags:
            self._set_flag(text(left[0]), values[0], frame)

    def _set_flag(self, name: str, value: Node | None, frame: _Frame) -> None:
        """A flag is assigned true, false, or the comma-ok of the last receive."""
        raw = " ".join(text(value).split()) if value is not None else "false"
        negated = raw.startswith("!")
        word = raw.lstrip("!").strip()
        if word in ("true", "false"):
            n = int((word == "true") != negated)
        elif frame.ok_name and word == frame.ok_name:
            n = 3 if negated else 2
        else:
            n = 4  # anything else: unknown from here on
        self._emit(Op(SETFLAG, value, key=f"flag:{name}", n=n), frame)

    def _flag_expr(self, cond: Node | None) -> tuple | None:  # type: ignore[type-arg]
        """A condition made only of flags, `!`, `&&` and `||`, as a tree; else None."""
        node = unparen(cond) if cond is not None else None
        if node is None:
            return None
        if node.type == "identifier":
            return ("var", f"flag:{text(node)}") if text(node) in self.flags else None
        if node.type in ("true", "false"):
            return ("const", node.type == "true")
        if node.type == "unary_expression" and text(child(node, "operator")) == "!":
            inner = self._flag_expr(child(node, "operand"))
            return ("not", inner) if inner is not None else None
        if node.type == "binary_expression" and text(child(node, "operator")) in ("&&", "||"):
            a, b = self._flag_expr(child(node, "left")), self._flag_expr(child(node, "right"))
            if a is None or b is None:
                return None
            return ("and" if text(child(node, "operator")) == "&&" else "or", a, b)
        return None

    def _recv_operand(self, node: Node, frame: _Frame) -> int:
        node = unparen(node) or node
        if node.type == "unary_expression" and text(child(node, "operator")) == "<-":
            return self._obj(child(node, "operand"), frame)
        return -1

    def _if(self, node: Node, frame: _Frame) -> None:
        init = child(node, "initializer")
        if init is not None:
            self._stmt(init, frame)
        cond = child(node, "condition")
        if cond is not None:
            self._expr(cond, frame)
        choice = self._emit(self._branch(cond, frame), frame)
        self.code[choice].targets = [self._here()]
        cons = child(node, "consequence")
        if cons is not None:
            self._stmt(cons, frame)
        skip = self._emit(Op(JUMP), frame)
        self.code[choice].targets.append(self._here())
        alt = child(node, "alternative")
        if alt is not None:
            self._stmt(alt, frame)
        self.code[skip].targets = [self._here()]
        self._collapse(choice, frame)

    def _collapse(self, start: int, frame: _Frame, endless: bool = False) -> None:
        """Drop a construct compiled from `start` on when it does nothing the model
        cares about (no operation, launch, return or jump out of it): its branches
        would only multiply the states. Its assignments still end the conditions over
        them. An endless loop doing nothing the model sees never lets its goroutine
        go on: it ends there, with no verdict drawn."""
        end = len(self.code)
        for op in self.code[start:]:
            if op.kind not in _INERT or not all(start <= t <= end for t in op.targets):
                return
            if op.kind == JUMP and not op.targets:
                return  # a break, continue or return, patched later: it leaves
        kept = {(op.kind, op.key): op for op in self.code[start:] if op.kind in (KILL, OPAQUE)}
        del self.code[start:]
        for op in kept.values():
            self.code.append(op)
        if endless:
            self._emit(Op(END, n=1), frame)

    def _branch(self, cond: Node | None, frame: _Frame) -> Op:
        """The op that chooses between a condition's two sides (targets: true, false)."""
        if cond is None:
            return Op(CHOICE, cond)
        raw = b" ".join((cond.text or b"").split())
        negated = False
        inner = unparen(cond) or cond
        while inner.type == "unary_expression" and text(child(inner, "operator")) == "!":
            negated = not negated
            inner = unparen(child(inner, "operand")) or inner
        if inner.type == "identifier" and frame.ok_name and text(inner) == frame.ok_name:
            return Op(OKBRANCH, cond, ok=negated)
        flags = self._flag_expr(cond)
        if flags is not None:
            return Op(FLAGBRANCH, cond, expr=flags)
        if b"ErrServerClosed" in raw:
            # After Shutdown/Close a server returns ErrServerClosed: the branch for
            # any other error is not taken on the path this model is about.
            closed_side = _SERVER_FAILED.search(raw) is None
            return Op(BRANCH, cond, key=f"={closed_side}")
        counters = frame.iter_vars | self.counted
        if counters and any(word in counters for word in re.findall(r"\w+", text(cond))):
            return Op(CHOICE, cond, n=1)  # on an iteration: a choice no verdict rests on
        key = self._stable_key(inner, frame)
        if key is None:
            return Op(CHOICE, cond)
        if inner.type == "binary_expression" and text(child(inner, "operator")) == "!=":
            negated = not negated
            same = key.replace("!=", "==", 1)
            self.key_vars[same] = self.key_vars[key]
            key = same
        return Op(BRANCH, cond, key=key, ok=negated)

    def _stable_key(self, cond: Node, frame: _Frame) -> str | None:
        """A key for a condition over variables and fields (no calls but len/cap, no
        receives): tests of it agree until one of them is assigned (a KILL op)."""
        names: set[str] = set()
        stack = [cond]
        while stack:
            node = stack.pop()
            if node.type == "call_expression":
                fn = unparen(child(node, "function"))
                if fn is None or fn.type != "identifier" or text(fn) not in _STABLE_CALLS:
                    return None
                stack.extend((child(node, "arguments") or node).named_children)
                continue
            if node.type == "selector_expression":
                path = path_of(node)
                if path is None:
                    return None
                names.add(f"{frame.scope_key}:{path}")
                continue
            if node.type == "index_expression" or (
                node.type == "unary_expression" and text(child(node, "operator")) == "<-"
            ):
                return None
            if node.type == "identifier":
                if text(node) in frame.names:
                    return None
                names.add(f"{frame.scope_key}:{text(node)}")
            stack.extend(node.named_children)
        key = f"{frame.scope_key}:{' '.join(text(cond).split())}"
        self.key_vars[key] = frozenset(names)
        return key

    def _kill(self, target: Node, frame: _Frame) -> None:
        """An assignment to a variable (or field path): the conditions over it may
        change."""
        target = unparen(target) or target
        path = text(target) if target.type == "identifier" else path_of(target)
        if path and path != "_":
            self._emit(Op(KILL, target, key=f"{frame.scope_key}:{path}"), frame)

    def _for(self, node: Node, frame: _Frame, label: str) -> None:
        loop = _Loop(label)
        rng = next((c for c in node.named_children if c.type == "range_clause"), None)
        clause = next((c for c in node.named_children if c.type == "for_clause"), None)
        body = child(node, "body")
        if clause is not None:
            init = child(clause, "initializer")
            if init is not None:
                self._stmt(init, frame)
        start = self._here()
        head: int
        exit_op: int
        top = -1  # where each iteration starts, when not at `head`
        if rng is not None and (obj := self._obj(child(rng, "right"), frame)) >= 0:
            head = self._emit(Op(RANGE, rng, obj), frame)
            exit_op = head
        else:
            if rng is not None:
                self._expr(child(rng, "right"), frame)
            cond = (
                child(clause, "condition")
                if clause is not None
                else next(
                    (
                        c
                        for c in node.named_children
                        if c not in (body, rng, clause) and c.type != "comment"
                    ),
                    None,
                )
            )
            bound = self._bound(rng, cond, clause)
            if bound is not None:
                bound = (f"{frame.scope_key}:{bound[0]}", bound[1])
                self._loop_ids += 1
                loop_id = self._loop_ids
                self._emit(Op(LOOPINIT, node, n=loop_id), frame)
                key, literal = bound
                head = self._emit(Op(LOOP, node, key=key, n=loop_id, obj=literal), frame)
                exit_op = head
            elif cond is not None or rng is not None:
                top = self._here()  # the condition is evaluated before every iteration
                if cond is not None:
                    self._expr(cond, frame)
                flags = self._flag_expr(cond)
                if flags is not None:
                    head = self._emit(Op(FLAGBRANCH, cond, expr=flags), frame)
                else:
                    head = self._emit(Op(CHOICE, cond or rng), frame)
                exit_op = head
            else:
                head = self._emit(Op(JUMP), frame)  # for {}: leaves by break/return only
                self.code[head].targets = [head + 1]
                exit_op = -1
        if exit_op >= 0:
            self.code[exit_op].targets = [self._here()]
        counters = self._counters(clause, rng)
        bound = (
            frozenset(text(e) for e in expressions(child(rng, "left")) if e.type == "identifier")
            if rng is not None
            else counters
        )
        if rng is not None:
            for e in expressions(child(rng, "left")):
                self._kill(e, frame)
        frame.loops.append(loop)
        frame.iter_vars = frame.iter_vars | counters
        outer_rebound = frame.rebound
        frame.rebound = frame.rebound | bound
        unbounded = self.code[head].kind in (CHOICE, JUMP)
        frame.loose += unbounded
        if body is not None:
            self._stmt(body, frame)
        frame.loose -= unbounded
        frame.iter_vars = frame.iter_vars - counters
        frame.rebound = outer_rebound
        frame.loops.pop()
        cont = self._here()
        if clause is not None and (update := child(clause, "update")) is not None:
            self._stmt(update, frame)
        self._emit(Op(JUMP, targets=[top if top >= 0 else head]), frame)
        after = self._here()
        if exit_op >= 0:
            self.code[exit_op].targets.append(after)
        for pc in loop.breaks:
            self.code[pc].targets = [after]
        for pc in loop.continues:
            self.code[pc].targets = [cont]
        self._collapse(start, frame, endless=exit_op < 0 and not loop.breaks)

    @staticmethod
    def _counters(clause: Node | None, rng: Node | None) -> frozenset[str]:
        """The loop's index variables: `i` of `for i := 0; ...` and of `for i, x :=
        range`. A test of one (`i == 222`) depends on an iteration the unrolled loop
        may never reach."""
        left: list[Node] = []
        if clause is not None and (init := child(clause, "initializer")) is not None:
            left = expressions(child(init, "left"))
        elif rng is not None:
            left = expressions(child(rng, "left"))[:1]  # the index (or key)
        return frozenset(text(e) for e in left if e.type == "identifier" and text(e) != "_")

    def _bound(
        self, rng: Node | None, cond: Node | None, clause: Node | None
    ) -> tuple[str, int] | None:
        """(key, literal bound or -1) of a loop that runs once per element or up to a
        bound: loops with the same key run equally often."""
        if rng is not None:
            right = child(rng, "right")
            return (self._key_text(right), self._literal(right)) if right is not None else None
        if cond is None:
            return None
        cond = unparen(cond) or cond
        if cond.type != "binary_expression":
            return None
        operator = text(child(cond, "operator"))
        left, right = child(cond, "left"), child(cond, "right")
        if (operator in (">", "!=") and text(right) == "0") or (
            operator == ">=" and text(right) == "1"
        ):
            # Counting down: `for n > 0 { <-done; n-- }` runs once per `n`, or per what
            # the loop's own counter started from (`for left := n; left > 0; left--`).
            return self._key_text(_initial(clause, left) or left), -1
        if operator not in ("<", "<=") or right is None:
            return None
        literal = self._literal(right)
        if literal >= 0 and text(child(cond, "operator")) == "<=":
            literal += 1
        return self._key_text(right), literal

    @staticmethod
    def _key_text(node: Node | None) -> str:
        raw = " ".join(text(node).split())
        match = _KEY_STRIP.match(raw)
        return "loop:" + (match.group(1) if match else raw)

    @staticmethod
    def _literal(node: Node | None) -> int:
        """The literal count a loop runs: `5` of `for range 5` or `i < 5`, and the
        elements of a short slice or map literal ranged over (`range []string{"a",
        "b"}`: two rounds, not one or two); -1 for anything else."""
        node = unparen(node) if node is not None else None
        if node is not None and node.type == "composite_literal":
            # Up to the bound it runs exactly; a longer literal stays a collection like
            # any other (one or two rounds), as it was before its elements were counted.
            count = _elements(node)
            return count if count <= _LITERAL_BOUND else -1
        if node is None or node.type != "int_literal":
            return -1
        try:
            return int(text(node).replace("_", ""), 0)
        except ValueError:
            return -1

    def _jump_out(self, node: Node, frame: _Frame, is_break: bool) -> None:
        label_node = next((c for c in node.named_children if c.type == "label_name"), None)
        label = text(label_node) if label_node is not None else ""
        for loop in reversed(frame.loops):
            if label and loop.label != label:
                continue
            if not is_break and loop.breakable_only:
                continue
            pc = self._emit(Op(JUMP, node), frame)
            (loop.breaks if is_break else loop.continues).append(pc)
            return
        raise Unsupported("break or continue outside a modelled loop")

    def _switch(self, node: Node, frame: _Frame, label: str = "") -> None:
        for c in node.named_children:
            if c.type not in ("expression_case", "type_case", "default_case", "comment"):
                self._expr(c, frame)
        cases = [
            c
            for c in node.named_children
            if c.type in ("expression_case", "type_case", "default_case")
        ]
        choice = self._emit(Op(CHOICE, node), frame)
        loop = _Loop(label, breakable_only=True)
        frame.loops.append(loop)
        ends: list[int] = []
        for case in cases:
            self.code[choice].targets.append(self._here())
            for stmt in case.named_children:
                if stmt.type in ("expression_list", "type_case_type") or stmt in (
                    case.children_by_field_name("value") + case.children_by_field_name("type")
                ):
                    continue
                self._stmt(stmt, frame)
            ends.append(self._emit(Op(JUMP), frame))
        if not any(c.type == "default_case" for c in cases):
            self.code[choice].targets.append(self._here())
        frame.loops.pop()
        after = self._here()
        for pc in ends + loop.breaks:
            self.code[pc].targets = [after]
        self._collapse(choice, frame)

    def _select(self, node: Node, frame: _Frame, label: str = "") -> None:
        op = Op(SELECT, node)
        at = self._emit(op, frame)
        loop = _Loop(label, breakable_only=True)
        frame.loops.append(loop)
        ends: list[int] = []
        for case in node.named_children:
            if case.type == "default_case":
                op.default = self._here()
                body = case.named_children
            elif case.type == "communication_case":
                comm = child(case, "communication")
                found = self._case(comm, frame) if comm is not None else None
                if found is None:
                    continue
                op.cases.append(found)
                op.targets.append(self._here())
                body = [c for c in case.named_children if c != comm]
                if found.ok and comm is not None:
                    left = expressions(child(comm, "left"))
                    frame.ok_name = text(left[1]) if len(left) == 2 else ""
            else:
                continue
            for stmt in body:
                self._stmt(stmt, frame)
            ends.append(self._emit(Op(JUMP), frame))
        frame.loops.pop()
        after = self._here()
        for pc in ends + loop.breaks:
            self.code[pc].targets = [after]
        if not op.cases and op.default < 0:
            self.code[at] = Op(END, node, thread=frame.thread)  # select {}: parked for good

    def _case(self, comm: Node, frame: _Frame) -> Case | None:
        if comm.type == "send_statement":
            obj = self._obj(child(comm, "channel"), frame)
            return Case(SEND if obj >= 0 else ANY, obj, comm)
        expr = comm
        ok = False
        if comm.type == "receive_statement":
            expr = child(comm, "right") or comm
            ok = len(expressions(child(comm, "left"))) == 2
        elif comm.type == "expression_statement" and comm.named_children:
            expr = comm.named_children[0]
        obj = self._recv_operand(expr, frame)
        if obj < 0:
            self._expr_inner(expr, frame, skip_recv=True)
        return Case(RECV if obj >= 0 else ANY, obj, comm, ok=ok and obj >= 0)

    # -- goroutines and calls ----------------------------------------------------------

    def _go(self, node: Node, frame: _Frame) -> None:
        call = unparen(next((c for c in node.named_children if c.type != "comment"), None))
        if call is None or call.type != "call_expression":
            return
        args = child(call, "arguments")
        for a in args.named_children if args is not None else []:
            if self._arg_obj(a, frame) < 0:
                self._expr(a, frame)
        target, names, literal, aliases = self._callee(call, frame)
        if target is None:
            self._escape_args(call, frame)
            return
        pc = self._emit(Op(GO, node), frame)
        self.launches.append(node)
        thread = len(self.launches)
        scope = frame.scope_key if literal else target.node.id
        rebound = frame.rebound if literal else frozenset()
        self._pending.append((pc, target, names, thread, scope, aliases, rebound))

    def _callee(
        self, call: Node, frame: _Frame
    ) -> tuple[Function | None, dict[str, int], bool, dict[str, str]]:
        """What a call runs, with the tracked objects its parameters (or, for a
        literal, its captured names) stand for, and the paths the others alias."""
        target, bindings = resolve(self.pkg, frame.fn, call)
        if target is None:
            return None, {}, False, {}
        names: dict[str, int] = {}
        aliases: dict[str, str] = {}
        literal = target.is_literal
        if literal:
            names = {n: o for n, o in frame.names.items() if not declares(target.node, n)}
            aliases = {n: p for n, p in frame.aliases.items() if not declares(target.node, n)}
        for name, arg in bindings.items():
            obj = self._arg_obj(arg, frame)
            if obj >= 0:
                names[name] = obj
                continue
            names.pop(name, None)
            path = path_of(_address_of(arg) or arg)
            if path is not None:
                aliases[name] = self._in_root_terms(path, frame)
            else:
                aliases.pop(name, None)
        return target, names, literal, aliases

    def _in_root_terms(self, path: str, frame: _Frame) -> str:
        """A path as the root names it: through the frame's aliases; a name local to
        an inlined or launched function gets that function's mark."""
        first, dot, rest = path.partition(".")
        if first in frame.aliases:
            return frame.aliases[first] + dot + rest
        if frame.fn is not self.root and declares(frame.fn.node, first):
            return f"{frame.fn.node.id}@{path}"
        return path

    def _lock_owner(self, fn: Node | None, frame: _Frame) -> bool:
        """A method called on what holds a followed mutex (`c.put(k, v)` with c.mu
        locked in the reach): it may lock it too, so it is inlined."""
        if not self.lock_roots or fn is None or fn.type != "selector_expression":
            return False
        path = path_of(child(fn, "operand"))
        if path is None:
            return False
        return self._in_root_terms(path, frame).partition(".")[0] in self.lock_roots

    def _mutex(self, call: Node, operand: Node | None, frame: _Frame) -> int:
        """The mutex a Lock/Unlock call names, followed by its path; -1 when it is not
        followed (no plain path, or seen locked with no unlock in view)."""
        path = path_of(operand) if operand is not None else None
        if path is None or path.partition(".")[0] in frame.rebound:
            return -1
        path = self._in_root_terms(path, frame)
        if path in self.unfollowed:
            return -1
        if path not in self._mutexes:
            self._mutexes[path] = len(self.objs)
            self.objs.append(Obj(path, "mutex", call))
        return self._mutexes[path]

    def _call(self, call: Node, frame: _Frame) -> None:
        fn = unparen(child(call, "function"))
        args_node = child(call, "arguments")
        args = [a for a in (args_node.named_children if args_node else []) if a.type != "comment"]
        if calls_bare(call, "close") and args:
            obj = self._obj(args[0], frame)
            if obj >= 0:
                self._emit(Op(CLOSE, call, obj), frame)
                return
        if (
            fn is not None
            and fn.type == "identifier"
            and text(fn) in ("len", "cap")
            and args
            and self._obj(args[0], frame) >= 0
        ):
            return
        if fn is not None and fn.type == "selector_expression":
            obj = self._obj(child(fn, "operand"), frame)
            if obj >= 0 and self.objs[obj].kind == "wg":
                self._wg(call, text(child(fn, "field")), obj, args, frame)
                return
        if fn is not None and fn.type == "func_literal":
            pass  # an immediately called literal: inlined below
        elif fn is not None:
            self._expr(fn, frame)
        for a in args:
            if self._arg_obj(a, frame) < 0:
                self._expr(a, frame)
        if is_noreturn_call(call) or _fatal_helper(fn):
            self._end_goroutine(call, frame)
            return
        if fn is not None and fn.type == "selector_expression":
            method = text(child(fn, "field"))
            if method in _LOCKING and not args:
                mutex = self._mutex(call, unparen(child(fn, "operand")), frame)
                if mutex >= 0:
                    kind = UNLOCK if method.endswith("Unlock") else LOCK
                    self._emit(Op(kind, call, mutex, n=int(method.startswith("R"))), frame)
                    return
            if method in _WAITS or text(fn) == "time.Sleep":
                self._emit(Op(OPAQUE, call), frame)
        if _may_end(fn):
            # require.NoError(t, err): the goroutine goes on, or the test stops here.
            fork = self._emit(Op(CHOICE, call, n=2), frame)
            skip = self._emit(Op(JUMP), frame)
            self.code[fork].targets = [skip, self._here()]
            self._end_goroutine(call, frame)
            self.code[skip].targets = [self._here()]
        owner = self._lock_owner(fn, frame)
        touches = (
            any(self._arg_obj(a, frame) >= 0 for a in args)
            or owner
            or (
                fn is not None
                and (
                    fn.type == "func_literal"
                    or (fn.type == "identifier" and text(fn) in self._literal_names)
                )
            )
        )
        if not touches:
            return
        target, names, literal, aliases = self._callee(call, frame)
        if target is None or target.node.id in frame.stack or frame.depth >= MAX_INLINE:
            if not owner:
                self._escape_args(call, frame)
            return
        if not names and not (owner and _locks_inside(target)):
            return  # nothing of ours goes in
        inner = _Frame(
            target,
            names,
            frame.thread,
            False,
            depth=frame.depth + 1,
            stack=(*frame.stack, target.node.id),
            scope_key=frame.scope_key if literal else target.node.id,
            aliases=aliases,
        )
        inner.loose = frame.loose
        self._body(target, inner)
        after = self._here()
        for pc in inner.returns:
            self.code[pc].targets = [after]

    def _wg(self, call: Node, method: str, obj: int, args: list[Node], frame: _Frame) -> None:
        if method == "Add":
            delta = self._literal_int(args[0]) if args else None
            if delta is None and args and _countable(args[0]):
                # Add(len(jobs)) or Add(n): as many as a loop over jobs (or up to n)
                # runs, which the loop's key decides.
                key = f"{frame.scope_key}:{self._key_text(args[0])}"
                self._emit(Op(ADD, call, obj, key=key), frame)
                return
            if delta is None or delta > _LITERAL_BOUND:
                # Counted by something the model bounds differently (loops run up to
                # _LITERAL_BOUND times): the count cannot be matched.
                self.escaped.add(obj)
                return
            self._emit(Op(ADD, call, obj, n=delta), frame)
        elif method == "Done":
            self._emit(Op(ADD, call, obj, n=-1), frame)
        elif method == "Wait":
            self._emit(Op(WAIT, call, obj), frame)
        else:
            self.escaped.add(obj)

    @staticmethod
    def _literal_int(node: Node) -> int | None:
        node = unparen(node) or node
        negative = False
        if node.type == "unary_expression" and text(child(node, "operator")) == "-":
            negative = True
            node = unparen(child(node, "operand")) or node
        if node.type != "int_literal":
            return None
        try:
            value = int(text(node).replace("_", ""), 0)
        except ValueError:
            return None
        return -value if negative else value

    def _escape_args(self, call: Node, frame: _Frame) -> None:
        self._expr_inner(call, frame, escape_all=True)

    # -- expressions -------------------------------------------------------------------

    def _expr(self, node: Node | None, frame: _Frame) -> None:
        if node is not None and self._worth(node, frame):
            self._expr_inner(node, frame)

    def _worth(self, node: Node, frame: _Frame) -> bool:
        """Can the expression hold anything the skeleton keeps: a tracked name, a
        receive, a literal, or a call that ends, waits or runs a local literal? A byte
        search decides most expressions without looking at their nodes."""
        if node.id in self._made:
            return True  # the make of a tracked channel: a fresh one each time round
        owners = frozenset(
            alias
            for alias, path in frame.aliases.items()
            if path.partition(".")[0] in self.lock_roots
        )
        names = frozenset(frame.names) | owners | self.lock_roots
        pattern = self._patterns.get(names)
        if pattern is None:
            words = sorted(names | self._literal_names)
            alternatives = [rb"\b(?:" + b"|".join(re.escape(w.encode()) for w in words) + rb")\b"]
            pattern = re.compile(b"|".join([*(alternatives if words else []), _INTERESTING]))
            self._patterns[names] = pattern
        return pattern.search(node.text or b"") is not None

    def _expr_inner(
        self, node: Node, frame: _Frame, skip_recv: bool = False, escape_all: bool = False
    ) -> None:
        """The synchronization an expression performs, in evaluation order; a tracked
        name used any other way escapes."""
        made = self._made.get(node.id, -1)
        if made >= 0 and frame.thread == 0 and frame.depth == 0:
            self._emit(Op(MAKE, node, made), frame)
        kind = node.type
        if kind == "identifier":
            obj = frame.names.get(text(node), -1)
            if obj >= 0 and (escape_all or not _harmless(node)):
                self.escaped.add(obj)
            return
        if kind in FUNC_NODES:
            self._literal_escapes(node, frame)
            return
        if escape_all:
            for c in node.named_children:
                self._expr_inner(c, frame, escape_all=True)
            return
        if kind == "call_expression":
            self._call(node, frame)
            return
        if kind == "unary_expression" and text(child(node, "operator")) == "<-":
            obj = self._obj(child(node, "operand"), frame)
            if obj >= 0:
                if not skip_recv:
                    self._emit(Op(RECV, node, obj), frame)
                return
            if not skip_recv:
                self._emit(Op(OPAQUE, node), frame)
        for c in node.named_children:
            self._expr_inner(c, frame)

    def _literal_escapes(self, lit: Node, frame: _Frame) -> None:
        """A literal not run here (a callback, a value): every tracked name it mentions
        escapes with it, unless it is only ever called or launched by its name (then it
        is compiled where that happens)."""
        if lit.parent is not None and lit.parent.type == "call_expression":
            return  # called right here: _call inlines it
        holder = _bound_name(lit)
        if holder and self._only_called(holder, frame):
            return
        body = child(lit, "body")
        data = (body.text or b"") if body is not None else b""
        data += self._called_literals(data, frame)
        for name, obj in frame.names.items():
            if name.encode() in data and not declares(lit, name):
                self.escaped.add(obj)

    def _called_literals(self, data: bytes, frame: _Frame) -> bytes:
        """The bodies of the local func literals that `data` names (`stop := func() {
        <-done }`, and a returned `func() { stop() }`), and of those they name: what a
        literal escaping with it runs."""
        out = b""
        seen: set[str] = set()
        work = [data]
        while work:
            text_ = work.pop()
            for name in self._literal_names:
                if name in seen or name.encode() not in text_:
                    continue
                seen.add(name)
                lit = frame.fn.scope.literal(name)
                body = child(lit, "body") if lit is not None else None
                if body is not None:
                    out += b"\n" + (body.text or b"")
                    work.append(body.text or b"")
        return out

    def _only_called(self, name: str, frame: _Frame) -> bool:
        body = child(frame.fn.node, "body")
        data = (body.text or b"") if body is not None else b""
        uses = len(re.findall(rb"\b" + re.escape(name.encode()) + rb"\b", data))
        calls = len(re.findall(rb"\b" + re.escape(name.encode()) + rb"\(", data))
        return uses - calls <= 1  # the definition itself

    def _arg_obj(self, arg: Node, frame: _Frame) -> int:
        """The tracked object an argument hands over: `ch`, or `&wg`."""
        obj = self._obj(arg, frame)
        return obj if obj >= 0 else self._obj(_address_of(arg), frame)

    def _obj(self, node: Node | None, frame: _Frame) -> int:
        node = unparen(node) if node is not None else None
        if node is None or node.type != "identifier":
            return -1
        return frame.names.get(text(node), -1)


_ASSERTIONS = ("require", "assert")
# Untracked waits (a WaitGroup, errgroup or Cond out of view, a mutex): the model goes
# on at once, which says nothing about what they wait for.
_WAITS = frozenset({"Wait", "Lock", "RLock"})
_LOCKING = frozenset({"Lock", "Unlock", "RLock", "RUnlock"})


def _countable(node: Node) -> bool:
    """`len(x)`, `n` or `s.n`: a count a loop can have as its bound."""
    node = unparen(node) or node
    if node.type == "call_expression":
        fn = unparen(child(node, "function"))
        args = [a for a in (child(node, "arguments") or node).named_children if a.type != "comment"]
        return (
            fn is not None and text(fn) == "len" and len(args) == 1 and path_of(args[0]) is not None
        )
    return path_of(node) is not None


def _locks_inside(fn: Function) -> bool:
    """Does a function lock anything itself (a method of a mutex's owner worth
    inlining)?"""
    body = child(fn.node, "body")
    return body is not None and b"Lock()" in (body.text or b"")


def _fatal_helper(fn: Node | None) -> bool:
    """`testutil.FatalStack(t, ...)`, `s.Fatalf(...)`: named to stop the test."""
    if fn is None:
        return False
    name = text(child(fn, "field")) if fn.type == "selector_expression" else text(fn)
    return name.startswith("Fatal")


def _may_end(fn: Node | None) -> bool:
    """A test assertion that stops the goroutine when it fails (`require.NoError`,
    gotest.tools' `assert.NilError`)."""
    if fn is None or fn.type != "selector_expression":
        return False
    operand = unparen(child(fn, "operand"))
    return operand is not None and operand.type == "identifier" and text(operand) in _ASSERTIONS


def _initial(clause: Node | None, var: Node | None) -> Node | None:
    """The value a for clause's initializer gives `var` (`left := n` gives n)."""
    init = child(clause, "initializer") if clause is not None else None
    if init is None or var is None or init.type != "short_var_declaration":
        return None
    left, right = expressions(child(init, "left")), expressions(child(init, "right"))
    for name, value in zip(left, right, strict=False):
        if text(name) == text(var):
            return value
    return None


def _address_of(node: Node) -> Node | None:
    node = unparen(node) or node
    if node.type == "unary_expression" and text(child(node, "operator")) == "&":
        return child(node, "operand")
    return None


def _harmless(ident: Node) -> bool:
    """An occurrence that neither uses the object nor lets it out: the name being
    declared, or compared with nil."""
    parent = parent_of(ident)
    if parent is None:
        return False
    if parent.type == "binary_expression" and text(child(parent, "operator")) in ("==", "!="):
        return True
    if parent.type == "expression_list":
        holder = parent.parent
        if holder is not None and holder.type == "short_var_declaration":
            return child(holder, "left") == parent
    if parent.type == "var_spec":
        return ident in parent.children_by_field_name("name")
    return False


def _elements(lit: Node) -> int:
    """How many elements a slice literal (none keyed) or a map literal holds; -1 for an
    array (`[5]int{1}` has five) or anything it cannot count."""
    kind = child(lit, "type")
    body = child(lit, "body")
    if kind is None or body is None or kind.type not in ("slice_type", "map_type"):
        return -1
    elements = [c for c in body.named_children if c.type != "comment"]
    wanted = "keyed_element" if kind.type == "map_type" else "literal_element"
    if any(c.type != wanted for c in elements):
        return -1
    return len(elements)


def _bound_name(lit: Node) -> str:
    """`name` when the literal is the value of `name := func...` / `var name = func...`."""
    parent = lit.parent
    if parent is not None and parent.type == "expression_list":
        holder = parent.parent
        if holder is not None and holder.type in ("short_var_declaration", "var_spec"):
            left = (
                expressions(child(holder, "left"))
                if holder.type == "short_var_declaration"
                else list(holder.children_by_field_name("name"))
            )
            values = expressions(parent)
            if len(left) == len(values) and lit in values:
                return text(left[values.index(lit)])
    return ""


def compile_reach(pkg: Package, root: Function) -> Program | None:
    """The skeleton of the reach rooted at `root`, over the objects that stay in it;
    None when nothing stays tracked."""
    body = child(root.node, "body")
    if body is None:
        return None
    facts = body_facts(body)
    objs = tracked_objects(root, facts)
    unfollowed: frozenset[str] = frozenset()
    lock_roots: frozenset[str] = frozenset()
    for _ in range(6):
        if not objs:
            return None
        compiler = Compiler(pkg, root, objs, facts, unfollowed, lock_roots)
        program = compiler.compile()
        # Once the mutexes held across a blocking operation are known, the methods of
        # what holds them are inlined (they may lock them too): one more compile.
        found = frozenset(
            compiler.objs[op.obj].name.partition(".")[0]
            for op in program.code
            if op.kind == LOCK and "." in compiler.objs[op.obj].name
        )
        if not compiler.escaped and found <= lock_roots:
            if lock_roots and not found:
                # The owners' methods were inlined for mutexes that, seen whole, are
                # never held across a blocking operation: the smaller program will do.
                lock_roots = frozenset()
                unfollowed |= {o.name for o in compiler.objs if o.kind == "mutex"}
                continue
            return program
        lock_roots |= found
        # Mutexes are found again as they are met; the ones not to follow are named.
        unfollowed |= {
            o.name
            for i, o in enumerate(compiler.objs)
            if i in compiler.escaped and o.kind == "mutex"
        }
        objs = [o for i, o in enumerate(objs) if i not in compiler.escaped]
    return None
