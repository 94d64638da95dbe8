"""Explicit-state search of a skeleton's interleavings, for goroutines stuck for good.

A state holds each goroutine's position (with its last comma-ok result and its loop
counters), every tracked channel's buffer count and closedness, every WaitGroup's
counter, the decisions taken for stable conditions and loop bounds, and how many
goroutines each `go` started. States are hashed, so loops end; a goroutine that can
move on its own (a jump, a branch, a launch) moves alone before anything else is tried,
which is a partial-order reduction: such steps commute with every other goroutine's.

A *terminal* state is one where nothing can move. In it, a goroutine still waiting on
a tracked operation (a channel, a WaitGroup, a mutex) waits forever: once the root has
returned, it has leaked; if the root itself waits, the function never returns. The
second verdict is only drawn from a path that took no free choice (an unrelated `if`,
a loop head that can go either way, a select that could have taken another case): the
root blocking on one branch of an arbitrary condition is usually a branch the program
never takes, while a goroutine left behind by an early return is the bug itself. A
send on (or close of) a closed channel panics; it is judged like a wait, at the
terminal state its path reaches, unless an untracked wait may have ordered the close.

Paths through what the model cannot count (a goroutine not started for the spawn
bound, a test of a loop index, a literal bound beyond the unrolling, t.Fatal) are cut
off: no verdict rests on them. Other reductions keep the search small: goroutines of
one `go` are interchangeable, steps that only let others go on (Done, Unlock, a send
into a buffer with room) are taken at once, and state no goroutine can read any more
(a decided condition, a loop counter, a comma-ok flag) is forgotten.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import NamedTuple

from leakaudit.model.skeleton import (
    ADD,
    ANY,
    BRANCH,
    CHOICE,
    CLOSE,
    END,
    FLAGBRANCH,
    GO,
    JUMP,
    KILL,
    LOCK,
    LOOP,
    LOOPINIT,
    MAKE,
    OKBRANCH,
    OPAQUE,
    RANGE,
    RECV,
    SELECT,
    SEND,
    SETFLAG,
    UNLOCK,
    UNROLL,
    WAIT,
    Program,
)

MAX_STATES = 20000
MAX_SPAWNS = 4  # goroutines one `go` statement starts
MAX_GOROUTINES = 12
FREE, LOSSY = 1, 2
BLIND_CLOSED = 64  # `closed` bit obj + 64: closed by a goroutine past an untracked wait
MAX_CHAIN = 256  # local steps run in one go
DONE_PC = -1  # returned

# A goroutine: (pc, last comma-ok, loop counters ((loop id, count), ...), spawning go
# pc, blind: it went past an untracked wait, so what it does next may be ordered by
# something out of view)
Goroutine = tuple[int, bool, tuple[tuple[int, int], ...], int, bool]
# A step of the witness: (goroutine index, pc, what happened)
Step = tuple[int, int, str]


class State(NamedTuple):
    """A tuple, hashed and compared as one: the search makes millions of them."""

    gs: tuple[Goroutine, ...]
    vals: tuple[int, ...]  # buffer count (channel) or counter (WaitGroup), by object
    closed: int  # bit per object
    keys: tuple[tuple[str, int], ...]
    spawns: tuple[tuple[int, int], ...]
    # FREE: a free choice was taken on the way here; LOSSY: a bound cut something off
    # (a goroutine not started), so no verdict can be drawn from here.
    chose: int
    # (goroutine, pc) of the first send on (or close of) a closed channel on the way
    # here; judged, like a wait, once nothing can move: a path that then ends in
    # t.Fatal or a cut-off bound is no verdict either.
    panicked: tuple[int, ...] = ()


@dataclass(frozen=True)
class Stuck:
    """A terminal state where goroutine `gid` waits forever at `pc`; or, with `panic`,
    the state where it sends on (or closes) a channel already closed at `pc`."""

    gid: int
    pc: int
    launch: int  # the `go` op that started it (-1: the root)
    root_done: bool
    trace: tuple[Step, ...]
    state: State
    panic: bool = False


@dataclass
class Result:
    stuck: list[Stuck]
    states: int
    complete: bool
    pruned: bool = False  # some path was cut off (a bound, t.Fatal): not all was judged


class _Search:
    def __init__(self, program: Program) -> None:
        self.p = program
        self.code = program.code
        self.caps = [obj.capacity for obj in program.objs]
        # The objects each body (thread) operates on.
        self.uses: dict[int, set[int]] = {}
        for op in program.code:
            objs = {case.obj for case in op.cases}
            if op.kind in (SEND, RECV, RANGE, CLOSE, ADD, WAIT, LOCK, UNLOCK):
                objs.add(op.obj)
            self.uses.setdefault(op.thread, set()).update(o for o in objs if o >= 0)
        # The bodies (threads) that close each object.
        self.closers: list[set[int]] = [set() for _ in program.objs]
        for op in program.code:
            if op.kind == CLOSE:
                self.closers[op.obj].add(op.thread)
        self.live = _liveness(program)
        # Ops `local` may take alone: all but the synchronizations that always need
        # the others (a buffered send or receive, or a Done, may still be local).
        self.maybe_local = [
            op.kind not in (CLOSE, WAIT, SELECT, LOCK)
            and not (op.kind == ADD and op.n >= 0)
            and not (op.kind in (SEND, RECV, RANGE) and (op.obj < 0 or self.caps[op.obj] == 0))
            for op in program.code
        ]
        self._live_of: dict[tuple[int, ...], tuple[frozenset[str], frozenset[int]]] = {}

    # -- helpers -----------------------------------------------------------------------

    @staticmethod
    def _key(state: State, key: str) -> int | None:
        for k, v in state.keys:
            if k == key:
                return v
        return None

    @staticmethod
    def _with_key(state: State, key: str, value: int) -> tuple[tuple[str, int], ...]:
        return tuple(sorted((*state.keys, (key, value))))

    def _move(
        self,
        state: State,
        i: int,
        pc: int,
        *,
        ok: bool | None = None,
        loops: tuple[tuple[int, int], ...] | None = None,
        blind: bool | None = None,
        vals: tuple[int, ...] | None = None,
        closed: int | None = None,
        keys: tuple[tuple[str, int], ...] | None = None,
        spawns: tuple[tuple[int, int], ...] | None = None,
        chose: int | None = None,
        panicked: tuple[int, ...] | None = None,
    ) -> State:
        """Goroutine i at pc, with what else changes (None: unchanged)."""
        g = state.gs[i]
        if pc < 0:
            moved: Goroutine = (pc, False, (), g[3], False)  # a finished one keeps its origin
        else:
            moved = (
                pc,
                g[1] if ok is None else ok,
                g[2] if loops is None else loops,
                g[3],
                g[4] if blind is None else blind,
            )
        gs = state.gs
        return State(
            (*gs[:i], moved, *gs[i + 1 :]),
            state.vals if vals is None else vals,
            state.closed if closed is None else closed,
            state.keys if keys is None else keys,
            state.spawns if spawns is None else spawns,
            state.chose if chose is None else chose,
            state.panicked if panicked is None else panicked,
        )

    # -- local steps -------------------------------------------------------------------

    def local(self, state: State, i: int) -> list[tuple[State, tuple[Step, ...]]] | None:
        """The successors when goroutine i's next op concerns only itself; None when it
        is a synchronization."""
        pc = state.gs[i][0]
        if pc < 0:
            return None
        op = self.code[pc]
        kind = op.kind
        if kind == JUMP:
            return [(self._move(state, i, op.targets[0]), ())]
        if kind == END:
            # n: panic, log.Fatal, t.Fatal: the program (or test) is going down, and
            # what it leaves behind is no verdict.
            chose = state.chose | (LOSSY if op.n else 0)
            return [(self._move(state, i, DONE_PC, chose=chose), ((i, pc, "end"),))]
        if kind == CHOICE:
            # n: 0 a free choice; 1 one no verdict rests on (a test of a loop index);
            # 2 going on, or a failed assertion ending the goroutine (no verdict).
            flags = [FREE] * len(op.targets) if op.n == 0 else [LOSSY] * len(op.targets)
            if op.n == 2:
                flags[0] = 0
            steps = [
                (
                    self._move(state, i, t, chose=state.chose | flag),
                    ((i, pc, f"choice:{k}"),),
                )
                for k, (t, flag) in enumerate(zip(op.targets, flags, strict=True))
            ]
            return steps
        if kind == OKBRANCH:
            value = state.gs[i][1] != op.ok
            return [(self._move(state, i, op.targets[0 if value else 1]), ())]
        if kind == BRANCH:
            if op.key.startswith("="):
                value = op.key == "=True"
                return [(self._move(state, i, op.targets[0 if value else 1]), ())]
            decided = self._key(state, op.key)
            if decided is None:
                return [
                    (
                        self._move(
                            state,
                            i,
                            op.targets[0 if v != op.ok else 1],
                            keys=self._with_key(state, op.key, v),
                            chose=state.chose | FREE,
                        ),
                        ((i, pc, f"branch:{int(v != op.ok)}"),),
                    )
                    for v in (1, 0)
                ]
            value = bool(decided) != op.ok
            return [
                (
                    self._move(state, i, op.targets[0 if value else 1]),
                    ((i, pc, f"branch:{int(value)}"),),
                )
            ]
        if kind == UNLOCK:
            # Releasing only ever lets others go on, like Done. (Unlocking an unlocked
            # mutex is a fatal error in Go; the model just leaves it free.)
            vals = list(state.vals)
            vals[op.obj] = 0 if op.n == 0 else max(0, vals[op.obj] - 1)
            return [(self._move(state, i, pc + 1, vals=tuple(vals)), ((i, pc, "unlock"),))]
        if kind == OPAQUE:
            return [(self._move(state, i, pc + 1, blind=True), ())]
        if kind == MAKE:
            # A fresh channel (or WaitGroup) each time round a loop. One still in use by
            # a goroutine of an earlier round is another object the model does not
            # keep apart: no verdict from here on.
            chose = state.chose
            if any(
                j != i and g[0] >= 0 and op.obj in self.uses[self.code[g[0]].thread]
                for j, g in enumerate(state.gs)
            ):
                chose |= LOSSY
            vals = list(state.vals)
            vals[op.obj] = 0
            closed = state.closed & ~(1 << op.obj) & ~(1 << (op.obj + BLIND_CLOSED))
            moved = self._move(state, i, pc + 1, vals=tuple(vals), closed=closed, chose=chose)
            return [(moved, ())]
        if kind == SETFLAG:
            g = state.gs[i]
            value = {0: 0, 1: 1, 2: int(g[1]), 3: int(not g[1])}.get(op.n)
            keys = tuple((k, v) for k, v in state.keys if k != op.key)
            if value is not None:
                keys = tuple(sorted((*keys, (op.key, value))))
            else:
                keys = tuple(sorted((*keys, (op.key, -1))))
            return [(self._move(state, i, pc + 1, keys=keys), ())]
        if kind == FLAGBRANCH:
            assert op.expr is not None
            value = self._eval(op.expr, state)
            if value is None:
                return [
                    (self._move(state, i, t, chose=state.chose | FREE), ((i, pc, f"choice:{k}"),))
                    for k, t in enumerate(op.targets)
                ]
            return [(self._move(state, i, op.targets[0 if value else 1]), ())]
        if kind == KILL:
            name = op.key
            prefix = name + "."
            keys = tuple(
                (k, v)
                for k, v in state.keys
                if not any(x == name or x.startswith(prefix) for x in self.p.key_vars.get(k, ()))
            )
            return [(self._move(state, i, pc + 1, keys=keys), ())]
        if kind == LOOPINIT:
            loops = tuple(item for item in state.gs[i][2] if item[0] != op.n)
            return [(self._move(state, i, pc + 1, loops=loops), ())]
        if kind == LOOP:
            return self._loop(state, i, pc)
        if kind == GO:
            return [self._spawn(state, i, pc)]
        if kind == SEND and self._roomy(state, op.obj, op.thread):
            # Room stays for everyone else's send, and a receiver waiting for a
            # value finds one either way: this send commutes with all of them.
            vals = list(state.vals)
            vals[op.obj] += 1
            return [(self._move(state, i, pc + 1, vals=tuple(vals)), ((i, pc, f"send:{op.obj}"),))]
        if kind in (RECV, RANGE) and op.obj >= 0 and state.vals[op.obj] >= 2:
            # A value stays for every other receiver, and room was made for senders.
            return self._recv_alone(state, i, -1)
        if kind == ADD and op.n < 0 and not op.key:
            # Done only ever lets a Wait go on, whoever else moves first: taking it
            # at once loses no stuck state.
            vals = list(state.vals)
            vals[op.obj] = _counted(vals[op.obj], op.n)
            return [(self._move(state, i, pc + 1, vals=tuple(vals)), ((i, pc, "add"),))]
        return None

    def _eval(self, expr: tuple, state: State) -> bool | None:  # type: ignore[type-arg]
        """A flag condition's value; None when a flag it reads is unknown."""
        kind = expr[0]
        if kind == "const":
            return bool(expr[1])
        if kind == "var":
            value = self._key(state, expr[1])
            return None if value == -1 else bool(value)  # unset: false, Go's zero value
        if kind == "not":
            inner = self._eval(expr[1], state)
            return None if inner is None else not inner
        a, b = self._eval(expr[1], state), self._eval(expr[2], state)
        if kind == "and":
            return False if a is False or b is False else (None if None in (a, b) else True)
        return True if a is True or b is True else (None if None in (a, b) else False)

    def _forget(self, state: State) -> State:
        """The state without what no goroutine can read any more (see _Live)."""
        pcs = tuple(g[0] for g in state.gs)
        found = self._live_of.get(pcs)
        if found is None:
            keys: set[str] = set()
            gos: set[int] = set()
            for pc in pcs:
                if pc >= 0:
                    keys |= self.live[pc].keys
                    gos |= self.live[pc].gos
            found = self._live_of[pcs] = (frozenset(keys), frozenset(gos))
        live_keys, live_gos = found
        gs = state.gs
        if any((g[1] or g[2]) and g[0] >= 0 for g in gs):
            out = []
            for g in gs:
                if g[0] >= 0 and (g[1] or g[2]):
                    live = self.live[g[0]]
                    loops = tuple(item for item in g[2] if item[0] in live.loops)
                    g = (g[0], g[1] and live.ok, loops, g[3], g[4])
                out.append(g)
            gs = tuple(out)
        keys_now = state.keys
        if keys_now and any(item[0] not in live_keys for item in keys_now):
            keys_now = tuple(item for item in keys_now if item[0] in live_keys)
        spawns = state.spawns
        if spawns and any(item[0] not in live_gos for item in spawns):
            spawns = tuple(item for item in spawns if item[0] in live_gos)
        if gs is state.gs and keys_now is state.keys and spawns is state.spawns:
            return state
        return state._replace(gs=gs, keys=keys_now, spawns=spawns)

    def _panic(self, state: State, i: int, pc: int) -> tuple[State, tuple[Step, ...]]:
        """Goroutine i sends on (or closes) a closed channel: it panics, and is gone."""
        panicked = state.panicked
        if not panicked and self._ordered(state, pc):
            panicked = (i, pc)
        return self._move(state, i, DONE_PC, panicked=panicked), ((i, pc, "panic"),)

    def _ordered(self, state: State, pc: int) -> bool:
        """A send on (or close of) a closed channel that nothing out of view orders
        after the close: the closer did not go past an untracked wait (a WaitGroup or
        mutex the model does not follow) before closing, which may have waited for
        this very send. (The sender's own waits only delay it.)"""
        op = self.code[pc]
        objs = [op.obj] if op.kind != SELECT else [c.obj for c in op.cases if c.obj >= 0]
        return not any(state.closed >> (obj + BLIND_CLOSED) & 1 for obj in objs)

    def _roomy(self, state: State, obj: int, thread: int) -> bool:
        """A buffered send leaves room after it, on a channel nobody else closes."""
        return (
            0 <= state.vals[obj] < self.caps[obj] - 1
            and not state.closed >> obj & 1
            and self.closers[obj] <= {thread}
        )

    def _chain(
        self, moves: list[tuple[State, tuple[Step, ...]]], i: int
    ) -> list[tuple[State, tuple[Step, ...]]]:
        """Run goroutine i on while its steps are local and leave it no choice: the
        states in between are never worth a visit of their own."""
        for _ in range(MAX_CHAIN):
            if len(moves) != 1:
                return moves
            state, steps = moves[0]
            more = self.local(state, i)
            if more is None:
                return moves
            moves = [(nxt, steps + taken) for nxt, taken in more]
        return moves

    def _loop(self, state: State, i: int, pc: int) -> list[tuple[State, tuple[Step, ...]]]:
        op = self.code[pc]
        counters = dict(state.gs[i][2])
        done = counters.get(op.n, 0)
        if op.ok:  # a count the model cannot keep (skeleton._mark_inexact)
            state = state._replace(chose=state.chose | LOSSY)
        if op.obj >= 0:
            bounds = [(op.obj, state.keys)]
        else:
            decided = self._key(state, op.key)
            if decided is not None:
                bounds = [(decided, state.keys)]
            else:
                bounds = [(k, self._with_key(state, op.key, k)) for k in UNROLL]
        out = []
        for bound, keys in bounds:
            if done < bound:
                counters[op.n] = done + 1
                loops = tuple(sorted(counters.items()))
                out.append((self._move(state, i, op.targets[0], loops=loops, keys=keys), ()))
            else:
                loops = tuple(item for item in state.gs[i][2] if item[0] != op.n)
                out.append((self._move(state, i, op.targets[1], loops=loops, keys=keys), ()))
        return out

    def _spawn(self, state: State, i: int, pc: int) -> tuple[State, tuple[Step, ...]]:
        op = self.code[pc]
        spawns = dict(state.spawns)
        if spawns.get(pc, 0) >= MAX_SPAWNS or len(state.gs) >= MAX_GOROUTINES:
            return self._move(state, i, pc + 1, chose=state.chose | LOSSY), ()
        spawns[pc] = spawns.get(pc, 0) + 1
        moved = self._move(state, i, pc + 1, spawns=tuple(sorted(spawns.items())))
        child: Goroutine = (op.n, False, (), pc, False)
        gs = (*moved.gs, child)
        new = moved._replace(gs=gs)
        return new, ((i, pc, f"go:{len(gs) - 1}"),)

    # -- synchronization ---------------------------------------------------------------

    def _receivers(self, state: State, obj: int, sender: int) -> list[tuple[int, int]]:
        """(goroutine, case index or -1) pairs ready to take a value from obj now."""
        out = []
        for j, g in enumerate(state.gs):
            if j == sender or g[0] < 0:
                continue
            op = self.code[g[0]]
            if op.kind in (RECV, RANGE) and op.obj == obj:
                out.append((j, -1))
            elif op.kind == SELECT:
                for c, case in enumerate(op.cases):
                    if case.kind == RECV and case.obj == obj:
                        out.append((j, c))
        return out

    def _after_recv(self, state: State, j: int, c: int, value: bool) -> tuple[int, bool]:
        """Where goroutine j goes after receiving (value False: the channel was closed),
        and its comma-ok flag."""
        op = self.code[state.gs[j][0]]
        if op.kind == RANGE:
            return (op.targets[0] if value else op.targets[1]), state.gs[j][1]
        if op.kind == SELECT:
            case = op.cases[c]
            return op.targets[c], (value if case.ok else state.gs[j][1])
        return state.gs[j][0] + 1, (value if op.ok else state.gs[j][1])

    def sync(self, state: State, i: int) -> list[tuple[State, tuple[Step, ...]]]:
        pc = state.gs[i][0]
        op = self.code[pc]
        out: list[tuple[State, tuple[Step, ...]]] = []
        if op.kind == SEND:
            out += self._send(state, i, op.obj, pc + 1, f"send:{op.obj}")
        elif op.kind in (RECV, RANGE):
            out += self._recv_alone(state, i, -1)
        elif op.kind == CLOSE:
            if state.closed >> op.obj & 1:
                out.append(self._panic(state, i, pc))
            else:
                closed = state.closed | 1 << op.obj
                if state.gs[i][4]:
                    closed |= 1 << (op.obj + BLIND_CLOSED)
                moved = self._move(state, i, pc + 1, closed=closed)
                out.append((moved, ((i, pc, "close"),)))
        elif op.kind == ADD:
            counts = [(op.n, state.keys)]
            if op.key:
                decided = self._key(state, op.key)
                counts = (
                    [(decided, state.keys)]
                    if decided is not None
                    else [(k, self._with_key(state, op.key, k)) for k in UNROLL]
                )
            for n, keys in counts:
                vals = list(state.vals)
                vals[op.obj] = _counted(vals[op.obj], n)
                moved = self._move(state, i, pc + 1, vals=tuple(vals), keys=keys)
                out.append((moved, ((i, pc, "add"),)))
        elif op.kind == WAIT:
            if state.vals[op.obj] <= 0:  # zero, or overdrawn (see _counted)
                out.append((self._move(state, i, pc + 1), ((i, pc, "wait"),)))
        elif op.kind == LOCK:
            # vals: 0 free, -1 held for writing, n > 0 held by n readers.
            held = state.vals[op.obj]
            if held == 0 or (op.n == 1 and held > 0):
                vals = list(state.vals)
                vals[op.obj] = -1 if op.n == 0 else held + 1
                out.append((self._move(state, i, pc + 1, vals=tuple(vals)), ((i, pc, "lock"),)))
        elif op.kind == SELECT:
            # A case on an untracked channel (ctx.Done(), time.After) may be ready or
            # not: taking it, or the default beside it, is the environment's choice.
            env = state.chose | FREE
            for c, case in enumerate(op.cases):
                if case.kind == SEND:
                    out += self._send(state, i, case.obj, op.targets[c], f"case:{c}")
                elif case.kind == RECV:
                    out += self._recv_alone(state, i, c)
            ready = bool(out)
            for c, case in enumerate(op.cases):
                if case.kind == ANY:
                    moved = self._move(state, i, op.targets[c], chose=env)
                    out.append((moved, ((i, pc, f"case:{c}"),)))
            if not ready and op.default >= 0:
                moved = self._move(state, i, op.default, chose=env)
                out.append((moved, ((i, pc, "default"),)))
            if len(out) > 1:
                # More than one case could fire: which one does is a matter of timing.
                out = [(st._replace(chose=st.chose | FREE), steps) for st, steps in out]
        return out

    def _send(
        self, state: State, i: int, obj: int, then: int, what: str
    ) -> list[tuple[State, tuple[Step, ...]]]:
        pc = state.gs[i][0]
        if state.closed >> obj & 1:
            return [self._panic(state, i, pc)]
        out = []
        if state.vals[obj] < self.caps[obj]:
            vals = list(state.vals)
            vals[obj] += 1
            out.append((self._move(state, i, then, vals=tuple(vals)), ((i, pc, what),)))
            return out
        if self.caps[obj] > 0:
            return out
        for j, c in self._receivers(state, obj, i):
            moved = self._move(state, i, then)
            to, ok = self._after_recv(moved, j, c, True)
            chose = moved.chose
            other = self.code[moved.gs[j][0]]
            if other.kind == SELECT and (len(other.cases) > 1 or other.default >= 0):
                chose |= FREE  # the receiver's select could have taken another case
            both = self._move(moved, j, to, ok=ok, chose=chose)
            out.append((both, ((i, pc, what), (j, moved.gs[j][0], f"recv:{c}"))))
        return out

    def _recv_alone(self, state: State, j: int, c: int) -> list[tuple[State, tuple[Step, ...]]]:
        """A receive that needs no partner: from a buffer, or from a closed channel."""
        pc = state.gs[j][0]
        op = self.code[pc]
        obj = op.cases[c].obj if c >= 0 else op.obj
        if state.vals[obj] > 0:
            vals = list(state.vals)
            vals[obj] -= 1
            to, ok = self._after_recv(state, j, c, True)
            return [(self._move(state, j, to, ok=ok, vals=tuple(vals)), ((j, pc, f"recv:{c}"),))]
        if state.closed >> obj & 1:
            to, ok = self._after_recv(state, j, c, False)
            return [(self._move(state, j, to, ok=ok), ((j, pc, f"closed:{c}"),))]
        return []

    # -- the search --------------------------------------------------------------------

    def successors(self, state: State) -> list[tuple[State, tuple[Step, ...]]]:
        maybe = self.maybe_local
        for i, g in enumerate(state.gs):
            if g[0] < 0 or not maybe[g[0]]:
                continue
            moves = self.local(state, i)
            if moves is not None:
                return self._chain(moves, i)
        out: list[tuple[State, tuple[Step, ...]]] = []
        for i, g in enumerate(state.gs):
            if g[0] >= 0:
                out += self.sync(state, i)
        return out

    def run(self, budget: int) -> Result:
        start = State(
            ((0, False, (), -1, False),),
            tuple(0 for _ in self.p.objs),
            0,
            (),
            (),
            0,
        )
        parent: dict[State, tuple[State | None, tuple[Step, ...]]] = {start: (None, ())}
        # Goroutines are interchangeable but for the root: states equal up to their
        # order are one (a loop's goroutines finish in any order).
        seen = {_canonical(start)}
        queue = deque([start])
        stuck: list[Stuck] = []
        seen_stuck: set[tuple[int, ...]] = set()
        pruned = False
        while queue:
            state = queue.popleft()
            moves = self.successors(state)
            if not moves:
                self._judge(state, parent, stuck, seen_stuck)
                continue
            for nxt, steps in moves:
                if nxt.chose & LOSSY:
                    pruned = True
                    continue  # cut off from any verdict
                nxt = self._forget(nxt)
                canonical = _canonical(nxt)
                if canonical in seen:
                    continue
                if len(seen) >= budget:
                    return Result(stuck, len(seen), False, pruned)
                seen.add(canonical)
                parent[nxt] = (state, steps)
                queue.append(nxt)
        return Result(stuck, len(seen), True, pruned)

    def _judge(
        self,
        state: State,
        parent: dict[State, tuple[State | None, tuple[Step, ...]]],
        stuck: list[Stuck],
        seen: set[tuple[int, ...]],
    ) -> None:
        root_done = state.gs[0][0] < 0
        if state.chose & LOSSY:
            return
        if state.panicked and (-2, state.panicked[1]) not in seen:
            gid, pc = state.panicked
            seen.add((-2, pc))
            trace = _trace(state, parent)
            cut = next(k for k, step in enumerate(trace) if step == (gid, pc, "panic"))
            launch = state.gs[gid][3]
            stuck.append(Stuck(gid, pc, launch, root_done, trace[: cut + 1], state, True))
        if root_done:
            waiting = [(gid, g) for gid, g in enumerate(state.gs) if gid and g[0] >= 0]
        elif not state.chose & FREE:
            waiting = [(0, state.gs[0])]  # the function itself never returns
        else:
            return
        for gid, g in waiting:
            key = (g[3], g[0], root_done)
            if key in seen:
                continue
            seen.add(key)
            stuck.append(Stuck(gid, g[0], g[3], root_done, _trace(state, parent), state))


