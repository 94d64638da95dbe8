"""`leakaudit fix`: each fixture folder under fixtures/fixes/ is fixed in a copy, and
every `x.go` must become its `x.go.fixed` (or stay as it is, without one); the result
parses, re-scans with no fixable finding left, and a second run changes nothing."""

from __future__ import annotations

import difflib
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import FIXTURES, scan_paths

from leakaudit.cli import main
from leakaudit.findings import Edit, Finding, Location, Severity
from leakaudit.fix.apply import _without_overlaps, apply_edits
from leakaudit.parsing.parser import parse

CASES = sorted(p for p in (FIXTURES / "fixes").iterdir() if p.is_dir())


def _copy(case: Path, tmp_path: Path) -> Path:
    out = tmp_path / case.name
    shutil.copytree(case, out, ignore=shutil.ignore_patterns("*.fixed"))
    return out


def _fix(path: Path, *args: str) -> int:
    return main(["fix", str(path), "--no-cache", "--quiet", *args])


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.name)
def test_fix_gives_the_fixed_files(case: Path, tmp_path: Path) -> None:
    work = _copy(case, tmp_path)
    before, _ = scan_paths([str(work)], work)
    assert any(f.fix for f in before.active), "the case has nothing to fix"
    _fix(work)
    for src in sorted(case.glob("*.go")):
        fixed = src.with_name(src.name + ".fixed")
        want = fixed.read_bytes() if fixed.exists() else src.read_bytes()
        got = (work / src.name).read_bytes()
        assert got == want, f"{src.name} differs from {fixed.name if fixed.exists() else 'itself'}"
        assert not parse(src.name, got).root.has_error
    after, _ = scan_paths([str(work)], work)
    assert not [f for f in after.active if f.fix], "a fixable finding is left"
    fixed_count = sum(1 for f in before.active if f.fix)
    assert len(after.active) == len(before.active) - fixed_count
    snapshot = {p.name: p.read_bytes() for p in work.glob("*.go")}
    _fix(work)
    assert {p.name: p.read_bytes() for p in work.glob("*.go")} == snapshot  # a no-op


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.name)
def test_diff_writes_nothing(
    case: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    work = _copy(case, tmp_path)
    snapshot = {p.name: p.read_bytes() for p in work.glob("*.go")}
    code = _fix(work, "--diff")
    out = capsys.readouterr().out
    assert code == 1  # findings remain: nothing was written
    assert {p.name: p.read_bytes() for p in work.glob("*.go")} == snapshot
    want = ""
    for fixed in sorted(case.glob("*.go.fixed")):
        name = fixed.name.removesuffix(".fixed")
        before = (case / name).read_text().splitlines(keepends=True)
        after = fixed.read_text().splitlines(keepends=True)
        want += "".join(difflib.unified_diff(before, after, f"a/{name}", f"b/{name}"))
    assert out == want


@pytest.mark.skipif(
    shutil.which("gofmt") is None, reason="no Go toolchain (apt-get install golang-go)"
)
@pytest.mark.parametrize("case", CASES, ids=lambda p: p.name)
def test_fixed_code_is_gofmt_clean_and_vets(case: Path, tmp_path: Path) -> None:
    work = _copy(case, tmp_path)
    _fix(work)
    unformatted = subprocess.run(["gofmt", "-l", "."], cwd=work, capture_output=True, text=True)
    assert unformatted.stdout == ""
    if shutil.which("go") is not None and (work / "go.mod").exists():  # std-only modules
        env = {
            "GOFLAGS": "-mod=mod",
            "GOCACHE": str(tmp_path / "gocache"),
            "HOME": str(tmp_path),
            "PATH": "/usr/bin:/bin",
        }
        build = subprocess.run(
            ["go", "build", "./..."], cwd=work, capture_output=True, text=True, env=env
        )
        assert build.returncode == 0, build.stderr
        vet = subprocess.run(
            ["go", "vet", "./..."], cwd=work, capture_output=True, text=True, env=env
        )
        # The cases left unfixed on purpose (a file without a .fixed twin) may still be
        # what vet reports; every fixed file must vet clean.
        fixed = {p.name.removesuffix(".fixed") for p in case.glob("*.go.fixed")}
        complaints = [
            line for line in vet.stderr.splitlines() if line.split(":", 1)[0].lstrip("./") in fixed
        ]
        assert not complaints, vet.stderr


def test_a_fix_that_does_not_remove_its_finding_is_not_applied(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A rule whose fix template defers the wrong method: the re-scan of the edited bytes
    still reports the finding, so the file keeps its bytes and stderr says why."""
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "wrong.yaml").write_text(
        "family: wrong\ntitle: Wrong\nrules:\n"
        "  - id: ticker-wrong-fix\n    name: TickerWrongFix\n    severity: error\n"
        '    check: obligation\n    fix: "defer {var}.Reset()"\n'
        "    summary: s\n    reports: [not-released]\n"
        '    messages:\n      not-released: "{var} not stopped"\n'
        "    acquire:\n      - package: time\n        calls: [NewTicker]\n        resource: 0\n"
        "    release:\n      methods: [Stop]\n    help: h\n"
    )
    src = tmp_path / "p"
    src.mkdir()
    go = src / "t.go"
    go.write_text(
        'package p\n\nimport "time"\n\nfunc F(c chan int) {\n\tt := time.NewTicker(time.Second)\n'
        "\tfor range t.C {\n\t\tc <- 1\n\t}\n}\n"
    )
    before = go.read_bytes()
    args = ["--no-cache", "--rules", str(rules), "--enable", "ticker-wrong-fix"]
    code = main(["fix", str(src), *args])
    err = capsys.readouterr().err
    assert code == 1
    assert go.read_bytes() == before
    assert "t.go:6: ticker-wrong-fix: not fixed: the finding would remain" in err


def test_edits_apply_bottom_up_and_overlaps_wait() -> None:
    content = b"a\nb\nc\n"
    edits = [Edit(2, 2, 2, 1, 2, 1, "X\n"), Edit(4, 4, 3, 1, 3, 1, "Y\n")]
    assert apply_edits(content, edits) == b"a\nX\nb\nY\nc\n"
    with pytest.raises(ValueError):
        apply_edits(content, [Edit(5, 9, 3, 2, 4, 1, "")])
    loc = Location("p.go", 1, 1, 1, 2)
    one = Finding("r", Severity.ERROR, "m", loc, fix=(edits[0],))
    two = Finding("r", Severity.ERROR, "m", loc, fix=(Edit(2, 2, 2, 1, 2, 1, "Z\n"),))
    three = Finding("r", Severity.ERROR, "m", loc, fix=(edits[1],))
    kept, waiting = _without_overlaps([one, two, three])
    assert kept == [one, three] and waiting == [two]


def test_sarif_carries_the_fix(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    work = _copy(FIXTURES / "fixes" / "defer", tmp_path)
    main(["scan", str(work), "--no-cache", "--quiet", "--format", "sarif"])
    log = json.loads(capsys.readouterr().out)
    results = log["runs"][0]["results"]
    with_fix = [r for r in results if "fixes" in r]
    assert with_fix
    change = with_fix[0]["fixes"][0]["artifactChanges"][0]
    region = change["replacements"][0]["deletedRegion"]
    assert region["startLine"] == region["endLine"] and region["startColumn"] == 1
    inserted = change["replacements"][0]["insertedContent"]["text"].lstrip()
    assert inserted.startswith(("defer ", "_ = ")) and inserted.endswith("()\n")


def test_scan_fix_is_fix(tmp_path: Path) -> None:
    """`leakaudit scan --fix` writes what `leakaudit fix` writes."""
    case = FIXTURES / "fixes" / "defer"
    one, two = _copy(case, tmp_path / "one"), _copy(case, tmp_path / "two")
    assert _fix(one) == main(["scan", str(two), "--fix", "--no-cache", "--quiet"]) == 1
    for src in case.glob("*.go"):
        assert (one / src.name).read_bytes() == (two / src.name).read_bytes()


def test_a_release_before_a_return_needs_the_return_alone_on_its_line() -> None:
    """`_ = db.Close()` goes on its own line before the return, with its indentation;
    a return that shares its line (`if x { return nil }`) gets no fix at all."""
    from leakaudit.fix.defer import exit_edits
    from leakaudit.parsing.syntax import walk

    src = b"package p\n\nfunc f() error {\n\tif x { return nil }\n\treturn nil\n}\n"
    rets = [n for n in walk(parse("a.go", src).root) if n.type == "return_statement"]
    assert exit_edits(src, rets[:1], "db", "_ = {var}.Close()", "Close") == ((), "")
    edits, title = exit_edits(src, rets[1:], "db", "_ = {var}.Close()", "Close")
    assert apply_edits(src, list(edits)).endswith(b"\t_ = db.Close()\n\treturn nil\n}\n")
    assert title == "insert `_ = db.Close()` before the return that leaks it"


def test_select_and_disable_choose_the_rules_fixed(tmp_path: Path) -> None:
    work = _copy(FIXTURES / "fixes" / "defer", tmp_path)
    before = {p.name: p.read_bytes() for p in work.glob("*.go")}
    _fix(work, "--select", "sql-rows-err-unchecked")
    changed = {p.name for p in work.glob("*.go") if p.read_bytes() != before[p.name]}
    assert changed == {"resources.go"}
    text = (work / "resources.go").read_text()
    assert "rows.Err()" in text and "defer rows.Close()" not in text
    _fix(work, "--disable", "file-not-closed")
    text = (work / "resources.go").read_text()
    assert "defer rows.Close()" in text and "defer f.Close()" not in text


def test_a_release_that_takes_the_acquirings_context(tmp_path: Path) -> None:
    """pgx's Rollback takes a context (`release-args` in the rule): the fix and the
    message write in the one given to Begin, so the fix compiles."""
    (tmp_path / "tx.go").write_text(
        "package store\n\n"
        'import (\n\t"context"\n\n\t"github.com/jackc/pgx/v5"\n)\n\n'
        "func Touch(ctx context.Context, conn *pgx.Conn) error {\n"
        "\ttx, err := conn.Begin(ctx)\n"
        "\tif err != nil {\n\t\treturn err\n\t}\n"
        '\t_, err = tx.Exec(ctx, "UPDATE t SET n = n + 1")\n'
        "\treturn err\n}\n"
    )
    result, _ = scan_paths([str(tmp_path)], tmp_path)
    (finding,) = [f for f in result.active if f.rule_id == "sql-tx-not-finished"]
    assert finding.message.endswith("add `defer tx.Rollback(ctx)` after the error check")
    assert [e.text for e in finding.fix] == ["\tdefer tx.Rollback(ctx)\n"]


def test_no_deferred_close_where_a_wrapper_outlives_the_call() -> None:
    """A conn wrapped in a generated client is fixed with `defer conn.Close()` only
    where the client does not outlive the function (used at once, or a local never
    returned nor captured)."""
    from conftest import FIXTURES, scan_paths

    path = FIXTURES / "rules" / "grpc-conn-not-closed" / "wrappers.go"
    result, _ = scan_paths([str(path)], path.parent)
    source = path.read_text().splitlines()
    fixable = {}
    for finding in result.active:
        line = finding.location.line
        func = next(
            source[i].split("(")[0].removeprefix("func ")
            for i in range(line - 1, -1, -1)
            if source[i].startswith("func ")
        )
        fixable[func] = bool(finding.fix)
    assert fixable == {
        "Ping": True,
        "PingVia": True,
        "HealthClient": False,
        "HealthClientVia": False,
        "Connect": False,
    }
