"""The command line as users (and CI) meet it: exit codes, one-line errors, what is read
and what is skipped. Every test runs `python -m leakaudit` in a subprocess against a
temporary tree, and no run may print a Python traceback."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

from leakaudit.ruleset.loader import load_rules

# --- helpers ---------------------------------------------------------------------------


@dataclass
class Run:
    rc: int
    out: str
    err: str

    @property
    def err_lines(self) -> list[str]:
        return self.err.splitlines()

    @property
    def out_lines(self) -> list[str]:
        return self.out.splitlines()


def leakaudit(*args: str | Path, cwd: Path | None = None) -> Run:
    """Run the CLI; by default from inside the directory scanned, so that printed
    paths (relative to the current directory) are relative to it."""
    if cwd is None:
        cwd = next((a for a in reversed(args) if isinstance(a, Path) and a.is_dir()), None)
    proc = subprocess.run(
        [sys.executable, "-m", "leakaudit", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stdout, proc.stdout
    return Run(proc.returncode, proc.stdout, proc.stderr)


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(textwrap.dedent(content).lstrip("\n"), encoding="utf-8")
    return path


# A function that opens a file and never closes it: line 6, column 10 of the file
# (`os.Open`, tab-indented; columns count bytes).
LEAK = """\
package p

import "os"

func leak() {
\tf, _ := os.Open("x")
\tf.Stat()
}
"""
LEAK_LINE, LEAK_COL = 6, 10

CLEAN = """\
package p

import "os"

func fine() error {
\tf, err := os.Open("x")
\tif err != nil {
\t\treturn err
\t}
\tdefer f.Close()
\treturn nil
}
"""

FINDING = re.compile(
    r"^(?P<path>[^:\s]+):(?P<line>\d+):(?P<col>\d+): (?:error|warning|note): \S.*"
    r" \((?P<rule>[a-z0-9-]+)\)(?: \[test\])?(?: \[fixable\])?$"
)
ERROR_LINE = re.compile(r"^leakaudit: error: (?P<path>.+?):(?P<line>\d+): (?P<msg>.+)$")


def findings(run: Run) -> list[tuple[str, int, int, str]]:
    """(path, line, col, rule) per stdout line; every line must be a finding."""
    out = []
    for line in run.out_lines:
        match = FINDING.match(line)
        assert match, f"not a `path:line:col: severity: message (rule-id)` line: {line!r}"
        out.append((match["path"], int(match["line"]), int(match["col"]), match["rule"]))
    return out


def rules_found(run: Run) -> set[tuple[str, str]]:
    return {(path, rule) for path, _, _, rule in findings(run)}


def listing(root: Path) -> list[str]:
    """Every path under root, hidden ones included, with sizes: what a scan must not change."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(dirnames + filenames):
            p = Path(dirpath) / name
            rel = p.relative_to(root).as_posix()
            size = p.lstat().st_size if p.is_file() or p.is_symlink() else -1
            out.append(f"{rel}:{size}")
    return out


# --- usage errors ------------------------------------------------------------------------


def test_missing_path(tmp_path: Path) -> None:
    missing = tmp_path / "does-not-exist"
    run = leakaudit("scan", missing)
    assert run.rc == 2
    assert run.out == ""
    assert len(run.err_lines) == 1
    assert str(missing) in run.err
    assert run.err.startswith("leakaudit: error: ")


def test_missing_path_next_to_an_existing_one(tmp_path: Path) -> None:
    write(tmp_path / "leak.go", LEAK)
    run = leakaudit("scan", "leak.go", "nope.go", cwd=tmp_path)
    assert run.rc == 2
    assert len(run.err_lines) == 1
    assert "nope.go" in run.err


@pytest.mark.parametrize(
    "args",
    [
        ["scan", "--bogus", "."],
        ["scan", "--format", "xml", "."],
        ["scan", "--fail-on", "critical", "."],
        ["scan", "--go-version", "latest", "."],
        ["frobnicate"],
        [],
        ["--no-such-flag"],
    ],
    ids=[
        "unknown-flag",
        "bad-format",
        "bad-fail-on",
        "bad-go-version",
        "bad-command",
        "none",
        "top",
    ],
)
def test_bad_usage_is_one_line(tmp_path: Path, args: list[str]) -> None:
    write(tmp_path / "leak.go", LEAK)
    run = leakaudit(*args, cwd=tmp_path)
    assert run.rc == 2
    assert run.out == ""
    assert len(run.err_lines) == 1, run.err
    assert run.err.startswith("leakaudit")
    assert "usage:" not in run.err


