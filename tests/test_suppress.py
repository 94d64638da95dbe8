"""//leakaudit:ignore and //leakaudit:file-ignore, through the real command line.

Most directive cases are fixtures (fixtures/rules/unused-suppression, invalid-suppression);
these cover what a `// want` annotation cannot express: a directive without a reason (the
annotation would read as the reason), the JSON and summary output, and interplay with
disabled rules.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from leakaudit.cli import main

LEAK = """package p

import "os"

func read(path string) error {{
{before}	f, err := os.Open(path){trailing}
	if err != nil {{
		return err
	}}
	_, err = f.Stat()
	return err
}}
"""


def _write(tmp_path: Path, before: str = "", trailing: str = "") -> Path:
    (tmp_path / "p.go").write_text(LEAK.format(before=before, trailing=trailing))
    return tmp_path


def _json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict]:
    code = main(["scan", "--format", "json", "--quiet", *args])
    return code, json.loads(capsys.readouterr().out)


def test_reason_required(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _write(tmp_path, before="\t//leakaudit:ignore file-not-closed\n")
    monkeypatch.chdir(root)
    code = main(["scan", str(root)])
    out = capsys.readouterr().out
    assert code == 1
    # The directive suppresses nothing until it says why, and says so.
    assert "p.go:7:12: error: " in out and "(file-not-closed)" in out
    assert "p.go:6:2: warning: " in out and "(invalid-suppression)" in out
    assert "has no reason" in out


def test_suppressed_listed_in_json_and_counted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _write(tmp_path, trailing=" //leakaudit:ignore file-not-closed the caller exits")
    code, doc = _json(capsys, str(root))
    assert code == 0  # a suppressed finding does not fail the run
    assert doc["summary"]["findings"] == 0
    assert doc["summary"]["suppressed"] == 1
    (finding,) = doc["findings"]
    assert finding["rule_id"] == "file-not-closed"
    assert finding["suppressed"] is True
    assert finding["suppression_reason"] == "the caller exits"
    assert finding["extra"]["suppressed_by"] == "//leakaudit:ignore"

    code = main(["scan", str(root)])
    captured = capsys.readouterr()
    assert captured.out == ""  # text output lists active findings only
    assert "1 suppressed" in captured.err


def test_line_above_and_file_ignore(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _write(tmp_path, before="\t//leakaudit:ignore file-not-closed read-only, tiny\n")
    code, doc = _json(capsys, str(root))
    assert code == 0 and doc["summary"]["suppressed"] == 1

    text = LEAK.format(before="", trailing="")
    (tmp_path / "p.go").write_text("//leakaudit:file-ignore file-not-closed CLI tool\n\n" + text)
    code, doc = _json(capsys, str(root))
    assert code == 0 and doc["summary"]["suppressed"] == 1


def test_directive_for_disabled_rule_is_not_unused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _write(tmp_path, trailing=" //leakaudit:ignore file-not-closed caller closes")
    # The rule did not run, so the directive cannot be judged stale.
    code, doc = _json(capsys, "--disable", "file-not-closed", str(root))
    assert code == 0
    assert doc["findings"] == []


def test_unused_can_be_disabled(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _write(tmp_path, trailing=" //leakaudit:ignore sql-rows-not-closed wrong id")
    code, doc = _json(capsys, str(root))
    assert code == 1
    assert sorted(f["rule_id"] for f in doc["findings"]) == [
        "file-not-closed",
        "unused-suppression",
    ]
    _, doc = _json(capsys, "--disable", "unused-suppression", str(root))
    assert [f["rule_id"] for f in doc["findings"]] == ["file-not-closed"]


def test_marker_in_raw_string_is_not_a_directive(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Were the string's second line a comment, it would be the line above the leak.
    _write(tmp_path, before="\t_ = `\n//leakaudit:ignore file-not-closed in a string`\n")
    code, doc = _json(capsys, str(tmp_path))
    assert code == 1
    assert [f["rule_id"] for f in doc["findings"]] == ["file-not-closed"]
    assert doc["summary"]["suppressed"] == 0
