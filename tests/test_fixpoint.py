"""module/fixpoint.py: facts of recursive functions, solved by iteration, with the
facts derived from a discarded assumption dropped."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from leakaudit.module.fixpoint import Solver, solve

Equations = dict[str, Callable[[Callable[[str], object]], object]]


def _solve_all(equations: Equations, starts: tuple[object, ...], fallback: object) -> dict:
    memo: dict = {}
    solver = Solver()
    calls: list[str] = []

    def ask(name: str) -> object:
        def compute() -> object:
            calls.append(name)
            return equations[name](ask)

        return solve(memo, solver, name, compute, starts, fallback)

    answers = {name: ask(name) for name in equations}
    assert not solver.stack
    assert answers == {name: memo[name] for name in equations}, "memo agrees"
    return answers


@pytest.mark.parametrize(
    ("name", "equations", "expected"),
    [
        # No recursion: computed once, as is.
        ("plain", {"f": lambda ask: "borrows"}, {"f": "borrows"}),
        # Self-recursion whose first assumption is its own answer.
        (
            "release through recursion",
            {"f": lambda ask: "releases" if ask("f") == "releases" else "keeps"},
            {"f": "releases"},
        ),
        # The first assumption refutes itself, the second holds.
        (
            "read-only recursion",
            {"f": lambda ask: "borrows" if ask("f") in ("borrows", "keeps") else "some"},
            {"f": "borrows"},
        ),
        # Never settles (it flips with its assumption): the fallback.
        (
            "oscillation",
            {"f": lambda ask: "borrows" if ask("f") == "releases" else "releases"},
            {"f": "keeps"},
        ),
        # Mutual recursion: g was first computed under f's refuted assumption and must
        # not keep that answer.
        (
            "stale dependent dropped",
            {"f": lambda ask: "borrows" if ask("g") else "x", "g": lambda ask: ask("f")},
            {"f": "borrows", "g": "borrows"},
        ),
        # Iterating from the last answer converges on a value no start named.
        (
            "converges after the starts",
            {
                "f": lambda ask: {"releases": "some", "borrows": "some", "some": "keeps"}.get(
                    str(ask("f")), "keeps"
                )
            },
            {"f": "keeps"},
        ),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_solve(name: str, equations: Equations, expected: dict) -> None:
    assert _solve_all(equations, ("releases", "borrows"), "keeps") == expected


def test_an_exception_leaves_nothing_half_done() -> None:
    memo: dict = {}
    solver = Solver()

    def boom() -> object:
        raise RuntimeError("budget")

    with pytest.raises(RuntimeError):
        solve(memo, solver, "f", boom, ("releases",), "keeps")
    assert memo == {} and not solver.stack
    assert solve(memo, solver, "f", lambda: "borrows", ("releases",), "keeps") == "borrows"
