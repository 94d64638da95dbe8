"""Configuration files (`.leakaudit.yaml`, `[tool.leakaudit]`), through the command line:
every key has an effect, bad keys are errors with file and line, flags win."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from leakaudit.cli import main
from leakaudit.config import excluded

LEAKS = """package p

import (
	"context"
	"os"
	"time"
)

func read(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	_, err = f.Stat()
	return err
}

func wait(ctx context.Context) {
	ctx, _ = context.WithTimeout(ctx, time.Second)
	<-ctx.Done()
}
"""

TEST_LEAK = """package p

import "os"

func helper(path string) {
	f, _ := os.Open(path)
	_ = f.Name()
}
"""

CUSTOM_RULE = """family: custom
title: Custom
rules:
  - id: custom-file-created
    name: CustomFileCreated
    severity: warning
    check: obligation
    summary: A file from os.Create is never closed (team rule).
    reports: [not-released]
    messages:
      not-released: "{var} from {call} is not closed"
    acquire:
      - package: os
        calls: [Create]
        resource: 0
        error: 1
    release:
      methods: [Close]
    help: |
      Close what you create.
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "p.go").write_text(LEAKS)
    (tmp_path / "p_test.go").write_text(TEST_LEAK)
    gen = tmp_path / "internal" / "gen"
    gen.mkdir(parents=True)
    (gen / "gen.go").write_text(TEST_LEAK.replace("helper", "generated"))
    return tmp_path


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[dict], str]:
    code = main(["scan", "--format", "json", "--quiet", *args])
    captured = capsys.readouterr()
    doc = json.loads(captured.out) if captured.out else {"findings": []}
    found = [
        (f["location"]["path"], f["rule_id"], f["severity"])
        for f in doc["findings"]
        if not f["suppressed"]
    ]
    return code, sorted(found), captured.err


def _rules_of(found: list) -> set[str]:
    return {rule for _, rule, _ in found}


