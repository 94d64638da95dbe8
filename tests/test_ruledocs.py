"""Rule docs are rendered from the YAML; the committed pages under docs/rules/ must match."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import bundled_rules

from leakaudit import cli, ruledocs

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs" / "rules"
REGENERATE = "leakaudit rules --format markdown --output-dir docs/rules"


def test_committed_rule_docs_are_current() -> None:
    stale = ruledocs.stale(bundled_rules().rules, DOCS)
    assert not stale, f"docs/rules is stale ({', '.join(stale)}): run `{REGENERATE}`"


@pytest.mark.parametrize("rule", bundled_rules().rules, ids=lambda r: r.id)
def test_rule_page(rule) -> None:  # type: ignore[no-untyped-def]
    page = ruledocs.render_rule(rule)
    assert page.startswith(ruledocs.GENERATED)
    assert f"\n# {rule.id}\n" in page
    assert rule.summary in page
    assert rule.help.strip() in page
    assert f"| Default severity | {rule.severity.value} |" in page
    for message in rule.messages.values():
        assert message in page
    if rule.check != "diagnostic":
        assert "**Fix:**" in rule.help or ruledocs.good_example(rule), (
            f"{rule.id}: the help needs a **Fix:** paragraph or a `// Good` example"
        )


def test_index_lists_every_rule() -> None:
    index = ruledocs.render_index(bundled_rules().rules)
    for rule in bundled_rules().rules:
        assert f"[{rule.id}]({rule.id}.md)" in index


def test_help_sections() -> None:
    rule = bundled_rules().by_id("sql-rows-not-closed")
    assert rule is not None
    assert ruledocs.fix(rule).startswith("close the rows with `defer`")
    assert "defer rows.Close()" in ruledocs.good_example(rule)
    assert "**" not in ruledocs.plain("**Fix:** do *this* [docs](u)")
    assert ruledocs.why(rule).startswith("A `*sql.Rows`")


def test_rules_markdown_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["rules", "--format", "markdown"]) == 0
    out = capsys.readouterr().out
    for rule in bundled_rules().rules:
        assert f"\n# {rule.id}\n" in out


def test_output_dir_writes_detects_and_removes_stale(tmp_path: Path) -> None:
    rules = bundled_rules().rules
    assert cli.main(["rules", "--format", "markdown", "--output-dir", str(tmp_path)]) == 0
    assert ruledocs.stale(rules, tmp_path) == []
    assert {p.name for p in tmp_path.glob("*.md")} == {f"{r.id}.md" for r in rules} | {
        ruledocs.INDEX
    }
    page = tmp_path / f"{rules[0].id}.md"
    page.write_text(page.read_text() + "edited\n")
    orphan = tmp_path / "gone-rule.md"
    orphan.write_text(ruledocs.GENERATED + "\n# gone-rule\n")
    handwritten = tmp_path / "notes.md"
    handwritten.write_text("# my notes\n")
    assert ruledocs.stale(rules, tmp_path) == [page.name, orphan.name]
    ruledocs.write(rules, tmp_path)
    assert ruledocs.stale(rules, tmp_path) == []
    assert not orphan.exists() and handwritten.exists()


def test_output_dir_needs_markdown() -> None:
    assert cli.main(["rules", "--output-dir", "x"]) == 2