def test_unknown_disable_rule_id(tmp_path: Path) -> None:
    write(tmp_path / "leak.go", LEAK)
    run = leakaudit("scan", "--disable", "file-not-closed,no-such-rule", tmp_path)
    assert run.rc == 2
    assert run.out == ""
    assert len(run.err_lines) == 1
    assert "no-such-rule" in run.err
    assert "file-not-closed" not in run.err  # the known id is not blamed


def test_known_disable_rule_id_silences_it(tmp_path: Path) -> None:
    write(tmp_path / "leak.go", LEAK)
    assert leakaudit("scan", tmp_path).rc == 1
    run = leakaudit("scan", "--disable", "file-not-closed", tmp_path)
    assert run.rc == 0
    assert run.out == ""


def test_missing_rules_folder(tmp_path: Path) -> None:
    write(tmp_path / "leak.go", LEAK)
    missing = tmp_path / "no-rules"
    run = leakaudit("scan", "--rules", missing, tmp_path)
    assert run.rc == 2
    assert len(run.err_lines) == 1
    assert str(missing) in run.err


# --- broken rule files -------------------------------------------------------------------

RULE_FILE = """\
family: pool
title: Example pool connections
rules:
  - id: pool-conn-not-released
    name: PoolConnNotReleased
    severity: error
    check: obligation
    summary: A pool connection is not released on every path.
    reports: [not-released]
    messages:
      not-released: "{var} from {call} is not released: it leaks through {exit}"
    acquire:
      - package: example.com/pool
        types: [Pool]
        calls: [Acquire]
        resource: 0
        error: 1
    release:
      methods: [Release]
    help: |
      Release it.
"""


def line_of(text: str, needle: str) -> int:
    (number,) = [i for i, line in enumerate(text.splitlines(), 1) if needle in line]
    return number


def _replace(old: str, new: str):  # type: ignore[no-untyped-def]
    def edit(text: str) -> str:
        assert old in text
        return text.replace(old, new, 1)

    return edit