def test_without_configuration(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, found, _ = _run(capsys, str(project))
    assert code == 1
    assert {path for path, _, _ in found} == {"p.go", "p_test.go", "internal/gen/gen.go"}
    assert _rules_of(found) == {"file-not-closed", "context-cancel-discarded"}


YAML = """\
# team settings
disable:
  - context-cancel-discarded
severity:
  file-not-closed: warning
exclude: [internal/gen/**]
include-tests: false
go-version: "1.20"
fail-on: error
"""

TOML = """\
[project]
name = "svc"

[tool.leakaudit]
disable = ["context-cancel-discarded"]
exclude = ["internal/gen/**"]
include-tests = false
go-version = "1.20"
fail-on = "error"

[tool.leakaudit.severity]
file-not-closed = "warning"
"""


@pytest.mark.parametrize("name,text", [(".leakaudit.yaml", YAML), ("pyproject.toml", TOML)])
def test_every_key_applies(
    project: Path, capsys: pytest.CaptureFixture[str], name: str, text: str
) -> None:
    (project / name).write_text(text)
    code, found, _ = _run(capsys, str(project))
    # disable, severity, exclude and include-tests all shape the findings...
    assert found == [("p.go", "file-not-closed", "warning")]
    # ...and fail-on error makes a warning pass.
    assert code == 0
    # go-version reaches the result (and the rules relaxed by version).
    main(["scan", "--format", "json", "--quiet", str(project)])
    assert json.loads(capsys.readouterr().out)["go_version"] == "1.20"


def test_flags_override_the_file(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / ".leakaudit.yaml").write_text(YAML)
    code, found, _ = _run(
        capsys,
        "--enable",
        "context-cancel-discarded",
        "--include-tests",
        "--fail-on",
        "note",
        "--go-version",
        "1.23",
        str(project),
    )
    # --enable replaces the file's rule selection (and re-enables what it disabled);
    # --include-tests brings the test file back; --fail-on note fails on anything.
    assert _rules_of(found) == {"context-cancel-discarded"}
    assert code == 1
    main(["scan", "--format", "json", "--quiet", "--go-version", "1.23", str(project)])
    assert json.loads(capsys.readouterr().out)["go_version"] == "1.23"

    code, found, _ = _run(capsys, "--no-include-tests", "--exclude", "p.go", str(project))
    assert found == []  # p.go excluded on the command line, gen excluded by the file


def test_enable_keeps_engine_diagnostics(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / ".leakaudit.yaml").write_text("enable: [context-cancel-discarded]\n")
    (project / "broken.go").write_text("package p\n\nfunc broken( {\n")
    code, found, _ = _run(capsys, str(project))
    assert _rules_of(found) == {"context-cancel-discarded", "parse-error"}
    assert code == 1


SIGNALS = """package p

import (
	"os"
	"os/signal"
)

func waitOnce(done <-chan struct{}) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt)
	select {
	case <-ch:
	case <-done:
	}
}
"""


@pytest.mark.parametrize(
    ("config", "args", "on"),
    [
        ("", (), False),  # opt-in: off by default
        ("", ("--extend-enable", "signal-not-stopped"), True),
        ("extend-enable: [signal-not-stopped]\n", (), True),
        ("enable: [signal-not-stopped]\n", (), True),
        ("extend-enable: [signal-not-stopped]\n", ("--disable", "signal-not-stopped"), False),
    ],
)
def test_an_opt_in_rule_runs_only_when_named(
    project: Path, capsys: pytest.CaptureFixture[str], config: str, args: tuple[str, ...], on: bool
) -> None:
    (project / "s.go").write_text(SIGNALS)
    if config:
        (project / ".leakaudit.yaml").write_text(config)
    _, found, _ = _run(capsys, str(project), *args)
    assert ("signal-not-stopped" in _rules_of(found)) == on
    if "extend-enable" in config or "--extend-enable" in args:
        assert "file-not-closed" in _rules_of(found)  # the others still run


def test_rule_dirs(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules = project / "lint" / "rules"
    rules.mkdir(parents=True)
    (rules / "custom.yaml").write_text(CUSTOM_RULE)
    (project / "w.go").write_text(
        'package p\n\nimport "os"\n\nfunc w() {\n\tf, _ := os.Create("x")\n\t_ = f.Name()\n}\n'
    )
    (project / ".leakaudit.yaml").write_text(
        "rule-dirs: [lint/rules]\nenable: [custom-file-created]\n"
    )
    code, found, _ = _run(capsys, str(project))
    assert found == [("w.go", "custom-file-created", "warning")]
    assert code == 1


@pytest.mark.parametrize(
    "name,text,line,needle",
    [
        (".leakaudit.yaml", "disable: []\nexlcude: [gen/**]\n", 2, "unknown key 'exlcude'"),
        (".leakaudit.yaml", "fail-on: critical\n", 1, "fail-on must be one of"),
        (".leakaudit.yaml", "severity:\n  file-not-closed: fatal\n", 2, "must be one of"),
        (".leakaudit.yaml", "disable:\n  - file-not-closed\n  - no-such-rule\n", 3, "unknown rule"),
        (".leakaudit.yaml", "include-tests: maybe\n", 1, "must be true or false"),
        (".leakaudit.yaml", "exclude: gen/**\n", 1, "must be a list of strings"),
        (".leakaudit.yaml", "- a\n", 1, "expected a mapping"),
        (".leakaudit.yaml", "disable: [\n", 2, "invalid YAML"),
        (
            "pyproject.toml",
            '[project]\nname = "x"\n\n[tool.leakaudit]\nfail-on = "error"\ninclude_tests = false\n',
            6,
            "unknown key 'include_tests' in [tool.leakaudit]",
        ),
        (
            "pyproject.toml",
            '[tool.leakaudit]\nexclude = ["a"]\n\n[tool.leakaudit.severity]\nnot-a-rule = "note"\n',
            5,
            "unknown rule id 'not-a-rule' in severity",
        ),
        ("pyproject.toml", "[tool.leakaudit]\ngo-version = 1.20\n", 2, 'like "1.22"'),
        ("pyproject.toml", "[tool.leakaudit]\nfail-on = \n", 2, "invalid TOML"),
    ],
)
def test_errors_name_file_and_line(
    project: Path,
    capsys: pytest.CaptureFixture[str],
    name: str,
    text: str,
    line: int,
    needle: str,
) -> None:
    (project / name).write_text(text)
    assert main(["scan", str(project)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    err = captured.err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith(f"leakaudit: error: {project / name}:{line}: "), err[0]
    assert needle in err[0]


def test_two_configurations_is_an_error(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / ".leakaudit.yaml").write_text("fail-on: error\n")
    (project / "pyproject.toml").write_text('[tool.leakaudit]\nfail-on = "note"\n')
    assert main(["scan", str(project)]) == 2
    assert "keep one" in capsys.readouterr().err


def test_pyproject_without_our_table_is_ignored(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "pyproject.toml").write_text("[tool.ruff]\nline-length = 100\n# leakaudit\n")
    code, found, _ = _run(capsys, str(project))
    assert code == 1 and len(found) == 4


def test_explicit_config_and_cwd_root(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Files passed by name (pre-commit) use the configuration of the current directory;
    --config points anywhere."""
    (project / ".leakaudit.yaml").write_text("disable: [file-not-closed]\n")
    monkeypatch.chdir(project)
    code, found, _ = _run(capsys, "p.go", "p_test.go")
    assert _rules_of(found) == {"context-cancel-discarded"}
    other = project / "ci.yaml"
    other.write_text("disable: [context-cancel-discarded]\n")
    code, found, _ = _run(capsys, "--config", str(other), "p.go")
    assert code == 1 and _rules_of(found) == {"file-not-closed"}


@pytest.mark.parametrize(
    "path,patterns,expected",
    [
        ("internal/gen/x.go", ["internal/gen/**"], True),
        ("internal/gen/x.go", ["internal/gen"], True),
        ("internal/gen/x.go", ["gen"], True),
        ("internal/general/x.go", ["gen"], False),
        ("a/b/mock_x.go", ["mock_*.go"], True),
        ("a/b/x_mock.go", ["**/b/*_mock.go"], True),
        ("a/b/x_mock.go", ["b/*_mock.go"], False),  # anchored at the root
        ("x.pb.go", ["*.pb.go"], True),
        ("x.go", ["./x.go"], True),
        ("x.go", ["x.g[o]"], True),
        ("x.go", ["y.go", ""], False),
    ],
)
def test_exclude_globs(path: str, patterns: list[str], expected: bool) -> None:
    assert excluded(path, patterns) is expected


def test_found_walking_up_to_the_repository_root(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A scan of a subfolder uses the configuration at the repository root, as
    golangci-lint finds its own; anchored exclude globs are read from that root."""
    (project / ".git").mkdir()
    (project / ".leakaudit.yaml").write_text(
        "disable: [context-cancel-discarded]\nexclude: [internal/gen/**]\n"
    )
    (project / "internal" / "other.go").write_text(TEST_LEAK.replace("helper", "other"))
    code, found, _ = _run(capsys, str(project / "internal"))
    assert code == 1
    assert found == [("other.go", "file-not-closed", "error")]  # gen/ excluded from there
    monkeypatch.chdir(project / "internal")
    assert main(["scan", "-v", "-q", "."]) == 1
    err = capsys.readouterr().err
    assert f"leakaudit: configuration: {project / '.leakaudit.yaml'}" in err
    assert "leakaudit: baseline: none" in err
    assert "leakaudit: Go version: unknown" in err


def test_the_walk_stops_at_the_repository_root(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / ".leakaudit.yaml").write_text("disable: [file-not-closed]\n")
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "p.go").write_text(TEST_LEAK)
    code, found, _ = _run(capsys, str(repo))
    assert code == 1
    assert found == [("p.go", "file-not-closed", "error")]  # the outer file is not read