@dataclass(frozen=True)
class _Live:
    """What may still be read from a pc on (in this goroutine, or in one it starts):
    the keys and flags tested, the loops counted, the `go` statements run, whether a
    comma-ok result is looked at. State the rest of a run cannot read is dropped, so
    that states differing only in it are one."""

    keys: frozenset[str]
    loops: frozenset[int]
    gos: frozenset[int]
    ok: bool


def _liveness(program: Program) -> list[_Live]:
    code = program.code
    n = len(code)
    succs: list[list[int]] = []
    gen_keys: list[set[str]] = []
    gen_loops: list[set[int]] = []
    gen_ok: list[bool] = []
    for pc, op in enumerate(code):
        if op.kind == END:
            nxt: list[int] = []
        elif op.kind in (JUMP, CHOICE, BRANCH, OKBRANCH, FLAGBRANCH, LOOP, RANGE, SELECT):
            nxt = list(op.targets) + ([op.default] if op.default >= 0 else [])
        elif op.kind == GO:
            nxt = [pc + 1, op.n]
        else:
            nxt = [pc + 1]
        succs.append([t for t in nxt if 0 <= t < n])
        keys: set[str] = set()
        if op.kind in (BRANCH, LOOP, ADD) and op.key and not op.key.startswith("="):
            keys.add(op.key)
        if op.kind == FLAGBRANCH and op.expr is not None:
            keys.update(_flag_keys(op.expr))
        gen_keys.append(keys)
        gen_loops.append({op.n} if op.kind == LOOP else set())
        gen_ok.append(op.kind == OKBRANCH or (op.kind == SETFLAG and op.n in (2, 3)))
    live_keys = [set(k) for k in gen_keys]
    live_loops = [set(x) for x in gen_loops]
    live_gos = [{pc} if code[pc].kind == GO else set() for pc in range(n)]
    live_ok = list(gen_ok)
    changed = True
    while changed:  # backward, to a fixpoint; programs are small
        changed = False
        for pc in range(n - 1, -1, -1):
            for t in succs[pc]:
                before = (len(live_keys[pc]), len(live_loops[pc]), len(live_gos[pc]), live_ok[pc])
                live_keys[pc] |= live_keys[t]
                live_loops[pc] |= live_loops[t] if code[t].thread == code[pc].thread else set()
                live_gos[pc] |= live_gos[t]
                live_ok[pc] = live_ok[pc] or (live_ok[t] and code[t].thread == code[pc].thread)
                after = (len(live_keys[pc]), len(live_loops[pc]), len(live_gos[pc]), live_ok[pc])
                changed |= before != after
    return [
        _Live(
            frozenset(live_keys[pc]),
            frozenset(live_loops[pc]),
            frozenset(live_gos[pc]),
            live_ok[pc],
        )
        for pc in range(n)
    ]


