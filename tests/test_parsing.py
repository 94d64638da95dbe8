"""Parsing what tree-sitter-go 0.25 does not know yet: Go 1.26's `new(expr)` is re-read as
an ordinary call of the same length, so it hides no function, and every offset stays."""

from __future__ import annotations

import pytest

from leakaudit.parsing.parser import parse


@pytest.mark.parametrize(
    "code",
    [
        "func f() *int { return new(42) }",
        "func f(x int) *int { p := new(x + 1); return p }",
        'func f() *string { return new("a") }',
        "func f() **int { return new(new(1)) }",
        "type T struct{ A int }\nfunc f() *T { return new(T{A: 1}) }",
    ],
)
def test_new_of_an_expression_parses(code: str) -> None:
    content = f"package p\n\n{code}\n".encode()
    source = parse("p.go", content)
    assert not source.root.has_error
    assert source.content == content  # the file's own bytes, for snippets and fixes
    assert source.root.end_byte == len(content)


def test_new_of_a_type_is_left_as_it_is() -> None:
    content = b"package p\n\nfunc f() *int { return new(int) }\n"
    source = parse("p.go", content)
    assert not source.root.has_error and source.root.text == content


def test_a_real_syntax_error_stays_one() -> None:
    content = b"package p\n\nfunc f() *int { return new(42 }\n"
    source = parse("p.go", content)
    assert source.root.has_error and source.root.text == content
