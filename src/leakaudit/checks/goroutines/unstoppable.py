"""goroutine-unstoppable: a goroutine whose body can never finish.

The launched body (a literal, or a function or method of this package) has no path to
its end: an endless `for` with no `return`, no `break` out of the loop, no call that
ends the goroutine, and no range over a channel that can run out. A body that watches
a `Done()` channel is left alone even if it only logs there: it was meant to stop.

Process-lifetime launches are exempt (`main`, `init`, what only they call, package
initialization, `sync.Once.Do`). Ticker loops whose ticker is stopped elsewhere are
left to the more specific ticker rule when `leave-stopped-tickers` is set.

This check also records the goroutine inventory (one record per launch) for reports.
"""

from __future__ import annotations

from leakaudit.checks.api import Interest, Package, Sink
from leakaudit.checks.goroutines import inventory
from leakaudit.checks.goroutines.exits import endless_launches, ticker_stop
from leakaudit.ruleset.model import Rule


def interest(rule: Rule) -> Interest:
    """Only packages that launch goroutines: go statements, and the errgroup/WaitGroup
    Go calls the inventory records."""
    return Interest(calls=frozenset({"Go", "TryGo"}), nodes=frozenset({"go_statement"}))


def run(pkg: Package, rule: Rule, sink: Sink) -> None:
    if sink.inventory:
        sink.goroutines.extend(inventory.records(pkg))
    for launch, target, _ in endless_launches(pkg, rule):
        if rule.options.get("leave-stopped-tickers") and ticker_stop(pkg, launch) is not None:
            continue
        what = "function literal" if target.is_literal else target.name
        sink.report(
            rule,
            "endless",
            launch.owner.file,
            launch.stmt,
            launch.owner.name,
            target=what,
        )