def _flag_keys(expr: tuple) -> set[str]:  # type: ignore[type-arg]
    if expr[0] == "var":
        return {expr[1]}
    if expr[0] == "const":
        return set()
    return set().union(*(_flag_keys(e) for e in expr[1:]))


def _canonical(state: State) -> State:
    """The state as the visited set knows it: goroutines (but the root) in order, and,
    once the root has returned, no memory of free choices (they only matter for the
    root's own verdict)."""
    chose = state.chose & ~FREE if state.gs[0][0] < 0 else state.chose
    gs = (state.gs[0], *sorted(state.gs[1:])) if len(state.gs) > 2 else state.gs
    return state._replace(gs=gs, chose=chose)


def _trace(
    state: State, parent: dict[State, tuple[State | None, tuple[Step, ...]]]
) -> tuple[Step, ...]:
    steps: list[tuple[Step, ...]] = []
    cur: State | None = state
    while cur is not None:
        prev, taken = parent[cur]
        steps.append(taken)
        cur = prev
    return tuple(step for group in reversed(steps) for step in group)


def explore(program: Program, budget: int = MAX_STATES) -> Result:
    """Every way the reach can get stuck (one witness per stuck operation)."""
    return _Search(program).run(budget)


OVERDRAWN = -1  # a WaitGroup counter a Done took below zero


def _counted(value: int, n: int) -> int:
    """A WaitGroup counter after Add(n). Below zero, Go panics: a program that does not
    relies on an order the model does not see (a Done that waits, out of view, for what
    comes after the next Add). From there the counter says nothing, and a Wait on it is
    not held up."""
    if value == OVERDRAWN:
        return OVERDRAWN
    return value + n if value + n >= 0 else OVERDRAWN
