"""ticker-goroutine-never-exits: a goroutine that loops on a ticker's C and has no other
way out, while the ticker is stopped elsewhere.

`Ticker.Stop` does not close `C` (closing would make receivers see a zero time), so a
`for range t.C` or `for { <-t.C }` loop is not ended by Stop: it just waits forever.
"""

from __future__ import annotations

from leakaudit.checks.api import Interest, Package, Sink, location
from leakaudit.checks.goroutines.exits import endless_launches, ticker_stop
from leakaudit.findings import Related
from leakaudit.parsing.syntax import line_of, text
from leakaudit.ruleset.model import Rule


def interest(rule: Rule) -> Interest:
    """Only packages that launch goroutines."""
    return Interest(nodes=frozenset({"go_statement"}))


def run(pkg: Package, rule: Rule, sink: Sink) -> None:
    for launch, _, shape in endless_launches(pkg, rule):
        if not shape.tickers:
            continue
        stop = ticker_stop(pkg, launch)
        if stop is None:
            continue
        stop_file = next((f for f in pkg.files if _in_file(f.root, stop)), launch.owner.file)
        sink.report(
            rule,
            "stuck-after-stop",
            launch.owner.file,
            launch.stmt,
            launch.owner.name,
            (Related(location(stop_file, stop, first_line_only=True), "Stop does not close C"),),
            ticker=text(shape.tickers[0]),
            stop=text(stop),
            line=line_of(stop),
        )


def _in_file(root, node) -> bool:  # type: ignore[no-untyped-def]
    cur = node
    while cur.parent is not None:
        cur = cur.parent
    return cur.id == root.id
