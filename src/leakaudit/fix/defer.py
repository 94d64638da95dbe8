"""The defer fix: `defer rows.Close()` on the line after the acquisition's error check
(right after the acquisition when it has no error), for a resource nothing releases or
hands off on any path today.

Only where that is certainly right:
- the resource is a plain local variable, acquired once, outside any loop (a defer in
  a loop piles up until the function returns);
- no path releases it, hands it off, returns it or overwrites it (a defer on top of a
  release that some path does is a second release: harmless for Close, but the finding
  is then about one path, and the fix belongs there);
- when the call has an error result, the next statement is `if err != nil { ... }`,
  without an else, whose block cannot fall through, or `require.NoError(t, err)` (a nil
  `resp` deferred before the check would panic).
"""

from __future__ import annotations

from collections.abc import Callable

from tree_sitter import Node

from leakaudit.findings import Edit
from leakaudit.parsing.syntax import field as child
from leakaudit.parsing.syntax import text, walk

_LOOPS = ("for_statement",)
_FUNCS = ("function_declaration", "method_declaration", "func_literal")
# Statements that end a block: the error check's block must end in one of them.
_ENDS = ("return_statement", "goto_statement", "continue_statement", "break_statement")
# testify's require: these end the test (t.FailNow) unless their error argument is nil.
_REQUIRE = frozenset({"NoError", "NoErrorf", "Nil", "Nilf"})


def defer_edit(
    content: bytes,
    statement: Node,
    var: str,
    err: str | None,
    template: str,
    release: str,
    never_returns: Callable[[Node], bool],
    args: str = "",
) -> tuple[tuple[Edit, ...], str]:
    """The edit inserting `template` (with {var} and {release}) as a statement after
    `statement` (or after its error check), and its title; ((), "") when the fix is not
    certainly right. `never_returns` tells the calls that end a path (the function's
    own: `panic`, `t.Fatal`, `os.Exit`, the module's helpers that never return)."""
    if "." in var or statement.parent is None or in_loop(statement):
        return (), ""
    if statement.type not in ("short_var_declaration", "assignment_statement"):
        return (), ""
    if statement.parent.type not in ("block", "statement_list"):
        return (), ""  # an if/switch initializer: the variable lives in that statement only
    if _outlived(statement, var) or not _typed_as_acquired(statement, var):
        return (), ""
    anchor = statement
    if err is not None:
        check = statement.next_named_sibling
        while check is not None and check.type == "comment":
            check = check.next_named_sibling
        if check is None or not _error_check(check, err, never_returns):
            return (), ""
        anchor = check
    line = with_args(template.format(var=var, release=release), args)
    function = enclosing_function(statement)
    helper = test_helper_param(function) if function is not None else None
    if helper is not None:
        line = f"{helper}.Cleanup(func() {{ {line.removeprefix('defer ')} }})"
    if own_line(content, statement) is None:
        return (), ""
    at = own_line(content, anchor)
    if at is None:
        return (), ""
    return (line_edit(content, statement, at, line),), f"insert `{line}`"


def with_args(statement: str, args: str) -> str:
    """`defer tx.Rollback()` with the release's arguments written in: `...Rollback(ctx)`."""
    return statement[:-2] + f"({args})" if args and statement.endswith("()") else statement


def advice(
    statement: Node,
    function: Node,
    err: str | None,
    release: str,
    never_returns: Callable[[Node], bool],
) -> str:
    """How to release what `statement` acquires, said right for the site: never a
    `defer` in a loop, "after the error check" only where there is one, `t.Cleanup` in a
    test helper. `release` is the statement (`f.Close()`)."""
    if in_loop(statement):
        return (
            f"call `{release}` on every path of the loop body (a `defer` there waits for the "
            "function to return), or move the body into a function that defers it"
        )
    helper = test_helper_param(function)
    if helper is not None:
        return f"register `{helper}.Cleanup(func() {{ {release} }})` after it"
    if err is None:
        return f"add `defer {release}` right after the call"
    check = statement.next_named_sibling
    while check is not None and check.type == "comment":
        check = check.next_named_sibling
    if check is not None and _error_check(check, err, never_returns):
        return f"add `defer {release}` after the error check"
    return f"check `{err}`, then `defer {release}`"


