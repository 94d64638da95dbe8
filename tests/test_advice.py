"""The fix a message suggests is right for the site: never a `defer` inside a loop, "after
the error check" only where there is one, `t.Cleanup` in a test helper."""

from __future__ import annotations

from pathlib import Path

from conftest import scan_paths

CODE = """package p

import (
	"os"
	"testing"
	"time"
)

func checked(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	_, err = f.Stat()
	return err
}

func unchecked(path string) string {
	f, err := os.Open(path)
	name := f.Name()
	if err != nil {
		return ""
	}
	return name
}

func each(paths []string) error {
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		if _, err := f.Stat(); err != nil {
			return err
		}
		f.Close()
	}
	return nil
}

func ticking(stop <-chan struct{}) int {
	t := time.NewTicker(time.Second)
	n := 0
	for {
		select {
		case <-t.C:
			n++
		case <-stop:
			return n
		}
	}
}
"""

HELPER = """package p

import (
	"os"
	"testing"
)

func openFixture(t *testing.T, path string) string {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	return f.Name()
}
"""


def _advice(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "go.mod").write_text("module example.com/p\n\ngo 1.22\n")
    (tmp_path / "p.go").write_text(CODE.replace('\t"testing"\n', ""))
    (tmp_path / "p_test.go").write_text(HELPER)
    result, _ = scan_paths([str(tmp_path)], tmp_path)
    return {f.function: f.message.split("; ", 1)[1] for f in result.active if "; " in f.message}


def test_advice_fits_the_site(tmp_path: Path) -> None:
    advice = _advice(tmp_path)
    assert advice["checked"] == "add `defer f.Close()` after the error check"
    assert advice["unchecked"] == "check `err`, then `defer f.Close()`"
    assert advice["each"].startswith("call `f.Close()` on every path of the loop body")
    assert "defer f.Close()`" not in advice["each"]
    assert advice["ticking"] == "add `defer t.Stop()` right after the call"
    assert advice["openFixture"] == "register `t.Cleanup(func() { f.Close() })` after it"


def test_the_fix_in_a_test_helper_is_a_cleanup(tmp_path: Path) -> None:
    """What a helper creates serves the test after the helper returns (the server behind
    the URL): the fix registers its release with the test instead of deferring it."""
    advice = _advice(tmp_path)
    assert advice["openFixture"].startswith("register `t.Cleanup(")
    result, _ = scan_paths([str(tmp_path)], tmp_path)
    (fix,) = [f for f in result.active if f.function == "openFixture"]
    assert [e.text for e in fix.fix] == ["\tt.Cleanup(func() { f.Close() })\n"]


def test_messages_are_short() -> None:
    """A message says what leaks, where, and the fix in about 160 characters; why it
    matters is in `leakaudit explain RULE-ID`. The words of each template (its
    placeholders aside) stay under 130 characters."""
    import re

    from leakaudit.ruleset.loader import load_rules

    for rule in load_rules([]).rules:
        for kind, template in rule.messages.items():
            words = re.sub(r"\{[a-z_]+\}", "", template)
            assert len(words) <= 130, (rule.id, kind, len(words))


def test_a_pipe_read_by_a_goroutine_is_a_goroutine_leak() -> None:
    """pipe-writer-not-closed is a warning, but where this function's own goroutine reads
    the other end, that goroutine blocks for good: an error, naming the reader."""
    from conftest import FIXTURES

    folder = FIXTURES / "rules" / "pipe-writer-not-closed"
    result, _ = scan_paths([str(folder)], folder)
    by_line = {(f.location.path, f.location.line): f for f in result.active}
    reader = by_line[("pipe.go", 40)]
    assert reader.severity.value == "error"
    assert "the goroutine reading r (line 41) leaks" in reader.message
    assert [r.location.line for r in reader.related][-1] == 41
    other = by_line[("pipe.go", 12)]
    assert other.severity.value == "warning"