# (id, edit of RULE_FILE, text on the line the error must name, words the message must hold)
BROKEN_RULES = [
    (
        "yaml-mapping-in-scalar",
        _replace("    summary: A pool", "    summary: broken: A pool"),
        "summary: broken",
        ["invalid YAML"],
    ),
    (
        "yaml-tab-indent",
        _replace("    name: PoolConnNotReleased", "\tname: PoolConnNotReleased"),
        "\tname:",
        ["invalid YAML"],
    ),
    (
        "yaml-undefined-alias",
        _replace("      methods: [Release]", "      methods: *nothing"),
        "*nothing",
        ["invalid YAML", "nothing"],
    ),
    (
        "unknown-key",
        _replace("    severity: error\n", "    severity: error\n    colour: red\n"),
        "colour: red",
        ["unknown key", "colour"],
    ),
    (
        "unknown-nested-key",
        _replace("      methods: [Release]", "      methods: [Release]\n      after: [Close]"),
        "after: [Close]",
        ["unknown key", "after"],
    ),
    (
        "wrong-type-int",
        _replace("        resource: 0", "        resource: first"),
        "resource: first",
        ["resource", "integer"],
    ),
    (
        "wrong-type-list",
        _replace("    severity: error", "    severity: [error]"),
        "severity: [error]",
        ["severity"],
    ),
    (
        "wrong-type-bool",
        _replace("      methods: [Release]", "      methods: [Release]\n      call: maybe"),
        "call: maybe",
        ["call", "true or false"],
    ),
    (
        "wrong-type-number-for-string",
        _replace(
            "    summary: A pool connection is not released on every path.", "    summary: 42"
        ),
        "summary: 42",
        ["summary", "string"],
    ),
    (
        "bad-choice",
        _replace("    severity: error", "    severity: fatal"),
        "severity: fatal",
        ["severity", "error, warning, note"],
    ),
    (
        "bad-pattern-id",
        _replace("  - id: pool-conn-not-released", "  - id: Pool_Conn"),
        "id: Pool_Conn",
        ["Pool_Conn", "does not match"],
    ),
    (
        "bad-pattern-list-item",
        _replace(
            "        calls: [Acquire]", "        calls:\n          - Acquire\n          - get-conn"
        ),
        "- get-conn",
        ["get-conn", "does not match"],
    ),
    (
        "bad-pattern-import-path",
        _replace("      - package: example.com/pool", "      - package: example.com/p ool"),
        "package: example.com/p ool",
        ["package", "does not match"],
    ),
    (
        "missing-required-rule-key",
        _replace("    summary: A pool connection is not released on every path.\n", ""),
        "  - id: pool-conn-not-released",
        ["missing required key", "summary"],
    ),
    (
        "missing-required-file-key",
        _replace("family: pool\n", ""),
        "title: Example pool connections",
        ["missing required key", "family"],
    ),
    (
        "duplicate-key",
        _replace("    severity: error\n", "    severity: error\n    severity: note\n"),
        "severity: note",
        ["duplicate key", "severity"],
    ),
    (
        "unknown-violation",
        _replace("    reports: [not-released]", "    reports: [leaked]"),
        "reports: [leaked]",
        ["unknown violation", "leaked"],
    ),
    (
        "report-without-message",
        _replace("    reports: [not-released]", "    reports: [not-released, discarded]"),
        "    messages:",
        ["discarded", "no message"],
    ),
    (
        "obligation-without-release",
        _replace("    release:\n      methods: [Release]\n", ""),
        "  - id: pool-conn-not-released",
        ["release"],
    ),
    (
        "acquire-calls-without-package",
        _replace(
            "      - package: example.com/pool\n        types: [Pool]", "      - types: [Pool]"
        ),
        "- types: [Pool]",
        ["package"],
    ),
    (
        "duplicate-id-in-file",
        lambda text: (
            text + text[text.index("  - id:") :].replace("released\n", "released # 2\n", 1)
        ),
        "released # 2",
        ["duplicate rule id", "pool-conn-not-released"],
    ),
    (
        "duplicate-of-bundled-id",
        _replace("  - id: pool-conn-not-released", "  - id: sql-rows-not-closed"),
        "id: sql-rows-not-closed",
        ["duplicate rule id", "sql-rows-not-closed", "sql.yaml"],
    ),
]


@pytest.mark.parametrize(
    ("edit", "line_text", "words"),
    [pytest.param(e, lt, w, id=i) for i, e, lt, w in BROKEN_RULES],
)
def test_broken_rule_file(tmp_path: Path, edit, line_text: str, words: list[str]) -> None:  # type: ignore[no-untyped-def]
    text = edit(RULE_FILE)
    rules = tmp_path / "rules"
    path = write(rules / "pool.yaml", text)
    expected = line_of(text, line_text)
    write(tmp_path / "src" / "leak.go", LEAK)
    run = leakaudit("scan", "--rules", rules, tmp_path / "src")
    assert run.rc == 2, run.err
    assert run.out == ""
    assert len(run.err_lines) == 1, run.err
    match = ERROR_LINE.match(run.err_lines[0])
    assert match, run.err
    assert match["path"] == str(path)
    assert int(match["line"]) == expected, run.err
    for word in words:
        assert word in match["msg"], run.err


def test_baseline_rule_file_is_valid(tmp_path: Path) -> None:
    """The template the broken variants start from loads and runs."""
    write(tmp_path / "rules" / "pool.yaml", RULE_FILE)
    write(tmp_path / "src" / "leak.go", LEAK)
    run = leakaudit("scan", "--rules", tmp_path / "rules", tmp_path / "src")
    assert run.rc == 1
    assert rules_found(run) == {("leak.go", "file-not-closed")}


