"""Inputs built to hurt: every scan must end, in bounded time, with notes where it had to
give up, and with the ordinary findings of everything else. Sizes are modest so CI stays
fast; bench/run.py is where time is measured, never here."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from conftest import scan_paths

from leakaudit import reading
from leakaudit.checks import api, obligation

HEADER = 'package p\n\nimport "os"\n\n'
# A leak the scan must keep reporting next to whatever else the file holds.
LEAK = 'func leak() {\n\tf, _ := os.Open("x")\n\tf.Stat()\n}\n'


def _scan(root: Path, **kwargs: object):  # type: ignore[no-untyped-def]
    return scan_paths([str(root)], root, **kwargs)


def _rules(result) -> set[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return {(f.location.path, f.rule_id) for f in result.findings}


def _notes(result, rule_id: str = "analysis-error") -> list[str]:  # type: ignore[no-untyped-def]
    return [f.message for f in result.findings if f.rule_id == rule_id]


def _write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def test_50k_line_function_gets_a_budget_note(tmp_path: Path) -> None:
    body = "\tn := 0\n" + "\tn++\n" * 50_000
    source = HEADER + 'func huge() {\n\tf, _ := os.Open("x")\n' + body + "\t_ = f\n}\n\n" + LEAK
    _write(tmp_path / "huge.go", source)
    result, problems = _scan(tmp_path)
    assert problems == []
    assert ("huge.go", "file-not-closed") in _rules(result)  # the small function's leak
    notes = _notes(result)
    assert notes and all("huge" in n and "too large" in n for n in notes), notes


@pytest.mark.parametrize("kind", ["blocks", "ifs", "closures", "conditions", "selectors"])
def test_5k_deep_nesting_gets_a_note_not_a_crash(tmp_path: Path, kind: str) -> None:
    depth = 5_000
    if kind == "blocks":
        inner = "{\n" * depth + "f.Stat()\n" + "}\n" * depth
    elif kind == "ifs":
        inner = "if f != nil {\n" * depth + "f.Stat()\n" + "}\n" * depth
    elif kind == "closures":
        inner = "func() {\n" * depth + "f.Stat()\n" + "}()\n" * depth
    elif kind == "conditions":
        inner = "if " + " && ".join(["f != nil"] * depth) + " {\nf.Stat()\n}\n"
    else:
        inner = "_ = f" + ".x" * depth + "\n"
    source = HEADER + 'func deep() {\n\tf, _ := os.Open("x")\n' + inner + "}\n\n" + LEAK
    _write(tmp_path / "deep.go", source)
    result, problems = _scan(tmp_path)
    assert problems == []
    assert ("deep.go", "file-not-closed") in _rules(result)
    for note in _notes(result):
        assert any(why in note for why in ("nesting too deep", "too large", "budget")), note


def test_5mb_file(tmp_path: Path) -> None:
    """Mostly code no rule cares about (the pre-filter skips it), some leaks in between."""
    chunks = [HEADER]
    size = i = 0
    while size < 5 * 1024 * 1024:
        chunks.append(
            f"func plain{i}(a, b int) int {{\n\tc := a * b\n\tfor j := 0; j < a; j++ {{\n"
            f"\t\tc += j ^ b\n\t}}\n\treturn c + {i}\n}}\n\n"
        )
        if i % 5000 == 0:
            chunks.append(LEAK.replace("leak", f"leak{i}"))
        size += len(chunks[-1])
        i += 1
    path = _write(tmp_path / "big.go", "".join(chunks))
    assert path.stat().st_size >= 5 * 1024 * 1024
    result, problems = _scan(tmp_path)
    assert problems == []
    leaks = [f for f in result.findings if f.rule_id == "file-not-closed"]
    assert len(leaks) == len([c for c in chunks if "func leak" in c]) >= 5
    assert _notes(result) == []


def test_directory_symlink_loops_fifos_and_unreadable_files(tmp_path: Path) -> None:
    _write(tmp_path / "pkg" / "leak.go", HEADER + LEAK)
    (tmp_path / "pkg" / "up").symlink_to(tmp_path, target_is_directory=True)
    (tmp_path / "loop").symlink_to(tmp_path / "loop", target_is_directory=True)
    (tmp_path / "dangling.go").symlink_to(tmp_path / "gone.go")
    (tmp_path / "folder.go").mkdir()  # a directory named like a Go file
    if hasattr(os, "mkfifo"):
        os.mkfifo(tmp_path / "pipe.go")  # reading it would block forever
    locked = _write(tmp_path / "locked.go", HEADER + LEAK)
    locked.chmod(0)
    try:
        for jobs in (1, 2):
            result, problems = _scan(tmp_path, jobs=jobs)
            assert ("pkg/leak.go", "file-not-closed") in _rules(result)
            status = {r.path: r.status for r in result.files}
            assert status["dangling.go"] == "unreadable"
            assert "folder.go" not in status
            if hasattr(os, "mkfifo"):
                assert status["pipe.go"] == "unreadable"
            readable = os.access(locked, os.R_OK)  # root reads mode-000 files
            assert status["locked.go"] == ("scanned" if readable else "unreadable")
            assert all(": cannot read: " in p for p in problems)
            assert len(problems) == 2 + hasattr(os, "mkfifo") - readable
    finally:
        locked.chmod(0o644)


@pytest.mark.parametrize("size", [0, 1, 65_535, 65_536, 65_537, 3_000_001])
def test_a_file_is_read_whole_in_one_read_or_short_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: int
) -> None:
    """One read of a byte more than fstat says is the whole file; when a read comes back
    short (a network or FUSE file system may do that), or the file changed after the
    fstat, reading goes on to the end."""
    data = os.urandom(size)
    path = _write(tmp_path / "f.go", data)
    assert reading.read_file(str(path)) == (data, size)

    real_read = os.read
    monkeypatch.setattr(reading.os, "read", lambda fd, n: real_read(fd, max(1, n // 3)))
    assert reading.read_file(str(path)) == (data, size)


def test_dataflow_budget_gives_a_note_per_function(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    busy = "func busy() {\n" + "".join(
        f'\tf{i}, _ := os.Open("x")\n\tif f{i} != nil {{\n\t\tf{i}.Close()\n\t}}\n'
        for i in range(60)
    )
    _write(tmp_path / "a.go", HEADER + busy + "}\n\n" + LEAK)
    monkeypatch.setattr(api, "MAX_WORK", 2_000)
    result, _ = _scan(tmp_path)
    notes = _notes(result)
    assert notes and all("busy" in n and "budget" in n for n in notes), notes
    assert ("a.go", "file-not-closed") in _rules(result)
    assert not any(f.function == "busy" and f.rule_id == "file-not-closed" for f in result.findings)


def test_a_checker_bug_costs_one_function(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write(tmp_path / "a.go", HEADER + LEAK + "\n" + LEAK.replace("leak", "other"))
    original = obligation._check_site

    def buggy(pkg, fn, rule, site, sites, sink):  # type: ignore[no-untyped-def]
        if fn.name == "other":
            raise KeyError("boom")
        return original(pkg, fn, rule, site, sites, sink)

    monkeypatch.setattr(obligation, "_check_site", buggy)
    result, problems = _scan(tmp_path)
    assert problems == []
    leaks = {f.function for f in result.findings if f.rule_id == "file-not-closed"}
    assert leaks == {"leak"}
    assert any("other" in n and "KeyError" in n for n in _notes(result))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses the fork start method")
def test_a_dying_worker_does_not_lose_units(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker killed mid-scan (out of memory, say): its units are redone here."""
    from leakaudit import scan as scan_mod

    repo, marks = tmp_path / "repo", tmp_path / "marks"
    marks.mkdir()
    for i in range(4):
        _write(repo / f"p{i}" / "a.go", HEADER + LEAK)
    parent = os.getpid()
    original = scan_mod.run_unit

    def dying(unit, context, summaries=None, whole=None, on_summary=None):  # type: ignore[no-untyped-def]
        (marks / f"{os.getpid()}-{unit.directory}").touch()
        if os.getpid() != parent and unit.directory == "p2":
            os._exit(9)
        return original(unit, context, summaries, whole, on_summary)

    monkeypatch.setattr(scan_mod, "run_unit", dying)  # workers are forked: they see it too
    result, problems = _scan(repo, jobs=2)
    assert problems == []
    assert {f.location.path for f in result.findings} == {f"p{i}/a.go" for i in range(4)}
    ran = [name.split("-", 1) for name in os.listdir(marks)]
    assert any(pid != str(parent) for pid, _ in ran)  # the pool did run
    assert [str(parent), "p2"] in ran  # and this process redid the killed worker's unit


def test_a_dying_worker_in_a_chain_of_imports_loses_no_unit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Packages that import each other are submitted as their imports finish; a worker
    that dies breaks the pool before the later ones are submitted: this process runs
    them, still after what they import."""
    from leakaudit import scan as scan_mod

    repo = tmp_path / "repo"
    _write(repo / "go.mod", "module example.com/chain\n\ngo 1.22\n")
    for i in range(6):
        imports = f'import (\n\t"os"\n\t_ "example.com/chain/p{i - 1}"\n)\n\n' if i else ""
        header = f"package p{i}\n\n" + (imports or 'import "os"\n\n')
        _write(repo / f"p{i}" / "a.go", header + LEAK)
    parent = os.getpid()
    original = scan_mod.run_unit

    def dying(unit, context, summaries=None, whole=None, on_summary=None):  # type: ignore[no-untyped-def]
        if os.getpid() != parent and unit.directory == "p1":
            os._exit(9)
        return original(unit, context, summaries, whole, on_summary)

    monkeypatch.setattr(scan_mod, "run_unit", dying)
    result, problems = _scan(repo, jobs=2)
    assert problems == []
    assert {f.location.path for f in result.findings} == {f"p{i}/a.go" for i in range(6)}
