"""The markdown audit report: a golden file on the demo service, parsed with markdown-it-py,
and the rules that keep it honest (status line, numbers, links)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import replace
from functools import lru_cache
from pathlib import Path

import pytest
from conftest import FIXTURES, scan_paths

from leakaudit import cli
from leakaudit.findings import Location, Severity
from leakaudit.report import json_report, markdown
from leakaudit.report.locations import repo_prefix
from leakaudit.result import GoroutineRecord, ScanResult

MarkdownIt = pytest.importorskip("markdown_it").MarkdownIt

REPO = Path(__file__).resolve().parent.parent
DEMO = FIXTURES / "demo-service"
GOLDEN = Path(__file__).resolve().parent / "golden" / "demo-service.md"
# Fixed so the golden file does not depend on the day, the git history or the checkout.
GOLDEN_OPTIONS = {
    "report_date": "2025-01-04",
    "report_version": "golden",
    "path_prefix": "fixtures/demo-service/",
}
SECTIONS = [
    "Resource Leak Audit Report",
    "Executive Summary",
    "Analysis Method",
    "Findings",
    "Good Patterns Found",
    "Common Leak Patterns",
    "Conclusion",
]


@lru_cache(maxsize=1)
def _demo() -> ScanResult:
    result, problems = scan_paths([str(DEMO)], DEMO)
    assert not problems
    return result


def _render(result: ScanResult | None = None, **options: object) -> str:
    return markdown.render(result or _demo(), **{**GOLDEN_OPTIONS, **options})


def _tokens(text: str):  # type: ignore[no-untyped-def]
    return MarkdownIt("commonmark").enable("table").parse(text)


def _headings(text: str) -> list[tuple[int, str]]:
    tokens = _tokens(text)
    return [
        (int(tok.tag[1]), tokens[i + 1].content)
        for i, tok in enumerate(tokens)
        if tok.type == "heading_open"
    ]


def _tables(text: str) -> list[list[list[str]]]:
    """Each table as rows of cell texts (header row first)."""
    tables: list[list[list[str]]] = []
    row: list[str] | None = None
    tokens = _tokens(text)
    for i, tok in enumerate(tokens):
        if tok.type == "table_open":
            tables.append([])
        elif tok.type == "tr_open":
            row = []
        elif tok.type in ("th_open", "td_open") and row is not None:
            row.append(tokens[i + 1].content)
        elif tok.type == "tr_close" and row is not None:
            tables[-1].append(row)
            row = None
    return tables


# ----------------------------------------------------------------- golden


def test_golden_report_on_demo_service() -> None:
    text = _render()
    if os.environ.get("LEAKAUDIT_UPDATE_GOLDEN"):
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(text, encoding="utf-8")
    assert GOLDEN.is_file(), "run with LEAKAUDIT_UPDATE_GOLDEN=1 to create the golden file"
    expected = GOLDEN.read_text(encoding="utf-8")
    assert text == expected, (
        "the report on fixtures/demo-service changed; review the difference and, if it is "
        "intended, regenerate: LEAKAUDIT_UPDATE_GOLDEN=1 python -m pytest tests/test_report.py"
    )


def test_golden_parses_with_the_expected_sections_and_tables() -> None:
    text = GOLDEN.read_text(encoding="utf-8")
    headings = _headings(text)
    titles = [t for _, t in headings]
    positions = [titles.index(s) for s in SECTIONS]
    assert positions == sorted(positions), titles
    assert headings[0] == (1, "Resource Leak Audit Report")
    assert all(level == 2 for level, t in headings if t in SECTIONS[1:])
    for sub in ("Scope", "Rules", "Limits of a static analysis", "Files Reviewed", "Goroutines"):
        assert sub in titles
    tables = _tables(text)
    assert len(tables) >= 4
    for table in tables:
        assert len(table) >= 2, table
        assert len({len(r) for r in table}) == 1, table  # every row as wide as the header
    headers = [t[0] for t in tables]
    assert ["Pattern", "Rules", "Sites checked", "Status"] in headers
    assert any("File" in h and "Acquisitions" in h for h in headers)


def test_links_resolve_from_the_repository_root() -> None:
    text = _render(path_prefix=None)  # detected from the work tree, as the CLI does
    prefix = repo_prefix(DEMO)
    root = (DEMO.resolve() / ("../" * prefix.count("/"))).resolve() if prefix else DEMO
    links = re.findall(r"\]\(([^)\s]+)\)", text)
    assert not [link for link in links if link.startswith("http")]  # no address invented
    local = links
    assert local
    headings = {line.lstrip("#").strip() for line in text.splitlines() if line.startswith("#")}
    for link in local:
        path, _, anchor = link.partition("#")
        if not path:  # a link within the report: to a heading of its own
            assert anchor in headings, link
            continue
        target = root / path
        assert target.is_file(), link
        if anchor:
            line = int(anchor.removeprefix("L"))
            assert 1 <= line <= len(target.read_text(encoding="utf-8").splitlines()), link


# ----------------------------------------------------------------- status and numbers


def _leaks(result: ScanResult) -> list:  # type: ignore[type-arg]
    diagnostics = {r.id for r in result.rules if r.check == "diagnostic"}
    return [f for f in result.active if f.rule_id not in diagnostics and f.severity.rank >= 2]


def test_status_line_counts_findings_at_warning_and_above() -> None:
    text = _render()
    leaks = _leaks(_demo())
    assert leaks
    errors = sum(1 for f in leaks if f.severity is Severity.ERROR)
    warnings = len(leaks) - errors
    status = next(line for line in text.splitlines() if line.startswith("**Status:**"))
    assert f"❌ **{len(leaks)} LEAKS FOUND**" in status
    assert f"{errors} errors" in status and f"{warnings} warning" in status
    assert "NO LEAKS" not in text


def test_clean_when_only_notes() -> None:
    result = _demo()
    diagnostics = {r.id for r in result.rules if r.check == "diagnostic"}
    notes = [replace(f, severity=Severity.NOTE) for f in result.findings]
    leak_notes = [f for f in notes if f.rule_id not in diagnostics]
    text = _render(replace(result, findings=notes))
    assert f"✅ **NO LEAKS DETECTED** ({len(leak_notes)} notes for review)" in text
    assert "❌" not in text.split("## Executive Summary")[0]
    assert "found **no leaks**" in text


def test_clean_repo(tmp_path: Path) -> None:
    (tmp_path / "go.mod").write_text("module example.com/clean\n\ngo 1.23\n")
    (tmp_path / "main.go").write_text(
        'package main\n\nimport "os"\n\nfunc main() {\n'
        '\tf, err := os.Open("x")\n\tif err != nil {\n\t\treturn\n\t}\n\tdefer f.Close()\n}\n'
    )
    result, _ = scan_paths([str(tmp_path)], tmp_path)
    text = markdown.render(result, report_date="2025-01-04", path_prefix="")
    assert "**Service:** example.com/clean" in text
    assert "✅ **NO LEAKS DETECTED**" in text
    assert "**Go version:** 1.23" in text
    assert "1 released by a deferred `Close()` (1 after the error check)" in text
    assert "recorded no `go` statements" in text
    assert "None of the" in text and "patterns found" in text


def test_summary_numbers_match_the_evidence() -> None:
    result = _demo()
    text = _render()
    summary = text.split("## Executive Summary")[1].split("##")[0]
    scanned = [f for f in result.files if f.status in ("scanned", "parse-error")]
    assert f"{len(scanned)} Go files ({sum(f.lines for f in scanned):,} lines" in summary
    assert f"**{len(_leaks(result))} leaks**" in summary
    sites = {(a.family, a.location) for a in result.acquisitions}
    assert f"Of {len(sites)} resource acquisitions" in summary
    conclusion = text.split("## Conclusion")[1]
    assert f"**{len(_leaks(result))} leaks**" in conclusion
    assert f"Of {len(sites)} tracked acquisitions" in conclusion


def test_finding_detail_marks_the_acquiring_line_and_the_leak() -> None:
    text = _render()
    finding = next(f for f in _demo().active if f.related)
    block = text.split(
        f"({GOLDEN_OPTIONS['path_prefix']}{finding.location.path}#L{finding.location.line})", 1
    )[1]
    block = block.split("\n#### ", 1)[0]
    assert f"// ← {finding.rule_id}" in block
    assert f"// ← {finding.related[0].message}" in block
    assert "**Leaking path:**" in block
    assert "**Fix:**" in block


def test_goroutine_inventory_by_class() -> None:
    def g(line: int, kind: str) -> GoroutineRecord:
        return GoroutineRecord(
            Location("cmd/server/main.go", line, 2, line, 9), "main", kind, "evidence " + kind
        )

    kinds = [
        "waitgroup",
        "errgroup",
        "stoppable",
        "server",
        "process-lifetime",
        "fire-and-forget",
        "fire-and-forget",
    ]
    result = replace(_demo(), goroutines=[g(10 + i, k) for i, k in enumerate(kinds)])
    text = _render(result)
    table = next(t for t in _tables(text) if t[0][0] == "Class")
    counts = {row[0]: row[1] for row in table[1:]}
    assert counts == {
        "joined": "2",
        "stoppable": "2",
        "process-lifetime": "1",
        "fire-and-forget": "2",
    }
    assert (
        "It inventoried 7 goroutines: 2 joined, 2 stoppable, 1 process-lifetime and "
        "2 fire-and-forget." in text
    )
    assert text.count("evidence fire-and-forget") == 2


def test_many_findings_get_a_table(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(markdown, "MAX_DETAILED", 2)
    text = _render()
    assert "### Further findings" in text
    assert text.count("\n#### ") == 2
    table = next(t for t in _tables(text) if t[0][:2] == ["#", "Rule"])
    assert len(table) - 1 == len(_demo().active) - 2


def test_suppressed_are_counted_apart() -> None:
    result = _demo()
    findings = [
        replace(result.findings[0], suppressed=True, suppression_reason="r"),
        *result.findings[1:],
    ]
    text = _render(replace(result, findings=findings))
    assert "1 finding suppressed by the project is not counted" in text
    assert "1 finding was suppressed by the project." in text
    assert f"**{len(_leaks(result)) - 1} leaks**" in text
    # A reviewer sees the waiver, with its reason, and the acquisitions still add up.
    (waivers,) = [t for t in _tables(text) if t[0] == ["Where", "Rule", "Severity", "Reason"]]
    first = result.findings[0]
    assert waivers[1][1:] == [f"`{first.rule_id}`", first.severity.value, "r"]
    assert "and 7 are not: 6 listed as findings, 1 suppressed by the project" in text


def test_every_unreleased_acquisition_is_accounted_for() -> None:
    """The summary's 'N are not' adds up: each is a finding, a note, suppressed, or
    not reported by its rule, and the report says how many of each."""
    text = _render()
    match = re.search(r"and (\d+) are not: ([^.]*)\.", text)
    assert match, "the summary does not account for the unreleased acquisitions"
    total = int(match[1])
    parts = re.findall(r"(\d+) (?:listed|reported|suppressed|not reported)", match[2])
    assert sum(int(n) for n in parts) == total
    audit = markdown._Audit.of(_demo(), None)
    assert sum(audit.unreleased().values()) == total


def test_nothing_to_check_is_not_a_clean_bill() -> None:
    """'Not found' only where the code had acquisitions of that kind to check."""
    (patterns,) = [t for t in _tables(_render()) if t[0][0] == "Pattern"]
    by_family = {row[0]: row[3] for row in patterns[1:]}
    assert by_family["Pipes"].startswith("— Nothing to check")
    assert by_family["Writers that must be finished"] == "✅ Not found"  # one bufio writer


# ----------------------------------------------------------------- header sources


def test_date_from_source_date_epoch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    text = markdown.render(_demo(), report_version="x", path_prefix="")
    assert "**Date:** 2023-11-14" in text


def test_version_from_git_describe(tmp_path: Path) -> None:
    if shutil.which("git") is None:
        pytest.skip("git not installed")
    shutil.copytree(DEMO, tmp_path / "svc")
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
    }

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=tmp_path, check=True, env=env, capture_output=True)

    git("init", "-q")
    git("add", ".")
    git("commit", "-q", "-m", "x")
    git("tag", "v1.2.3")
    result, _ = scan_paths([str(tmp_path / "svc")], tmp_path / "svc")
    text = markdown.render(result, report_date="2025-01-04")
    assert "**Version:** v1.2.3" in text
    assert "](svc/internal/" in text  # links from the repository root


def test_cli_options(tmp_path: Path) -> None:
    out = tmp_path / "LEAKS.md"
    code = cli.main(
        [
            "scan",
            str(DEMO),
            "-f",
            "markdown",
            "-o",
            str(out),
            "-q",
            "--title",
            "Orders",
            "--report-version",
            "9.9",
            "--report-date",
            "2024-02-29",
        ]
    )
    assert code == cli.EXIT_FINDINGS
    text = out.read_text(encoding="utf-8")
    assert text.startswith("# Resource Leak Audit Report\n")
    assert "**Service:** Orders" in text and "**Version:** 9.9" in text
    assert "**Date:** 2024-02-29" in text
    assert cli.main(["scan", str(DEMO), "-f", "markdown", "--report-date", "yesterday"]) == 2


# ----------------------------------------------------------------- json carries it all


def test_json_carries_what_the_report_uses() -> None:
    data = json.loads(json_report.render(_demo()))
    assert {
        "findings",
        "acquisitions",
        "goroutines",
        "files",
        "rules",
        "module",
        "go_version",
        "repo_prefix",
    } <= set(data)
    assert {"files_scanned", "lines_scanned", "packages_scanned", "skipped"} <= set(data["summary"])
    finding = next(f for f in data["findings"] if f["related"])
    assert finding["line_hash"] and finding["excerpt"] and finding["source_lines"]
    related_line = str(finding["related"][0]["location"]["line"])
    assert related_line in finding["source_lines"][finding["location"]["path"]]
    rule = data["rules"][0]
    assert {"family_title", "check", "ran", "help", "fix", "docs", "tags", "precision"} <= set(rule)


def test_references_to_findings_use_their_numbers() -> None:
    text = _render()
    headings = dict(re.findall(r"^#### (\d+)\. .*?\[([^\]]+)\]", text, flags=re.MULTILINE))
    assert headings and sorted(map(int, headings)) == list(range(1, len(headings) + 1))
    refs = re.findall(r"\[([^\]]+)\]\([^)]*\) \(finding (\d+)\)", text)
    for where, number in refs:
        assert headings[number] == where
    for number in re.findall(r"as for finding (\d+) above", text):
        assert number in headings


def test_code_fence_outlasts_backticks_in_the_code() -> None:
    out = markdown._Writer()
    out.code(["q := `SELECT 1`", "s := ```"])
    text = out.text()
    assert text.startswith("````go\n") and text.endswith("````\n")
    assert [t.type for t in _tokens(text)] == ["fence"]


def test_rules_show_the_severity_that_applied(tmp_path: Path) -> None:
    """On Go 1.23+ the timer rules relax to notes; the report's rule table says so, as
    the findings do, instead of the default."""
    (tmp_path / "go.mod").write_text("module example.com/t\n\ngo 1.23\n")
    (tmp_path / "t.go").write_text(
        'package t\n\nimport "time"\n\nfunc tick(stop <-chan struct{}) {\n'
        "\tt := time.NewTicker(time.Second)\n\t<-stop\n\t_ = t\n}\n"
    )
    result, _ = scan_paths([str(tmp_path)], tmp_path)
    assert {f.severity for f in result.active if f.rule_id == "ticker-not-stopped"} == {
        Severity.NOTE
    }
    rules = next(t for t in _tables(_render(result)) if t[0][:3] == ["Rule", "Family", "Severity"])
    row = next(r for r in rules if "ticker-not-stopped" in r[0])
    assert row[2] == "note"


def test_one_helper_leaking_in_many_places_is_one_entry(tmp_path: Path) -> None:
    """A helper handing out rows that three functions leak is one root cause: one entry
    listing its call sites, not three findings to fix one by one."""
    calls = "\n".join(
        f"func Use{n}(db *sql.DB) {{\n\trows, _ := query(db)\n\t_ = rows.Next()\n}}\n"
        for n in range(3)
    )
    (tmp_path / "s.go").write_text(
        'package s\n\nimport "database/sql"\n\n'
        "func query(db *sql.DB) (*sql.Rows, error) {\n"
        '\treturn db.Query("SELECT 1")\n}\n\n' + calls
    )
    result, _ = scan_paths([str(tmp_path)], tmp_path)
    leaks = [f for f in result.active if f.rule_id == "sql-rows-not-closed"]
    assert len(leaks) == 3
    text = _render(result)
    assert text.count("`sql-rows-not-closed` (error) in") == 1
    assert "**One root cause, 3 call sites:**" in text
    assert "**6 leaks**" in text  # still counted one by one (3 unclosed, 3 unchecked)


def test_link_base_makes_links_that_work_anywhere() -> None:
    base = "https://github.com/example/orders/blob/0123abc"
    text = _render(link_base=base)
    links = re.findall(r"\]\(([^)\s]+)\)", text)
    source = [link for link in links if not link.startswith("#")]
    assert source and all(link.startswith(base + "/") for link in source)
    assert any(re.search(r"\.go#L\d+$", link) for link in source)