def test_helper_param(function: Node) -> str | None:
    """The test's name (`t`) in a function given the test (`t *testing.T`, `tb
    testing.TB`) that is not a test itself; None elsewhere. What a helper creates often
    serves the test after the helper returns (a server behind the URL it returns), so it
    is released with the test, by `t.Cleanup`, never by a `defer` in the helper."""
    if function.type != "function_declaration":
        return None
    name = text(child(function, "name"))
    if name.startswith(("Test", "Benchmark", "Fuzz", "Example")):
        return None
    params = child(function, "parameters")
    for param in params.named_children if params else ():
        if text(child(param, "type")) in ("*testing.T", "*testing.B", "testing.TB"):
            names = [c for c in param.named_children if c.type == "identifier"]
            if names and text(names[0]) != "_":
                return text(names[0])
    return None


def line_start(content: bytes, node: Node) -> int:
    return content.rfind(b"\n", 0, node.start_byte) + 1


def own_line(content: bytes, node: Node) -> int | None:
    """Where the line after `node` starts, when `node` has its lines to itself (only
    indentation before it, at most a comment after it); None otherwise."""
    if content[line_start(content, node) : node.start_byte].strip():
        return None
    end = content.find(b"\n", node.end_byte)
    if end == -1:
        return None
    rest = content[node.end_byte : end].strip()
    if rest and not rest.startswith(b"//"):
        return None
    return end + 1


def line_edit(content: bytes, like: Node, at: int, line: str) -> Edit:
    """Insert `line` as a line of its own at offset `at` (a line start), indented as the
    statement `like` is."""
    indent = content[line_start(content, like) : like.start_byte].decode("utf-8", "replace")
    return span_edit(content, at, at, indent + line + "\n")


def span_edit(content: bytes, start: int, end: int, new: str) -> Edit:
    """Replace bytes start..end with `new`, the span also given as lines and columns."""

    def position(offset: int) -> tuple[int, int]:
        line = content.count(b"\n", 0, offset) + 1
        return line, offset - (content.rfind(b"\n", 0, offset) + 1) + 1

    (sl, sc), (el, ec) = position(start), position(end)
    return Edit(start, end, sl, sc, el, ec, new)


def _typed_as_acquired(statement: Node, var: str) -> bool:
    """Does `var` have the type the call returns, so the release method exists on it?
    Yes when this statement declares it; when it was declared before (`out :=
    io.Writer(os.Stdout)`, then `out, err = os.Create(p)`), only if that declaration
    spells a pointer type (`var f *os.File`), which the assignment must match."""
    function = enclosing_function(statement)
    if function is None:
        return False
    earlier = [
        node
        for node in walk(function, into_funcs=False)
        if node.start_byte < statement.start_byte
        and node.type in ("parameter_declaration", "var_spec", "short_var_declaration")
        and var in declared_names(node)
    ]
    if not earlier:
        return statement.type == "short_var_declaration"
    last = earlier[-1]
    kind = child(last, "type")
    return last.type != "short_var_declaration" and kind is not None and text(kind).startswith("*")


def declared_names(node: Node) -> set[str]:
    """The names a declaration declares: a parameter, var or const spec's, or the left
    side of `:=` or of a range clause."""
    if node.type in ("short_var_declaration", "range_clause"):
        left = child(node, "left")
        items = left.named_children if left is not None else []
    else:
        items = node.named_children
    return {text(n) for n in items if n.type == "identifier"}


def enclosing_function(node: Node) -> Node | None:
    """The function declaration, method or literal whose body holds `node`."""
    cur = node.parent
    while cur is not None and cur.type not in _FUNCS:
        cur = cur.parent
    return cur


