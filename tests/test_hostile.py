"""Hostile input (issue 19): configs, names and files written to make a scanner hang,
crash or write where it should not. Growth is shown by comparing two sizes, never by a
wall-clock limit."""

from __future__ import annotations

import os
import random
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import scan_paths

from leakaudit.config import _Glob, excluded


def _seconds(fn, *args) -> float:  # type: ignore[no-untyped-def]
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        fn(*args)
        best = min(best, time.perf_counter() - start)
    return best


def test_an_exclude_glob_is_matched_in_linear_time() -> None:
    """`*a*a*...*b` against a long run of `a`: a backtracking translation takes
    exponential time in the stars; the state-set matcher grows with the name."""
    pattern = "*a" * 12 + "*b"
    assert excluded("a" * 200 + "/x.go", [pattern]) is False
    small = _seconds(_Glob(pattern).fullmatch, "a" * 400)
    large = _seconds(_Glob(pattern).fullmatch, "a" * 4000)
    assert large < 40 * max(small, 1e-4), (small, large)  # 10x the name: ~10x, not 100x


def _regex(pattern: str) -> re.Pattern[str]:
    """The former translation, as the reference for what a glob means."""
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "[" and "]" in pattern[i + 1 :]:
            end = pattern.index("]", i + 1)
            body = pattern[i + 1 : end]
            out.append("[" + ("^" + body[1:] if body.startswith("!") else body) + "]")
            i = end + 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out))


def test_the_linear_matcher_means_what_the_regex_meant() -> None:
    rng = random.Random(7)
    pieces = ["a", "b", "/", "*", "**", "**/", "?", ".", "[ab]", "[!a]", "x"]
    for _ in range(5000):
        pattern = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 6)))
        name = "".join(rng.choice("ab/.x") for _ in range(rng.randint(0, 8)))
        expected = _regex(pattern).fullmatch(name) is not None
        assert _Glob(pattern).fullmatch(name) is expected, (pattern, name)


def test_a_class_the_regex_engine_rejects_is_literal() -> None:
    assert _Glob("[z-a].go").fullmatch("z.go")
    assert not _Glob("[z-a].go").fullmatch("b.go")