def test_duplicate_id_across_two_user_files(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    write(rules / "a.yaml", RULE_FILE)
    second = write(rules / "b.yml", RULE_FILE.replace("family: pool", "family: pool-two"))
    write(tmp_path / "src" / "leak.go", LEAK)
    run = leakaudit("scan", "--rules", rules, tmp_path / "src")
    assert run.rc == 2
    match = ERROR_LINE.match(run.err.strip())
    assert match, run.err
    assert match["path"] == str(second)
    assert int(match["line"]) == line_of(RULE_FILE, "- id:")
    assert "a.yaml" in match["msg"]


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"", "empty rule file"),
        (b"- just\n- a list\n", "expected a mapping"),
        (b"\xff\xfe not utf-8", "cannot read rule file"),
    ],
    ids=["empty", "not-a-mapping", "not-utf8"],
)
def test_unusable_rule_file(tmp_path: Path, content: bytes, words: str) -> None:
    path = write(tmp_path / "rules" / "x.yaml", content)
    write(tmp_path / "src" / "leak.go", LEAK)
    run = leakaudit("scan", "--rules", tmp_path / "rules", tmp_path / "src")
    assert run.rc == 2
    assert len(run.err_lines) == 1
    assert run.err.startswith(f"leakaudit: error: {path}")
    assert words in run.err


def test_unknown_check_name_is_an_error(tmp_path: Path) -> None:
    text = RULE_FILE.replace("check: obligation", "check: obligaton")
    path = write(tmp_path / "rules" / "pool.yaml", text)
    write(tmp_path / "src" / "leak.go", LEAK)
    run = leakaudit("scan", "--rules", tmp_path / "rules", tmp_path / "src")
    assert run.rc == 2
    match = ERROR_LINE.match(run.err.strip())
    assert match, run.err
    assert match["path"] == str(path)
    assert int(match["line"]) == line_of(text, "check: obligaton")
    assert "obligaton" in match["msg"]


# --- what is read, and what survives bad input ------------------------------------------


def test_unparsable_file_next_to_a_leaking_one(tmp_path: Path) -> None:
    write(tmp_path / "broken.go", "package p\n\nfunc broken( {\n")
    write(tmp_path / "leak.go", LEAK)
    run = leakaudit("scan", tmp_path)
    assert run.rc == 1
    found = findings(run)
    assert ("leak.go", LEAK_LINE, LEAK_COL, "file-not-closed") in found
    assert [f for f in found if f[0] == "broken.go"] == [("broken.go", 3, 1, "parse-error")]
    assert len(found) == 2


def test_syntax_error_in_one_function_does_not_hide_the_next(tmp_path: Path) -> None:
    write(
        tmp_path / "mixed.go",
        """
        package p

        import "os"

        func bad() {
        \tx := := 1
        }

        func leak() {
        \tf, _ := os.Open("x")
        \tf.Stat()
        }
        """,
    )
    run = leakaudit("scan", tmp_path)
    assert run.rc == 1
    found = findings(run)
    assert ("mixed.go", 10, 10, "file-not-closed") in found
    assert ("mixed.go", 6, "parse-error") in {(p, ln, r) for p, ln, _, r in found}


def test_parse_error_alone_is_a_note(tmp_path: Path) -> None:
    write(tmp_path / "broken.go", "package p\n\nfunc broken( {\n")
    run = leakaudit("scan", tmp_path)
    assert run.rc == 0  # a note does not fail a run unless asked
    assert rules_found(run) == {("broken.go", "parse-error")}
    assert leakaudit("scan", "--fail-on", "note", tmp_path).rc == 1


@pytest.mark.parametrize(
    ("fail_on", "rc"), [(None, 1), ("error", 1), ("warning", 1), ("note", 1), ("never", 0)]
)
def test_fail_on_levels(tmp_path: Path, fail_on: str | None, rc: int) -> None:
    write(tmp_path / "leak.go", LEAK)
    args = ["--fail-on", fail_on] if fail_on else []
    run = leakaudit("scan", *args, tmp_path)
    assert run.rc == rc
    assert rules_found(run) == {("leak.go", "file-not-closed")}  # reported all the same


def test_a_directory_without_go_files_is_an_error(tmp_path: Path) -> None:
    write(tmp_path / "README.md", "no Go here\n")
    run = leakaudit("scan", tmp_path)
    assert run.rc == 2
    assert run.err_lines == [f"leakaudit: error: {tmp_path}: no Go files"]


def test_non_utf8_garbage(tmp_path: Path) -> None:
    write(tmp_path / "garbage.go", b"\xff\xfe\x00\x80 not go \xc3\x28\n")
    write(tmp_path / "leak.go", LEAK)
    run = leakaudit("scan", tmp_path)
    assert run.rc == 1
    found = rules_found(run)
    assert ("leak.go", "file-not-closed") in found
    assert found <= {("leak.go", "file-not-closed"), ("garbage.go", "parse-error")}


