"""Facts of mutually recursive functions, solved to a fixpoint.

A fact about a function (what it does with a parameter) may depend on the same fact of
a function it calls, and through a call cycle on itself. The computation that meets
its own question unfinished answers with an assumption, then the outer computation
runs again with its own result as the next assumption, until an answer survives its
own use. Facts computed along the way that read an assumption are dropped whenever
the assumption changes: they were derived from a value that was not the answer.

Each question tries the assumptions its caller prefers, most useful first, and takes
the first that is its own answer (a function that releases its parameter on every path
that returns is a release, the infinite recursion aside); when none is, it iterates
from the last answer for a few rounds, and falls back to a safe answer when that does
not settle either.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

_ROUNDS = 4  # after the starting assumptions; the facts here take at most seven values


@dataclass
class _Frame:
    key: Hashable
    assumed: Any = None
    read: bool = False  # some computation inside read `assumed`
    # Keys memoized while this frame was open that read an assumption of this frame
    # or of one below it on the stack: stale when that assumption changes.
    dependents: list[Hashable] = field(default_factory=list)
    tainted_by: set[int] = field(default_factory=set)  # depths of open frames it read


@dataclass
class Solver:
    """The open questions of one package, innermost last."""

    stack: list[_Frame] = field(default_factory=list)


def solve(
    memo: dict[Any, Any],
    solver: Solver,
    key: Hashable,
    compute: Callable[[], Any],
    starts: Sequence[Any],
    fallback: Any,
) -> Any:
    """`memo[key]`, computing it with `compute` when missing. `compute` may ask other
    keys (and this one) through `solve` with the same `memo` and `solver`."""
    if key in memo:
        found = memo[key]
        if isinstance(found, _Frame):
            depth = solver.stack.index(found)
            found.read = True
            for frame in solver.stack[depth + 1 :]:
                frame.tainted_by.add(depth)
            return found.assumed
        return found
    frame = _Frame(key)
    solver.stack.append(frame)
    memo[key] = frame
    try:
        result = _settle(memo, frame, compute, starts, fallback)
    except BaseException:
        _forget(memo, frame)
        del memo[key]
        raise
    finally:
        solver.stack.pop()
    memo[key] = result
    if frame.tainted_by:
        # It read an assumption of a question still open below it: it is stale, and
        # so is what it kept, whenever that assumption changes.
        stale = [key, *frame.dependents]
        for below in frame.tainted_by:
            solver.stack[below].dependents.extend(stale)
    return result


def _settle(
    memo: dict[Any, Any],
    frame: _Frame,
    compute: Callable[[], Any],
    starts: Sequence[Any],
    fallback: Any,
) -> Any:
    """The first starting assumption that is its own answer; failing all, the value
    the answers converge on from the last one; failing that, `fallback`."""

    def under(assumed: Any) -> Any:
        frame.assumed, frame.read = assumed, False
        _forget(memo, frame)
        return compute()

    result = fallback
    for start in starts:
        result = under(start)
        if not frame.read or result == start:
            return result
    for _ in range(_ROUNDS):
        assumed = result
        result = under(assumed)
        if not frame.read or result == assumed:
            return result
    _forget(memo, frame)
    return fallback


def _forget(memo: dict[Any, Any], frame: _Frame) -> None:
    for key in frame.dependents:
        found = memo.get(key)
        if found is not None and not isinstance(found, _Frame):
            del memo[key]
    frame.dependents.clear()
