"""What a branch condition guarantees about nil-ness on the edge it takes.

`established(cond, value, holds)` answers: on the edge where `cond` evaluated to
`value`, is some nil-fact that `holds` accepts guaranteed? It follows `!`, `&&` and
`||` in both polarities, so the false edge of `resp != nil && resp.Body != nil`
guarantees "resp is nil or resp.Body is nil": nothing is open there either way.
"""

from __future__ import annotations

from collections.abc import Callable

from tree_sitter import Node

from leakaudit.parsing.syntax import field as child
from leakaudit.parsing.syntax import text, unparen

# holds(operand, is_nil) -> does this fact settle the question?
Predicate = Callable[[str, bool], bool]


def established(cond: Node | None, value: bool, holds: Predicate) -> bool:
    cond = unparen(cond)
    if cond is None:
        return False
    kind = cond.type
    if kind == "unary_expression" and text(child(cond, "operator")) == "!":
        return established(child(cond, "operand"), not value, holds)
    if kind == "call_expression":
        # os.IsNotExist(err), errors.Is(err, x), errors.As(err, &t): true only for a
        # non-nil err, so their true edge says `err != nil` (the false edge says nothing).
        # testify's assert.NoError(t, err) is true exactly when err is nil: both edges.
        tested = _error_tested(cond)
        if tested is None:
            return False
        operand, nil_if_true, both = tested
        if value:
            return holds(operand, nil_if_true)
        return both and holds(operand, not nil_if_true)
    if kind != "binary_expression":
        return False
    op = text(child(cond, "operator"))
    left, right = child(cond, "left"), child(cond, "right")
    if op == "&&":
        if value:  # both true: either one's guarantee holds
            return established(left, True, holds) or established(right, True, holds)
        # one of them is false, we don't know which: both must guarantee it
        return established(left, False, holds) and established(right, False, holds)
    if op == "||":
        if value:
            return established(left, True, holds) and established(right, True, holds)
        return established(left, False, holds) or established(right, False, holds)
    if op not in ("==", "!="):
        return False
    left, right = unparen(left), unparen(right)
    if right is not None and right.type == "nil" and left is not None:
        operand = left
    elif left is not None and left.type == "nil" and right is not None:
        operand = right
    else:
        return False
    if operand.type not in ("identifier", "selector_expression"):
        return False
    return holds(text(operand), (op == "==") == value)


# Calls that test whether an error (or a value) is nil, by package and name: which
# argument, what their true edge says (nil: True, not nil: False), and whether their
# false edge says the opposite (errors.Is(err, x) is false for most non-nil errors too).
_ERROR_TESTS: dict[tuple[str, str], tuple[int, bool, bool]] = {
    ("os", "IsNotExist"): (0, False, False),
    ("os", "IsExist"): (0, False, False),
    ("os", "IsPermission"): (0, False, False),
    ("os", "IsTimeout"): (0, False, False),
    ("errors", "Is"): (0, False, False),
    ("errors", "As"): (0, False, False),
    # github.com/stretchr/testify/assert: `if !assert.NoError(t, err) { return }`.
    ("assert", "NoError"): (1, True, True),
    ("assert", "Nil"): (1, True, True),
    ("assert", "Error"): (1, False, True),
    ("assert", "NotNil"): (1, False, True),
}


def _error_tested(call: Node) -> tuple[str, bool, bool] | None:
    """(the variable, nil when true, both edges) for a call like errors.Is(err, x) or
    assert.NoError(t, err) (by the names the file most likely imports them under: os,
    errors, assert)."""
    fn = unparen(child(call, "function"))
    if fn is None or fn.type != "selector_expression":
        return None
    key = (text(child(fn, "operand")), text(child(fn, "field")))
    if key not in _ERROR_TESTS:
        return None
    args = [a for a in (child(call, "arguments") or call).named_children if a.type != "comment"]
    index, nil_if_true, both = _ERROR_TESTS[key]
    if index >= len(args):
        return None
    arg = unparen(args[index])
    if arg is None or arg.type != "identifier":
        return None
    return text(arg), nil_if_true, both