def test_latin1_bytes_in_comments_and_strings(tmp_path: Path) -> None:
    source = LEAK.encode().replace(b"func leak", b"// caf\xe9 \xff\nfunc leak")
    source = source.replace(b'os.Open("x")', b'os.Open("\xe9")')
    write(tmp_path / "latin1.go", source)
    run = leakaudit("scan", tmp_path)
    assert run.rc == 1
    assert findings(run) == [("latin1.go", LEAK_LINE + 1, LEAK_COL, "file-not-closed")]


@pytest.mark.parametrize("content", ["", "\n\n  \t\n"], ids=["empty", "whitespace"])
def test_empty_go_file(tmp_path: Path, content: str) -> None:
    (tmp_path / "empty.go").write_text(content, encoding="utf-8")
    alone = leakaudit("scan", tmp_path)
    assert alone.rc == 0
    assert alone.out == ""
    write(tmp_path / "leak.go", LEAK)
    both = leakaudit("scan", tmp_path)
    assert both.rc == 1
    assert rules_found(both) == {("leak.go", "file-not-closed")}


def test_unreadable_file(tmp_path: Path) -> None:
    locked = write(tmp_path / "locked.go", LEAK)
    write(tmp_path / "leak.go", LEAK)
    locked.chmod(0)
    try:
        if os.access(locked, os.R_OK):
            pytest.skip("running as a user who can read a mode-000 file (root)")
        run = leakaudit("scan", tmp_path)
    finally:
        locked.chmod(0o644)
    assert run.rc == 2  # findings were printed, but a file could not be read
    assert rules_found(run) == {("leak.go", "file-not-closed")}
    problems = [line for line in run.err_lines if "locked.go" in line]
    assert len(problems) == 1
    assert "cannot read" in problems[0]


def test_dangling_symlink_is_unreadable_not_fatal(tmp_path: Path) -> None:
    """The same path as an unreadable file, reproducible as root."""
    write(tmp_path / "leak.go", LEAK)
    (tmp_path / "dangling.go").symlink_to(tmp_path / "gone.go")
    run = leakaudit("scan", tmp_path)
    assert run.rc == 2
    assert rules_found(run) == {("leak.go", "file-not-closed")}
    problems = [line for line in run.err_lines if "dangling.go" in line]
    assert len(problems) == 1
    assert problems[0].startswith("leakaudit: ")
    assert "cannot read" in problems[0]


def test_directory_symlink_loop_finishes(tmp_path: Path) -> None:
    write(tmp_path / "pkg" / "leak.go", LEAK)
    (tmp_path / "pkg" / "up").symlink_to(tmp_path, target_is_directory=True)
    (tmp_path / "self").symlink_to(tmp_path, target_is_directory=True)
    run = leakaudit("scan", tmp_path)
    assert run.rc == 1
    assert findings(run) == [("pkg/leak.go", LEAK_LINE, LEAK_COL, "file-not-closed")]


# --- skipped folders and generated files -------------------------------------------------

GENERATED = "// Code generated by mockgen. DO NOT EDIT.\n\n" + LEAK


def _skippable_tree(root: Path) -> None:
    write(root / "leak.go", LEAK)
    write(root / "vendor" / "example.com" / "dep" / "dep.go", LEAK)
    write(root / "testdata" / "case.go", LEAK)
    write(root / ".hidden" / "h.go", LEAK)
    write(root / "_scratch" / "s.go", LEAK)
    write(root / "pkg" / "testdata" / "nested.go", LEAK)
    write(root / "gen.go", GENERATED)


def test_walk_skips_vendor_testdata_hidden_and_generated(tmp_path: Path) -> None:
    _skippable_tree(tmp_path)
    run = leakaudit("scan", tmp_path)
    assert run.rc == 1
    assert findings(run) == [("leak.go", LEAK_LINE, LEAK_COL, "file-not-closed")]


@pytest.mark.parametrize(
    "rel", ["vendor/example.com/dep/dep.go", "testdata/case.go", ".hidden/h.go", "_scratch/s.go"]
)
def test_explicit_file_in_a_skipped_folder_is_skipped(tmp_path: Path, rel: str) -> None:
    """pre-commit names every staged .go file, vendored and testdata ones included: they
    are skipped as a directory walk skips them."""
    _skippable_tree(tmp_path)
    run = leakaudit("scan", rel, "leak.go", cwd=tmp_path)
    assert run.rc == 1
    assert findings(run) == [("leak.go", LEAK_LINE, LEAK_COL, "file-not-closed")]
    alone = leakaudit("scan", rel, cwd=tmp_path)
    assert (alone.rc, alone.out) == (0, "")


