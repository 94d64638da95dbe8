"""Build constraints for one target platform: which files the Go tool would leave out
(their declarations then lose to the target's), in three-valued logic for unknown tags."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import FIXTURES

from leakaudit import cli
from leakaudit.module.constraints import Platform

LINUX = Platform()


@pytest.mark.parametrize(
    ("name", "head", "excluded"),
    [
        ("conn.go", b"package p\n", False),
        ("conn_windows.go", b"package p\n", True),
        ("conn_linux.go", b"package p\n", False),
        ("conn_linux_arm64.go", b"package p\n", True),
        ("conn_darwin_amd64.go", b"package p\n", True),
        ("conn_amd64.go", b"package p\n", False),
        ("conn_windows_test.go", b"package p\n", True),
        ("windows.go", b"package p\n", False),  # the first element is never a constraint
        ("unix.go", b"//go:build unix\n\npackage p\n", False),
        ("x.go", b"//go:build !windows\n\npackage p\n", False),
        ("x.go", b"//go:build windows || darwin\n\npackage p\n", True),
        ("x.go", b"//go:build plan9 || (darwin && arm64)\n\npackage p\n", True),
        ("x.go", b"//go:build linux && !cgo\n\npackage p\n", True),
        ("x.go", b"//go:build integration\n\npackage p\n", False),  # unknown: kept
        ("x.go", b"//go:build !integration && windows\n\npackage p\n", True),
        ("x.go", b"//go:build go1.21\n\npackage p\n", False),
        ("x.go", b"// +build ignore\n\npackage p\n", False),  # only //go:build is read
        ("x.go", b"//go:build (((\n\npackage p\n", False),  # unreadable: rules nothing out
        ("x.go", b"package p\n\n//go:build windows\n", False),  # after the clause: a comment
    ],
)
def test_linux_amd64_excludes(name: str, head: bytes, excluded: bool) -> None:
    assert LINUX.excludes(name, head) is excluded


def test_another_target() -> None:
    windows = Platform("windows", "arm64")
    assert not windows.excludes("conn_windows.go", b"package p\n")
    assert windows.excludes("conn_linux.go", b"package p\n")
    assert windows.excludes("x.go", b"//go:build unix\npackage p\n")
    assert Platform("android", "arm64").excludes("a_linux.go", b"package p\n") is False


def _scan(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = cli.main(["scan", "-q", "--no-cache", *args])
    return code, capsys.readouterr().out


def test_goos_decides_which_declaration_types_the_fields(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """On linux the real Conn has the client field; built for windows, Conn is the stub
    and nothing resolves c.client.Do to an HTTP request."""
    package = str(FIXTURES / "rules" / "http-body-not-closed" / "platforms")
    code, out = _scan(capsys, package)
    assert code == 1 and "conn.go:12:" in out
    code, out = _scan(capsys, package, "--goos", "windows")
    assert code == 0 and out == ""


def test_unknown_platform_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["scan", str(FIXTURES / "rules"), "--goarch", "z80"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "--goarch expects one of" in err[0]


def test_config_sets_the_platform(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    package = FIXTURES / "rules" / "http-body-not-closed" / "platforms"
    project = tmp_path / "p"
    project.mkdir()
    for f in package.glob("*.go"):
        (project / f.name).write_bytes(f.read_bytes())
    (project / ".leakaudit.yaml").write_text("goos: windows\n")
    code, out = _scan(capsys, str(project))
    assert code == 0 and out == ""
    (project / ".leakaudit.yaml").write_text("goos: beos\n")
    code = cli.main(["scan", "-q", str(project)])
    err = capsys.readouterr().err
    assert code == 2 and ".leakaudit.yaml:1: goos must be one of" in err