def _outlived(statement: Node, var: str) -> bool:
    """Is `var` used by code that can run after the function returns: a goroutine, or a
    func literal that is not called on the spot (a callback, a handler)? A deferred
    release would pull the resource from under it. Tests too: a goroutine that checks
    its errors with `require` fails the run once the resource closes under it. So does
    a test method of a suite: its TearDown may still use what the test left."""
    function = enclosing_function(statement)
    if function is None:
        return True
    if function.type == "method_declaration" and text(child(function, "name")).startswith("Test"):
        return True
    for ident in walk(function, into_funcs=True):
        if ident.type != "identifier" or text(ident) != var:
            continue
        cur = ident.parent
        while cur is not None and cur != function:
            if cur.type == "go_statement":
                return True
            if cur.type == "func_literal" and not _called_here(cur):
                return True
            cur = cur.parent
    return False


def _called_here(literal: Node) -> bool:
    """`func() { ... }()`, or `defer func() { ... }()`: it runs before the function returns."""
    call = literal.parent
    if call is None or call.type != "call_expression":
        return False
    return child(call, "function") == literal


def in_loop(node: Node) -> bool:
    cur = node.parent
    while cur is not None and cur.type not in _FUNCS:
        if cur.type in _LOOPS:
            return True
        cur = cur.parent
    return False


def _error_check(node: Node, err: str, never_returns: Callable[[Node], bool]) -> bool:
    """`if err != nil { ...; return }`: no initializer, no else, a block that ends; or
    testify's `require.NoError(t, err)`, which ends the test when err is not nil."""
    if node.type == "expression_statement":
        return _required(node, err)
    if node.type != "if_statement" or child(node, "alternative") is not None:
        return False
    if child(node, "initializer") is not None:
        return False
    cond = child(node, "condition")
    if cond is None or cond.type != "binary_expression":
        return False
    sides = {text(child(cond, "left")), text(child(cond, "right"))}
    if text(child(cond, "operator")) != "!=" or sides != {err, "nil"}:
        return False
    body = child(node, "consequence")
    stmts = [c for c in (body.named_children if body is not None else ()) if c.type != "comment"]
    if len(stmts) == 1 and stmts[0].type == "statement_list":
        stmts = [c for c in stmts[0].named_children if c.type != "comment"]
    return bool(stmts) and _ends(stmts[-1], never_returns)


def _required(stmt: Node, err: str) -> bool:
    """`require.NoError(t, err)` (or `require.Nil`): the test stops unless err is nil."""
    call = stmt.named_children[0] if stmt.named_children else None
    if call is None or call.type != "call_expression":
        return False
    function = child(call, "function")
    if function is None or function.type != "selector_expression":
        return False
    name = text(child(function, "field"))
    if text(child(function, "operand")) != "require" or name not in _REQUIRE:
        return False
    args = [a for a in (child(call, "arguments") or call).named_children if a.type != "comment"]
    return len(args) >= 2 and text(args[1]) == err


def _ends(stmt: Node, never_returns: Callable[[Node], bool]) -> bool:
    if stmt.type in _ENDS:
        return True
    call = stmt.named_children[0] if stmt.type == "expression_statement" else None
    return call is not None and call.type == "call_expression" and never_returns(call)


def exit_edits(
    content: bytes, returns: list[Node], var: str, template: str, release: str
) -> tuple[tuple[Edit, ...], str]:
    """Edits inserting `template` (`_ = {var}.Close()`) on the line before each of the
    `returns` that leak it, with the return's indentation; ((), "") unless every one is
    a return statement alone on its line in a block."""
    if "." in var or not returns:
        return (), ""
    line = template.format(var=var, release=release)
    edits = []
    for ret in sorted(returns, key=lambda n: n.start_byte):
        if ret.type != "return_statement" or ret.parent is None:
            return (), ""
        if ret.parent.type not in ("block", "statement_list"):
            return (), ""
        start = line_start(content, ret)
        if content[start : ret.start_byte].strip():
            return (), ""  # `if err != nil { return err }` on one line
        edits.append(line_edit(content, ret, start, line))
    where = "the return" if len(edits) == 1 else f"each of {len(edits)} returns"
    return tuple(edits), f"insert `{line}` before {where} that leaks it"