def test_explicit_generated_file_stays_skipped(tmp_path: Path) -> None:
    """Generated code is skipped even when named: pre-commit passes every committed .go
    file, mocks included."""
    _skippable_tree(tmp_path)
    run = leakaudit("scan", "gen.go", "leak.go", cwd=tmp_path)
    assert run.rc == 1
    assert rules_found(run) == {("leak.go", "file-not-closed")}


def test_generated_file_counts_its_lines_as_an_editor_does(tmp_path: Path) -> None:
    """A skipped generated file is listed with its lines, counted as for any other file
    (a final newline ends the last line; it does not start another)."""
    _skippable_tree(tmp_path)
    run = leakaudit("scan", "-f", "json", tmp_path)
    files = {row["path"]: row for row in json.loads(run.out)["files"]}
    assert files["gen.go"]["status"] == "generated"
    assert files["gen.go"]["lines"] == GENERATED.count("\n") == files["leak.go"]["lines"] + 2


def test_generated_marker_after_package_clause_does_not_count(tmp_path: Path) -> None:
    write(tmp_path / "late.go", LEAK + "\n// Code generated by nothing. DO NOT EDIT.\n")
    run = leakaudit("scan", tmp_path)
    assert rules_found(run) == {("late.go", "file-not-closed")}


# --- output ------------------------------------------------------------------------------


def test_text_format_paths_relative_to_scanned_dir(tmp_path: Path) -> None:
    root = tmp_path / "project"
    write(root / "internal" / "store" / "leak.go", LEAK)
    write(root / "clean.go", CLEAN)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    run = leakaudit("scan", root, cwd=elsewhere)
    assert run.rc == 1
    # Printed from the current directory, as go vet does, so editors can jump to it...
    here = "../project/internal/store/leak.go"  # shorter than the absolute path
    assert findings(run) == [(here, LEAK_LINE, LEAK_COL, "file-not-closed")]
    prefix = f"{here}:{LEAK_LINE}:{LEAK_COL}: error: file f from os.Open"
    assert run.out_lines[0].startswith(prefix)
    # ...from inside the directory, relative to it; from the repository root, too.
    inside = leakaudit("scan", ".", cwd=root)
    assert findings(inside)[0][0] == "internal/store/leak.go"
    sub = leakaudit("scan", "internal/store", cwd=root)
    assert findings(sub)[0][0] == "internal/store/leak.go"
    # JSON and SARIF stay relative to the scanned root.
    data = json.loads(leakaudit("scan", root, "-f", "json", cwd=elsewhere).out)
    assert data["findings"][0]["location"]["path"] == "internal/store/leak.go"


def test_exit_codes(tmp_path: Path) -> None:
    write(tmp_path / "clean" / "ok.go", CLEAN)
    write(tmp_path / "dirty" / "leak.go", LEAK)
    clean = leakaudit("scan", tmp_path / "clean")
    assert (clean.rc, clean.out) == (0, "")
    assert clean.err_lines == ["leakaudit: no findings in 1 file"]
    dirty = leakaudit("scan", tmp_path / "dirty")
    assert dirty.rc == 1
    assert len(dirty.out_lines) == 1
    quiet = leakaudit("scan", "--quiet", tmp_path / "dirty")
    assert (quiet.rc, quiet.err) == (1, "")


def test_output_file_and_nothing_else_written(tmp_path: Path) -> None:
    root = tmp_path / "project"
    write(root / "leak.go", LEAK)
    write(root / "pkg" / "clean.go", CLEAN)
    before = listing(root)
    stdout_run = leakaudit("scan", root)
    out = tmp_path / "report.txt"
    run = leakaudit("scan", "--output", out, root)
    assert run.rc == 1
    assert run.out == ""
    assert out.read_text(encoding="utf-8") == stdout_run.out
    assert listing(root) == before
    json_out = tmp_path / "report.json"
    assert leakaudit("scan", "-f", "json", "-o", json_out, root).rc == 1
    json.loads(json_out.read_text(encoding="utf-8"))
    assert listing(root) == before


