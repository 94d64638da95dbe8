"""The package graph: imports read from bytes, import paths from go.mod, and an order
that puts every package after the packages it imports."""

from __future__ import annotations

from pathlib import Path

import pytest

from leakaudit.module import graph


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (b'package a\n\nimport "fmt"\n\nfunc A() {}\n', {"fmt"}),
        (
            b'package a\n\nimport (\n\t"fmt"\n\tsq "database/sql"\n\t_ "embed"\n'
            b'\t// "commented/out"\n\t. "strings"\n)\n',
            {"fmt", "database/sql", "embed", "strings"},
        ),
        (b'package a\n/* import "inside/comment" */\nimport x "a/b"\n', {"a/b"}),
        (b'package a\n\nfunc main() {}\n// import "late"\n', set()),
        (
            b'package a\nimport "one"\nimport (\n"two"\n)\nvar x = "import \\"three\\""\n',
            {"one", "two"},
        ),
    ],
    ids=["single", "block", "comments", "none", "two-declarations"],
)
def test_imports_of(source: bytes, expected: set[str]) -> None:
    assert graph.imports_of(source) == expected


def _module(tmp_path: Path, files: dict[str, str]) -> tuple[list[str], graph.Graph]:
    (tmp_path / "go.mod").write_text("module example.com/m\n\ngo 1.22\n")
    for rel, body in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body)
    dirs = sorted({str(Path(rel).parent) for rel in files})
    imports = [
        (
            dirs.index(str(Path(rel).parent)),
            Path(rel).name,
            graph.imports_of((tmp_path / rel).read_bytes()),
        )
        for rel in files
    ]
    return dirs, graph.build(dirs, str(tmp_path.resolve()), imports)


def test_order_puts_imports_first(tmp_path: Path) -> None:
    dirs, g = _module(
        tmp_path,
        {
            "api/api.go": 'package api\nimport "example.com/m/store"\n',
            "store/store.go": 'package store\nimport "example.com/m/db"\n',
            "db/db.go": 'package db\nimport "database/sql"\n',
            "main.go": 'package main\nimport "example.com/m/api"\n',
        },
    )
    assert g.paths == [
        "example.com/m",
        "example.com/m/api",
        "example.com/m/db",
        "example.com/m/store",
    ]
    order = [dirs[i] for i in g.order()]
    assert order.index("db") < order.index("store") < order.index("api") < order.index(".")


def test_an_external_test_package_cycle_keeps_the_real_edges(tmp_path: Path) -> None:
    # a's external test imports b, which imports a: a must still come before b.
    dirs, g = _module(
        tmp_path,
        {
            "a/a.go": "package a\n",
            "a/a_test.go": 'package a_test\nimport "example.com/m/b"\n',
            "b/b.go": 'package b\nimport "example.com/m/a"\n',
        },
    )
    a, b = dirs.index("a"), dirs.index("b")
    assert g.test_imports[a] == {b} and g.imports[b] == {a}
    order = g.order()
    assert order.index(a) < order.index(b)


def test_outside_any_module_there_are_no_edges(tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    g = graph.build(["x"], str(tmp_path.resolve()), [(0, "x.go", {"fmt"})])
    assert g.paths == [None] and g.order() == [0]


def test_module_dir_never_leaves_the_module(tmp_path: Path) -> None:
    """Hostile import paths (dot segments, a symlink out of the module) name nothing."""
    root = tmp_path / "m"
    (root / "pkg").mkdir(parents=True)
    (tmp_path / "outside").mkdir()
    (root / "escape").symlink_to(tmp_path / "outside")
    roots = {"example.com/m": str(root)}
    assert graph.module_dir("example.com/m/pkg", roots) == str(root / "pkg")
    assert graph.module_dir("example.com/m", roots) == str(root)
    for hostile in (
        "example.com/m/../outside",
        "example.com/m/./pkg",
        "example.com/m//pkg",
        "example.com/m/escape",
        "example.com/m/pkg\x00",
        "other.org/x",
    ):
        assert graph.module_dir(hostile, roots) is None, hostile


def test_a_hostile_import_reads_nothing_outside(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file importing `example.com/m/../secret` makes no package outside the module
    a facts-only unit: nothing there is listed or read."""
    from conftest import scan_paths

    from leakaudit import scan as scan_mod

    repo = tmp_path / "repo"
    (repo / "a").mkdir(parents=True)
    (tmp_path / "secret").mkdir()
    (tmp_path / "secret" / "s.go").write_text("package s\n")
    (repo / "go.mod").write_text("module example.com/m\n\ngo 1.22\n")
    (repo / "a" / "a.go").write_text('package a\n\nimport _ "example.com/m/../secret"\n')
    asked: list[str] = []
    real = scan_mod._facts_unit

    def recording(real_dir, context):  # type: ignore[no-untyped-def]
        asked.append(real_dir)
        return real(real_dir, context)

    monkeypatch.setattr(scan_mod, "_facts_unit", recording)
    _, problems = scan_paths([str(repo / "a" / "a.go")], repo)
    assert problems == []
    assert asked == []
