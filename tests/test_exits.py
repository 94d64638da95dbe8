"""The exit a finding names is the one its resource leaks through: for a resource a
callback assigns to the enclosing function's variable and never releases, that
function's return, not the callback's."""

from __future__ import annotations

import pytest
from conftest import FIXTURES, scan_paths


@pytest.fixture(scope="module")
def messages() -> dict[tuple[str, int], tuple[str, str]]:
    """(path, line) -> (message, the function it is reported in)."""
    root = FIXTURES / "rules" / "http-body-not-closed"
    result, _ = scan_paths([str(root / "callbacks.go")], root)
    return {(f.location.path, f.location.line): (f.message, f.function) for f in result.findings}


@pytest.mark.parametrize(
    ("where", "exit", "function"),
    [
        (("callbacks.go", 47), "the return at line 53", "linkLeaked"),
        # The callback closes it on some paths: its own exits are judged.
        (("callbacks.go", 63), "the return at line 68", "func literal in readPartly"),
    ],
)
def test_callback_leak_names_the_enclosing_return(
    messages: dict[tuple[str, int], tuple[str, str]],
    where: tuple[str, int],
    exit: str,
    function: str,
) -> None:
    message, reported_in = messages[where]
    assert f"leaks through {exit};" in message
    assert reported_in == function


def test_callback_released_by_its_enclosing_function_is_silent(
    messages: dict[tuple[str, int], tuple[str, str]],
) -> None:
    assert sorted(messages) == [("callbacks.go", 47), ("callbacks.go", 63)]