def test_output_dash_is_stdout(tmp_path: Path) -> None:
    write(tmp_path / "leak.go", LEAK)
    before = listing(tmp_path)
    plain = leakaudit("scan", ".", cwd=tmp_path)
    dash = leakaudit("scan", "-o", "-", ".", cwd=tmp_path)
    assert (dash.rc, dash.out) == (1, plain.out)
    assert listing(tmp_path) == before  # no file named "-"


def test_output_file_inside_scanned_dir_is_the_only_new_file(tmp_path: Path) -> None:
    write(tmp_path / "leak.go", LEAK)
    before = listing(tmp_path)
    run = leakaudit("scan", "-o", "findings.txt", ".", cwd=tmp_path)
    assert run.rc == 1
    after = listing(tmp_path)
    assert [p for p in after if p not in before] == [
        f"findings.txt:{(tmp_path / 'findings.txt').stat().st_size}"
    ]
    assert [p for p in before if p not in after] == []


def test_output_file_that_cannot_be_written(tmp_path: Path) -> None:
    write(tmp_path / "leak.go", LEAK)
    target = tmp_path / "no-such-dir" / "out.txt"
    run = leakaudit("scan", "-o", target, tmp_path)
    assert run.rc == 2
    assert str(target) in run.err
    assert [line for line in run.err_lines if "error" in line and str(target) in line]


def test_rules_lists_every_rule_with_severity() -> None:
    run = leakaudit("rules")
    assert run.rc == 0
    listed = {}
    for line in run.out_lines:
        rule_id, severity, *_ = line.split()
        listed[rule_id] = severity
    expected = {r.id: r.severity.value for r in load_rules().rules}
    assert listed == expected


def test_rules_includes_user_rules(tmp_path: Path) -> None:
    write(tmp_path / "rules" / "pool.yaml", RULE_FILE)
    run = leakaudit("rules", "--rules", tmp_path / "rules")
    assert run.rc == 0
    rows = [line.split() for line in run.out_lines]
    assert ["pool-conn-not-released", "error"] in [row[:2] for row in rows]
    as_json = json.loads(leakaudit("rules", "-f", "json", "--rules", tmp_path / "rules").out)
    by_id = {row["id"]: row for row in as_json}
    assert by_id["pool-conn-not-released"]["family"] == "pool"
    assert set(by_id) == {r.id for r in load_rules([tmp_path / "rules"]).rules}


def test_explain_prints_the_rules_page() -> None:
    run = leakaudit("explain", "sql-rows-not-closed")
    assert run.rc == 0
    page = (Path(__file__).parent.parent / "docs" / "rules" / "sql-rows-not-closed.md").read_text()
    assert run.out.strip() in page  # the same text as docs/rules/, less its generated mark
    assert run.out.startswith("# sql-rows-not-closed\n")
    typo = leakaudit("explain", "sql-rows-not-closd")
    assert typo.rc == 2 and typo.out == ""
    assert typo.err_lines == [
        "leakaudit: unknown rule id 'sql-rows-not-closd'; did you mean sql-rows-not-closed?"
    ]


def test_color_only_when_asked_or_on_a_terminal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "leak.go", LEAK)
    plain = leakaudit("scan", tmp_path)
    assert "\x1b[" not in plain.out  # piped: no colour
    coloured = leakaudit("scan", "--color", "always", tmp_path)
    assert "\x1b[1;31merror\x1b[0m" in coloured.out
    assert re.sub(r"\x1b\[[0-9;]*m", "", coloured.out) == plain.out

    from leakaudit import cli

    args = cli.build_parser().parse_args(["scan", "."])
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert cli._color(args) is True
    monkeypatch.setenv("NO_COLOR", "1")
    assert cli._color(args) is False


def test_progress_line_only_for_slow_scans(monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from leakaudit import cli

    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    now = [100.0]
    progress = cli._Progress()
    progress._clock = lambda: now[0]
    progress._start = 100.0
    progress(1, 10)
    assert err.getvalue() == ""  # under 2 s: quiet
    now[0] = 103.0
    progress(4, 10)
    assert err.getvalue() == "\rleakaudit: 4/10 packages\x1b[K"
    progress.clear()
    assert err.getvalue().endswith("\r\x1b[K")  # wiped before the summary