def test_a_file_1500_folders_deep_is_scanned(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The go.mod lookup walks up one folder at a time in a loop: a deep path used to
    raise RecursionError and lose the whole scan."""
    from conftest import scan_paths

    (tmp_path / "go.mod").write_text("module example.com/deep\n\ngo 1.22\n")
    deep = str(tmp_path)
    for _ in range(1500):  # pathlib's mkdir(parents=True) and os.makedirs recurse
        deep = os.path.join(deep, "d")
        os.mkdir(deep)
    Path(deep, "leak.go").write_text(
        'package d\n\nimport "os"\n\nfunc Open() {\n\tf, _ := os.Open("x")\n\t_ = f.Name()\n}\n'
    )
    try:
        result, problems = scan_paths([str(tmp_path)], tmp_path)
        assert [f.rule_id for f in result.findings] == ["file-not-closed"], problems
    finally:  # shutil.rmtree, which pytest cleans up with, recurses too
        os.remove(os.path.join(deep, "leak.go"))
        while deep != str(tmp_path):
            os.rmdir(deep)
            deep = os.path.dirname(deep)


def test_reports_and_baselines_are_not_written_through_links(tmp_path: Path) -> None:
    """A `.leakaudit-baseline.json` or an `--output` that is a link to some other file
    is refused with one line; the file it points to is untouched."""
    import subprocess
    import sys

    from conftest import FIXTURES

    victim = tmp_path / "bashrc"
    victim.write_text("precious\n")
    for args in (
        ["scan", str(FIXTURES / "demo-service"), "-q", "-o", "report.txt"],
        ["baseline", "write", str(FIXTURES / "demo-service"), "-o", "report.txt"],
    ):
        link = tmp_path / "report.txt"
        link.unlink(missing_ok=True)
        link.symlink_to(victim)
        done = subprocess.run(
            [sys.executable, "-m", "leakaudit", *args],
            cwd=tmp_path,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 2, done.stderr
        assert "symbolic link" in done.stderr and len(done.stderr.strip().splitlines()) == 1
        assert victim.read_text() == "precious\n"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_an_output_that_is_a_fifo_or_device_is_written_into_not_replaced(
    tmp_path: Path,
) -> None:
    """`-o /dev/null` (or a FIFO a script reads) is written into: renaming a temporary
    file over it, as for a regular file, replaced root's /dev/null by a regular file."""
    import stat
    import threading

    from conftest import FIXTURES

    fifo = tmp_path / "report.fifo"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()), daemon=True)
    reader.start()
    args = ["-q", "-f", "json", "-o", str(fifo), "--fail-on", "never"]
    done = subprocess.run(
        [sys.executable, "-m", "leakaudit", "scan", str(FIXTURES / "demo-service"), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    reader.join(timeout=20)
    assert done.returncode == 0, done.stderr
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    assert got and b'"findings"' in got[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.fifo"]  # no temporary left


def test_a_write_cut_short_leaves_the_previous_file(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The new content goes to a temporary file renamed over the target: a failure on
    the way (a full disk) leaves the previous report whole, and no temporary file."""
    from leakaudit import writing

    target = tmp_path / "report.sarif"
    target.write_text("previous\n")

    def full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(writing.os, "fsync", full)
    try:
        writing.write_text(target, "new\n" * 1000)
    except OSError as exc:
        assert exc.errno == 28
    else:
        raise AssertionError("the write should have failed")
    assert target.read_text() == "previous\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.sarif"]
    monkeypatch.undo()
    writing.write_text(target, "new\n")
    assert target.read_text() == "new\n"


def _leakaudit(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "leakaudit", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,  # a hang fails the test instead of the suite
    )


def test_a_fifo_or_a_huge_file_as_config_baseline_or_rules_is_one_error(tmp_path: Path) -> None:
    """Reading a FIFO waits for a writer forever, and /dev/zero or a sparse 8 GiB file
    never ends: each input is read only when it is a regular file under its size limit,
    else one line names it and the run exits 2."""
    from conftest import FIXTURES

    demo = str(FIXTURES / "demo-service")
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    huge = tmp_path / "huge.yaml"
    with open(huge, "wb") as out:
        out.truncate(8 << 30)  # sparse: no disk used
    rules = tmp_path / "rules"
    rules.mkdir()
    os.mkfifo(rules / "family.yaml")
    cases = [
        (["scan", demo, "--config", str(fifo)], "not a regular file"),
        (["scan", demo, "--config", str(huge)], "larger than 1 MiB"),
        (["scan", demo, "--baseline", str(fifo)], "not a regular file"),
        (["scan", demo, "--rules", str(rules)], "not a regular file"),
    ]
    for args, why in cases:
        done = _leakaudit(*args, cwd=tmp_path)
        assert done.returncode == 2, (args, done.stderr)
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and why in lines[0], (args, done.stderr)


BILLION_LAUGHS = """\
a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]
exclude: *h
"""


def test_a_billion_laughs_config_is_refused(tmp_path: Path) -> None:
    from conftest import FIXTURES

    config = tmp_path / "laughs.yaml"
    config.write_text(BILLION_LAUGHS)
    done = _leakaudit("scan", str(FIXTURES / "demo-service"), "--config", str(config), cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "too many nodes" in lines[0] and "laughs.yaml" in lines[0]


def test_a_rule_message_may_only_name_fields(tmp_path: Path) -> None:
    """`{var:>1500000000}` would build a string of that width for every finding."""
    from conftest import FIXTURES
    from test_cli_errors import RULE_FILE

    for message, ok in (
        ("{var} from {call} leaks through {exit}", True),
        ("{var:>1500000000}", False),
        ("{var!r}", False),
        ("{var.__class__}", False),
        ("{var[0]}", False),
    ):
        rules = tmp_path / "rules"
        rules.mkdir(exist_ok=True)
        template = '"{var} from {call} is not released: it leaks through {exit}"'
        (rules / "custom.yaml").write_text(RULE_FILE.replace(template, f'"{message}"'))
        done = _leakaudit(
            "scan", str(FIXTURES / "demo-service"), "--rules", str(rules), "-q", cwd=tmp_path
        )
        if ok:
            assert done.returncode == 1, done.stderr  # the demo's findings
        else:
            lines = done.stderr.strip().splitlines()
            assert done.returncode == 2 and len(lines) == 1, (message, done.stderr)
            assert "custom.yaml" in lines[0] and "not-released" in lines[0], lines


def _busy_module(root: Path, packages: int = 150) -> None:
    (root / "go.mod").write_text("module example.com/busy\n\ngo 1.22\n")
    body = "".join(
        f"func F{i}(p string) error {{\n\tf, err := os.Open(p)\n\tif err != nil {{\n"
        f"\t\treturn err\n\t}}\n\tdefer f.Close()\n\treturn nil\n}}\n\n"
        for i in range(60)
    )
    for n in range(packages):
        folder = root / f"p{n}"
        folder.mkdir()
        for k in range(4):
            (folder / f"f{k}.go").write_text(
                f'package p{n}\n\nimport "os"\n\n' + body.replace("func F", f"func F{k}_")
            )


def _children(pid: int) -> set[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            return {int(c) for c in fh.read().split()}
    except OSError:
        return set()


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("how", ["SIGKILL", "SIGTERM"])
def test_workers_end_with_the_scan(tmp_path: Path, how: str) -> None:
    """A --jobs 2 scan killed (kill -9) or terminated (CI cancelling it) leaves no
    worker running; SIGTERM ends it as Ctrl-C does, with 128 + 15."""
    import signal

    _busy_module(tmp_path)
    errors = tmp_path / "stderr"
    with open(errors, "wb") as err:  # a file, not a pipe an orphan would hold open
        proc = subprocess.Popen(
            [sys.executable, "-m", "leakaudit", "scan", ".", "--jobs", "2", "--no-cache", "-q"],
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    workers: set[int] = set()
    deadline = time.monotonic() + 30
    while not workers and time.monotonic() < deadline and proc.poll() is None:
        workers = _children(proc.pid)
        time.sleep(0.02)
    if not workers:
        proc.wait()
        pytest.skip("the scan ended before a worker was seen")
    try:
        proc.send_signal(getattr(signal, how))
        code = proc.wait(timeout=30)
        deadline = time.monotonic() + 10
        while any(_alive(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(_alive(w) for w in workers), "a worker outlived the scan"
        if how == "SIGTERM":
            assert code == 128 + signal.SIGTERM, errors.read_text()
    finally:
        for worker in workers:  # a failed run leaves none behind either
            if _alive(worker):
                os.kill(worker, signal.SIGKILL)


def test_an_incomplete_scan_says_so_in_sarif(tmp_path: Path) -> None:
    """A file skipped as too large makes the run exit 2: its SARIF says the execution
    did not succeed, with a notification naming the file, not a complete-looking log."""
    import json

    from leakaudit.report import github_checks

    (tmp_path / "ok.go").write_text(
        'package p\n\nimport "os"\n\nfunc F() { f, _ := os.Open("x"); _ = f }\n'
    )
    with open(tmp_path / "huge.go", "wb") as out:
        out.truncate(21 << 20)  # over the 20 MiB limit, sparse
    done = _leakaudit("scan", ".", "--format", "sarif", "-o", "out.sarif", "-q", cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    text = (tmp_path / "out.sarif").read_text()
    assert github_checks.problems_in_text(text) == []
    invocation = json.loads(text)["runs"][0]["invocations"][0]
    assert invocation["executionSuccessful"] is False
    said = [n["message"]["text"] for n in invocation["toolExecutionNotifications"]]
    assert said == ["huge.go: not analyzed: too large (22020096 bytes)"]


def _planted_repo(tmp_path: Path) -> tuple[Path, Path]:
    """A repository whose own config runs a program on fsmonitor, on a filter and on a
    diff driver: each, if run, leaves a marker file."""
    repo, marker = tmp_path / "repo", tmp_path / "ran"
    repo.mkdir()
    hook = tmp_path / "hook.sh"
    hook.write_text(f"#!/bin/sh\necho $0 >> {marker}\ncat\n")
    hook.chmod(0o755)
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "HOME": str(tmp_path)}

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)

    git("init", "-q")
    git("config", "user.email", "t@example.com")
    git("config", "user.name", "t")
    (repo / "main.go").write_text("package main\n\nfunc main() {}\n")
    git("add", ".")
    git("commit", "-q", "-m", "one")
    git("config", "core.fsmonitor", str(hook))
    git("config", "filter.evil.clean", str(hook))
    git("config", "diff.evil.textconv", str(hook))
    (repo / ".gitattributes").write_text("*.go filter=evil diff=evil\n")
    (repo / "main.go").write_text("package main\n\nfunc main() { println() }\n")
    return repo, marker


@pytest.mark.skipif(not shutil.which("git"), reason="needs git")
def test_git_runs_nothing_the_scanned_repository_configures(tmp_path: Path) -> None:
    """The markdown report's `git describe --dirty` and --new-from-rev's diff run with
    fsmonitor, filters and diff drivers off, and leave .git/index as it was."""
    from leakaudit import gitdiff
    from leakaudit.report.locations import git_describe

    repo, marker = _planted_repo(tmp_path)
    index = repo / ".git" / "index"
    before = index.stat().st_mtime_ns, index.read_bytes()
    assert git_describe(repo)  # a commit id, "-dirty"
    changes = gitdiff.changed_files(repo, "HEAD")
    assert "main.go" in changes
    assert not marker.exists(), marker.read_text()
    assert (index.stat().st_mtime_ns, index.read_bytes()) == before


LEAKY = 'package p\n\nimport "os"\n\nfunc F() { f, _ := os.Open("x"); _ = f }\n'


def test_a_file_name_cannot_forge_output_lines_or_links(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A newline in a name would forge a `path:line:col: rule: message` line; `](…)` would
    add a link to the markdown report. Text quotes such a name, markdown escapes it."""
    from leakaudit.report import markdown, text

    monkeypatch.chdir(tmp_path)  # text prints paths from the current directory
    forged = "a\nevil.go:1:1: fake-rule: forged"
    linked = "b](javascript:evil)"
    for name in (forged + ".go", linked + ".go"):
        (tmp_path / name).write_text(LEAKY)
    result, _ = scan_paths([str(tmp_path)], tmp_path)
    assert len(result.active) == 2
    out = text.render(result)
    assert not any(line.startswith("evil.go") for line in out.splitlines())
    assert '"a\\nevil.go:1:1: fake-rule: forged.go":5:' in out
    report = markdown.render(result)
    prose = re.sub(r"```go\n.*?```", "", report, flags=re.S)  # code blocks show no links
    assert "](javascript:evil)" not in prose
    assert "b\\]\\(javascript:evil\\).go" in prose


def test_sarif_uris_of_files_named_outside_the_scan_root(tmp_path: Path) -> None:
    """`../other/a.go` from a scan root inside a repository is `other/a.go` from the
    repository root; a file outside any repository gets a warning, not a `..` URI
    passed off as fine."""
    import json

    from leakaudit.report import sarif

    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "svc").mkdir()
    (repo / "other").mkdir()
    (repo / "other" / "a.go").write_text(LEAKY)
    result, _ = scan_paths([str(repo / "other" / "a.go")], repo / "svc")
    log = json.loads(sarif.render(result))
    [res] = log["runs"][0]["results"]
    uri = res["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert uri == "other/a.go"
    assert "toolExecutionNotifications" not in log["runs"][0]["invocations"][0]

    loose = tmp_path / "loose"
    (loose / "root").mkdir(parents=True)
    (loose / "b.go").write_text(LEAKY)
    result, _ = scan_paths([str(loose / "b.go")], loose / "root")
    log = json.loads(sarif.render(result))
    notes = log["runs"][0]["invocations"][0]["toolExecutionNotifications"]
    assert [n["descriptor"]["id"] for n in notes] == ["file-outside-root"]
    assert "../b.go" in notes[0]["message"]["text"]


def test_a_huge_sibling_does_not_fail_a_one_file_run(tmp_path: Path) -> None:
    """pre-commit names the changed file; its siblings are read for the package's facts
    only. One over the size limit is skipped quietly: the run fails on the leak in the
    named file (exit 1), not on the sibling (exit 2)."""
    from leakaudit import cli, reading

    (tmp_path / "a.go").write_text(LEAKY)
    with open(tmp_path / "huge.go", "wb") as f:
        f.truncate(reading.MAX_FILE_BYTES + 1)  # sparse: no disk used
    code = cli.main(["scan", str(tmp_path / "a.go"), "--no-cache"])
    assert code == 1
    code = cli.main(["scan", str(tmp_path), "--no-cache"])
    assert code == 2  # named as part of the scan, it still fails the run


@pytest.mark.skipif(sys.platform != "linux", reason="file names as raw bytes")
def test_a_file_name_that_is_not_utf8_in_every_report_and_the_baseline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A name with a byte that is not UTF-8: text quotes it Go-style, SARIF and markdown
    percent-encode its bytes in links, JSON and the baseline escape it, and a baseline
    written for it suppresses the finding when read back."""
    import json

    from leakaudit import cli
    from leakaudit.report import json_report, markdown, sarif, text

    monkeypatch.chdir(tmp_path)  # text prints paths from the current directory
    os.makedirs(tmp_path / "d")
    with open(os.path.join(os.fsencode(tmp_path / "d"), b"bad\xff.go"), "wb") as f:
        f.write(LEAKY.encode())
    result, _ = scan_paths([str(tmp_path / "d")], tmp_path)
    assert len(result.active) == 1
    assert text.render(result).startswith('"d/bad\\xff.go":5:')
    log = json.loads(sarif.render(result).encode("utf-8"))
    uri = log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]
    assert uri["uri"] == "d/bad%FF.go"
    assert "(d/bad%FF.go#L5)" in markdown.render(result).encode("utf-8").decode("utf-8")
    assert json.loads(json_report.render(result).encode("utf-8"))["findings"]
    baseline = tmp_path / "base.json"
    args = ["--no-cache"]
    assert (
        cli.main(["baseline", "write", str(tmp_path / "d"), "--output", str(baseline), *args]) == 0
    )
    assert cli.main(["scan", str(tmp_path / "d"), "--baseline", str(baseline), *args]) == 0


def test_an_unreadable_folder_and_a_looping_link_are_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A folder the walk cannot open, and a `loop.go -> loop.go` link, were dropped
    without a word and their leaks with them: each is a problem line (exit 2), a
    record in the JSON files and a SARIF notification."""
    import json

    from leakaudit import cli, discovery
    from leakaudit.report import sarif

    (tmp_path / "ok").mkdir()
    (tmp_path / "ok" / "a.go").write_text(LEAKY)
    (tmp_path / "locked").mkdir()
    (tmp_path / "locked" / "b.go").write_text(LEAKY)
    os.symlink("loop.go", tmp_path / "ok" / "loop.go")
    real = os.scandir

    def scandir(path):  # type: ignore[no-untyped-def]
        if str(path).endswith("locked"):
            raise PermissionError(13, "Permission denied")
        return real(path)

    monkeypatch.setattr(discovery.os, "scandir", scandir)
    result, problems = scan_paths([str(tmp_path)], tmp_path)
    assert "locked/: cannot read folder: Permission denied" in problems
    assert any(p.startswith("ok/loop.go: cannot read") for p in problems)
    statuses = {r.path: r.status for r in result.files}
    assert statuses["locked/"] == "unreadable" and statuses["ok/loop.go"] == "unreadable"
    notes = json.loads(sarif.render(result))["runs"][0]["invocations"][0]
    assert notes["executionSuccessful"] is False
    assert cli.main(["scan", str(tmp_path), "--no-cache"]) == 2


def _nested(n: int) -> str:
    return (
        'package p\n\nimport "os"\n\nfunc F(x int) {\n'
        + "".join(f"if x > {i} {{\n" for i in range(n))
        + 'f, _ := os.Open("x"); _ = f\n'
        + "}\n" * n
        + "}\n"
    )


def _stacked(n: int) -> str:
    return (
        'package p\n\nimport "os"\n\nfunc F() {\n'
        + "//leakaudit:ignore file-not-closed why\n" * n
        + 'f, _ := os.Open("x"); _ = f\n}\n'
    )


@pytest.mark.parametrize(
    ("make", "small"), [(_nested, 1500), (_stacked, 2000)], ids=["nested", "stacked"]
)
def test_deep_nesting_and_stacked_directives_scan_in_linear_time(
    tmp_path: Path,
    make,
    small: int,  # type: ignore[no-untyped-def]
) -> None:
    """Thousands of nested blocks (each `Node.parent` step walks down from the root) and
    thousands of stacked ignore comments took time in the square of their number: 4x
    the input cost 16x. Measured in process, the best of three, two sizes apart."""

    def scan_of(n: int) -> float:
        folder = tmp_path / f"n{n}"
        folder.mkdir(exist_ok=True)
        (folder / "a.go").write_text(make(n))
        return _seconds(scan_paths, [str(folder)], folder)

    little, big = scan_of(small), scan_of(4 * small)
    assert big < 8 * little, (little, big)  # linear: ~4x; quadratic: ~16x


@pytest.mark.parametrize(
    ("name", "content", "option", "message"),
    [
        (
            "deep.yaml",
            "a: " + "[" * 100_000 + "]" * 100_000,
            "--config",
            "invalid YAML: nested too deep",
        ),
        (
            "pyproject.toml",
            "[tool.leakaudit]\nx = " + "[" * 100_000 + "]" * 100_000,
            "--config",
            "invalid TOML: nested too deep",
        ),
        (
            "deep.json",
            '{"version": 1, "findings": ' + "[" * 100_000 + "]" * 100_000 + "}",
            "--baseline",
            "invalid JSON: nested too deep",
        ),
        (
            "huge.json",
            '{"version": 1, "findings": [{"rule": "r", "path": "a.go", "fingerprint": "f", '
            '"occurrence": 1e400}]}',
            "--baseline",
            "a whole number as occurrence",
        ),
    ],
    ids=["yaml", "toml", "json", "occurrence"],
)
def test_a_hostile_input_file_is_one_error_line_naming_it(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    name: str,
    content: str,
    option: str,
    message: str,
) -> None:
    from leakaudit import cli

    (tmp_path / "a.go").write_text("package p\n")
    (tmp_path / name).write_text(content)
    assert cli.main(["scan", str(tmp_path), option, str(tmp_path / name), "--no-cache"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and name in err[0] and message in err[0], err


def test_a_glob_with_a_nested_bracket_prints_no_python_warning(tmp_path: Path) -> None:
    (tmp_path / "a.go").write_text("package p\n")
    (tmp_path / ".leakaudit.yaml").write_text('exclude: ["[[x]"]\n')
    done = subprocess.run(
        [
            sys.executable,
            "-W",
            "error::FutureWarning",
            "-m",
            "leakaudit",
            "scan",
            str(tmp_path),
            "--no-cache",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "Warning" not in done.stderr


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_stdout_full_or_closed_is_one_error_line(tmp_path: Path) -> None:
    (tmp_path / "a.go").write_text(LEAKY)
    cmd = [sys.executable, "-m", "leakaudit", "scan", str(tmp_path), "--no-cache"]
    with open("/dev/full", "w") as full:
        done = subprocess.run(cmd, stdout=full, stderr=subprocess.PIPE, text=True, check=False)
    assert done.returncode == 2
    assert done.stderr.strip() == "leakaudit: error: standard output: No space left on device"
    closed = subprocess.run(
        [
            *cmd[:1],
            "-c",
            "import os, sys; os.close(1); from leakaudit import cli; "
            "sys.exit(cli.main(sys.argv[1:]))",
            *cmd[3:],
        ],
        stderr=subprocess.PIPE,
        text=True,
        check=False,
    )
    assert closed.returncode == 2, closed.stderr
    assert "internal error" not in closed.stderr


class _Planted:
    """Unpickled, it calls `os.system` (a pickle may name any callable); decoded as
    plain data it is bytes that fit no entry."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.system, (f"touch {self.marker}",))


def test_a_planted_cache_entry_runs_no_code(tmp_path: Path) -> None:
    """Anyone who can write a restored CI cache controls its bytes: every entry, rules
    and file facts included, replaced by a pickle that runs a command is a miss, and the
    scan's result is the same as without a cache."""
    import contextlib
    import pickle
    import sqlite3

    from leakaudit.cache import Cache

    repo, cache, marker = tmp_path / "repo", tmp_path / "cache", tmp_path / "ran"
    (repo / "lib").mkdir(parents=True)
    (repo / "go.mod").write_text("module example.com/m\n\ngo 1.22\n")
    (repo / "lib" / "lib.go").write_text(
        'package lib\n\nimport "os"\n\nfunc Open() *os.File { f, _ := os.Open("x"); return f }\n'
    )
    (repo / "main.go").write_text(
        'package main\n\nimport "example.com/m/lib"\n\nfunc main() { f := lib.Open(); _ = f }\n'
    )
    for path in repo.rglob("*"):  # older than a racy write: their file facts are kept
        os.utime(path, (time.time() - 60, time.time() - 60))
    args = ("scan", ".", "--format", "json", "--cache-dir", str(cache), "--jobs", "1")
    clean = _leakaudit("scan", ".", "--format", "json", "--no-cache", cwd=repo)
    assert _leakaudit(*args, cwd=repo).stdout == clean.stdout
    planted = pickle.dumps(_Planted(marker))
    with contextlib.closing(sqlite3.connect(Cache(cache).file)) as db, db:
        kinds = {kind for (kind,) in db.execute("SELECT kind FROM entries")}
        assert {"unit", "summary", "rules", "file-facts"} <= kinds
        db.execute("UPDATE entries SET value = ?", (planted,))
    for jobs in ("1", "2"):
        again = _leakaudit(*args[:-1], jobs, cwd=repo)
        assert again.returncode == clean.returncode, again.stderr
        assert again.stdout == clean.stdout
    assert not marker.exists()
